"""Series use cases: list and show series, their forecasts and their safety stock."""

from __future__ import annotations

import datetime as dt
import enum
import functools
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased

from app.services.errors import NotFound, ServiceError
from app.store.db import Database
from app.store.models import Forecast, ForecastRun, RunStatus, SafetyStock, Series, Workspace

# The safety stock shown first: cross-validation errors are measured out of
# sample; the quantile method is there for every series and is the fallback.
PREFERRED_METHODS = ("cv_sigma", "forecast_quantile")


class RunNotComplete(ServiceError):
    """The run has not (or not successfully) completed, so it has no results to show."""


def organisation_workspace_ids(database: Database, organisation_id: int) -> frozenset[int]:
    """The ids of the organisation's workspaces, to keep a caller within its own data."""
    with database.session() as session:
        return frozenset(
            session.scalars(
                select(Workspace.id).where(Workspace.organisation_id == organisation_id)
            )
        )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def series_view(series: Series) -> dict[str, Any]:
    """A series as the API and the desktop app show it."""
    changed = _iso(series.trend_changed_at)
    return {
        "id": series.id,
        "workspace_id": series.workspace_id,
        "sku": series.sku,
        "location": series.location,
        "product_name": series.product_name,
        "demand_class": series.demand_class,
        "trend": series.trend,
        "trend_changed_at": changed,
        # Unique per change, for automations that should fire on every change of a series.
        "trend_change_id": f"{series.id}@{changed}" if changed else None,
        "service_level": series.service_level,
        "lead_time_days": series.lead_time_days,
        "last_run_id": series.last_run_id,
    }


def _in_organisation(query: Select[Any], column: Any, organisation_id: int | None) -> Select[Any]:
    if organisation_id is None:
        return query
    return query.where(
        column.in_(select(Workspace.id).where(Workspace.organisation_id == organisation_id))
    )


def list_series(
    database: Database,
    *,
    organisation_id: int | None = None,
    trend_changed_since: dt.datetime | None = None,
    sku: str | None = None,
    location: str | None = None,
    limit: int = 50,
    after: tuple[Any, ...] | None = None,
) -> list[dict[str, Any]]:
    """Series newest first, or by latest trend change when ``trend_changed_since`` is given.

    ``after`` is the :func:`series_key` of the last series of the previous page.
    """
    query = _in_organisation(select(Series), Series.workspace_id, organisation_id)
    if sku is not None:
        query = query.where(Series.sku == sku)
    if location is not None:
        query = query.where(Series.location == location)
    if trend_changed_since is not None:
        query = query.where(Series.trend_changed_at > trend_changed_since).order_by(
            Series.trend_changed_at.desc(), Series.id.desc()
        )
        if after is not None:
            changed_at, series_id = after
            query = query.where(
                or_(
                    Series.trend_changed_at < changed_at,
                    and_(Series.trend_changed_at == changed_at, Series.id < series_id),
                )
            )
    else:
        query = query.order_by(Series.id.desc())
        if after is not None:
            query = query.where(Series.id < after[0])
    with database.session() as session:
        return [series_view(item) for item in session.scalars(query.limit(limit))]


def series_key(item: dict[str, Any], by_trend_change: bool) -> tuple[Any, ...]:
    """Where a page that ended with ``item`` continues (see ``after`` of :func:`list_series`)."""
    if by_trend_change:
        return (dt.datetime.fromisoformat(item["trend_changed_at"]), item["id"])
    return (item["id"],)


def _series(session: Session, series_id: int, organisation_id: int | None) -> Series:
    series = session.scalars(
        _in_organisation(
            select(Series).where(Series.id == series_id), Series.workspace_id, organisation_id
        )
    ).first()
    if series is None:
        raise NotFound(f"No series with id {series_id}.")
    return series


def get_series(
    database: Database, series_id: int, *, organisation_id: int | None = None
) -> dict[str, Any]:
    with database.session() as session:
        return series_view(_series(session, series_id, organisation_id))


def _complete_run(session: Session, run_id: int, workspace_id: int) -> ForecastRun:
    run = session.get(ForecastRun, run_id)
    if run is None or run.workspace_id != workspace_id:
        raise NotFound(f"No forecast run with id {run_id} for this series' workspace.")
    if run.status is not RunStatus.COMPLETE:
        raise RunNotComplete(
            f"Forecast run {run_id} is {run.status.value}; its results exist once it is complete."
        )
    return run


def series_forecast(
    database: Database,
    series_id: int,
    *,
    run_id: int | None = None,
    organisation_id: int | None = None,
) -> dict[str, Any]:
    """The series' forecast from ``run_id``, or from the latest complete run that has one.

    Raises:
        NotFound: no such series or run, or the run did not forecast this series.
        RunNotComplete: ``run_id`` names a run that is queued, running or failed.
    """
    # Automation tools call this in bursts: one prepared statement answers the
    # usual case; only when it finds nothing do the slower look-ups say why.
    query = _forecast_query(run_id is not None, organisation_id is not None)
    params = {"series_id": series_id, "run_id": run_id, "organisation_id": organisation_id}
    rows = query.rows(database, params)
    if rows:
        return _forecast_view(series_id, rows)
    with database.session() as session:
        series = _series(session, series_id, organisation_id)
        if run_id is None:
            raise NotFound(f"Series {series_id} has no forecast yet: no run has completed.")
        run = _complete_run(session, run_id, series.workspace_id)
        raise NotFound(f"Forecast run {run.id} did not forecast series {series_id}.")


class _DriverQuery:
    """A statement compiled once per dialect and run on the driver's own cursor.

    On a hot read SQLAlchemy's execution layer costs several times the query
    itself; this keeps SQLAlchemy for writing the SQL and skips it for running
    it. Values come back as the driver returns them: SQLite gives dates as text.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[Compiled, str]] = {}

    def rows(self, database: Database, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        engine = database.engine
        dialect = engine.dialect
        if dialect.name not in self._compiled:
            compiled = self.statement.compile(dialect=dialect)
            self._compiled[dialect.name] = (compiled, str(compiled))
        compiled, sql = self._compiled[dialect.name]
        # No bind processors run here: enum members go in as their plain values.
        values = {
            name: value.value if isinstance(value, enum.Enum) else value
            for name, value in compiled.construct_params(params).items()
        }
        args: Any = (
            [values[name] for name in compiled.positiontup or ()] if compiled.positional else values
        )
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
            finally:
                cursor.close()
        except dialect.loaded_dbapi.Error as exc:
            # Raised as SQLAlchemy would, so that callers handle it like any store error.
            raise DBAPIError.instance(sql, args, exc, dialect.loaded_dbapi.Error) from exc
        finally:
            connection.close()


def _as_date_text(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


@functools.cache
def _forecast_query(by_run: bool, in_organisation: bool) -> _DriverQuery:
    """Forecast rows of one series and run, with the series' and the run's columns."""
    if by_run:
        run_id: Any = bindparam("run_id")
    else:
        # Aliased, so that the subquery is not correlated with the outer query's tables.
        forecast, run = aliased(Forecast), aliased(ForecastRun)
        run_id = (
            select(forecast.run_id)
            .join(run, run.id == forecast.run_id)
            .where(forecast.series_id == bindparam("series_id"), run.status == RunStatus.COMPLETE)
            .order_by(run.completed_at.desc(), run.id.desc())
            .limit(1)
            .scalar_subquery()
        )
    query = (
        select(
            Series.sku,
            Series.location,
            ForecastRun.id.label("run_id"),
            ForecastRun.frequency,
            ForecastRun.completed_at,
            Forecast.period_start,
            Forecast.yhat,
            Forecast.lo80,
            Forecast.hi80,
            Forecast.lo95,
            Forecast.hi95,
            Forecast.model,
        )
        .select_from(Forecast)
        .join(Series, Series.id == Forecast.series_id)
        .join(ForecastRun, ForecastRun.id == Forecast.run_id)
        .where(
            Forecast.series_id == bindparam("series_id"),
            Forecast.run_id == run_id,
            ForecastRun.status == RunStatus.COMPLETE,
            ForecastRun.workspace_id == Series.workspace_id,
        )
        .order_by(Forecast.period_start)
    )
    if in_organisation:
        query = query.where(
            Series.workspace_id.in_(
                select(Workspace.id).where(
                    Workspace.organisation_id == bindparam("organisation_id")
                )
            )
        )
    return _DriverQuery(query)


def _forecast_view(series_id: int, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    sku, location, run_id, frequency, completed_at, *_, model = rows[0]
    return {
        "series_id": series_id,
        "run_id": run_id,
        "sku": sku,
        "location": location,
        "frequency": frequency,
        "model": model,
        "generated_at": _iso(_as_utc(completed_at)),
        "periods": [
            {
                "period_start": _as_date_text(period),
                "point": yhat,
                "lo80": lo80,
                "hi80": hi80,
                "lo95": lo95,
                "hi95": hi95,
            }
            for *_, period, yhat, lo80, hi80, lo95, hi95, _model in rows
        ],
    }


def results_generation(database: Database) -> tuple[Any, ...]:
    """A value that changes whenever a forecast run completes (or a complete one goes away).

    Readers that keep rendered results compare it to know when to drop them.
    """
    return tuple(_GENERATION.rows(database, {})[0])


_GENERATION = _DriverQuery(
    select(func.count(), func.max(ForecastRun.id), func.max(ForecastRun.completed_at)).where(
        ForecastRun.status == RunStatus.COMPLETE
    )
)


def _stock_view(stock: SafetyStock) -> dict[str, Any]:
    return {
        "method": stock.method,
        "safety_stock": stock.safety_stock,
        "reorder_point": stock.reorder_point,
        "lead_time_demand": stock.lead_time_demand,
        "service_level": stock.service_level,
        "lead_time_periods": stock.lead_time_periods,
        "lead_time_days": stock.inputs.get("lead_time_days"),
        "inputs": stock.inputs,
    }


def _method_rank(method: str) -> int:
    return (
        PREFERRED_METHODS.index(method) if method in PREFERRED_METHODS else len(PREFERRED_METHODS)
    )


def safety_stock(
    database: Database,
    run_id: int,
    series_id: int,
    *,
    organisation_id: int | None = None,
) -> dict[str, Any]:
    """The run's safety stock and reorder point for one series, with the other methods' figures.

    Raises:
        NotFound: no such series or run, or the run did not cover this series.
        RunNotComplete: the run is queued, running or failed.
    """
    with database.session() as session:
        series = _series(session, series_id, organisation_id)
        run = _complete_run(session, run_id, series.workspace_id)
        stocks = sorted(
            session.scalars(
                select(SafetyStock).where(
                    SafetyStock.run_id == run.id, SafetyStock.series_id == series_id
                )
            ),
            key=lambda stock: (_method_rank(stock.method), stock.method),
        )
        if not stocks:
            raise NotFound(f"Forecast run {run.id} has no safety stock for series {series_id}.")
        return {
            "run_id": run.id,
            "series_id": series.id,
            "sku": series.sku,
            "location": series.location,
            "frequency": run.frequency,
            **_stock_view(stocks[0]),
            "alternatives": [_stock_view(stock) for stock in stocks[1:]],
        }
