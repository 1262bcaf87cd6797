"""Writing a run's results: forecasts, safety stock, trends and alerts, in one transaction."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.forecasting import (
    FrameForecast,
    from_cv_errors,
    from_forecast_quantiles,
    lead_time_sigma,
)
from app.runs import alerts as alert_rules
from app.store.models import (
    Alert,
    Forecast,
    ForecastRun,
    RunStatus,
    SafetyStock,
    Series,
    TrendHistory,
)
from app.store.types import utcnow

if TYPE_CHECKING:
    from app.runs.execute import RunContext


def persist(session: Session, context: RunContext, parts: list[FrameForecast]) -> None:
    """Store everything the run produced and mark it complete, in ``session``'s transaction."""
    forecasts = pd.concat([part.forecasts for part in parts], ignore_index=True)
    forecasts["series_id"] = forecasts["unique_id"].astype(int)
    series_table = pd.concat([part.series for part in parts])
    cv_sigma = pd.concat([part.cv_sigma for part in parts])
    now = utcnow()
    previous = _previous_forecasts(session, context)

    session.execute(insert(Forecast.__table__), _forecast_rows(context.run_id, forecasts))
    session.execute(insert(SafetyStock.__table__), _safety_stock_rows(context, forecasts, cv_sigma))
    _store_trends(session, context.run_id, series_table, now)
    _store_alerts(session, context, forecasts, previous)
    session.execute(
        update(ForecastRun)
        .where(ForecastRun.id == context.run_id)
        .values(
            status=RunStatus.COMPLETE,
            completed_at=now,
            series_done=len(series_table),
            series_total=len(series_table),
            error=None,
        )
    )


def _forecast_rows(run_id: int, forecasts: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run_id,
            "series_id": int(row.series_id),
            "period_start": pd.Timestamp(row.ds).date(),
            "yhat": float(row.yhat),
            "lo80": float(row.lo80),
            "hi80": float(row.hi80),
            "lo95": float(row.lo95),
            "hi95": float(row.hi95),
            "model": str(row.model),
        }
        for row in forecasts.itertuples(index=False)
    ]


def _safety_stock_rows(
    context: RunContext, forecasts: pd.DataFrame, cv_sigma: pd.DataFrame
) -> list[dict[str, Any]]:
    """Both methods per series; the CV one only where cross-validation was possible."""
    rows = []
    for series_id, group in forecasts.groupby("series_id", sort=False):
        policy = context.policies[int(series_id)]
        yhat = group["yhat"].to_numpy()
        try:
            sigma = lead_time_sigma(
                cv_sigma.loc[str(series_id)].to_numpy(), policy.lead_time_periods
            )
        except ValueError:
            # A history too short for cross-validation: the forecast's quantiles only.
            sigma = math.nan
        methods = []
        if math.isfinite(sigma):
            methods.append(
                from_cv_errors(yhat, sigma, policy.lead_time_periods, policy.service_level)
            )
        methods.append(
            from_forecast_quantiles(
                yhat,
                group["hi80"].to_numpy(),
                group["hi95"].to_numpy(),
                policy.lead_time_periods,
                policy.service_level,
            )
        )
        rows.extend(
            {
                "run_id": context.run_id,
                "series_id": int(series_id),
                "method": stock.method,
                "service_level": stock.service_level,
                "lead_time_periods": stock.lead_time_periods,
                "safety_stock": stock.safety_stock,
                "lead_time_demand": stock.lead_time_demand,
                "reorder_point": stock.reorder_point,
                "inputs": {
                    **stock.inputs,
                    "lead_time_days": policy.lead_time_days,
                    "frequency": context.frequency.value,
                },
            }
            for stock in methods
        )
    return rows


def _previous_forecasts(session: Session, context: RunContext) -> pd.DataFrame:
    """The forecasts of the workspace's latest complete run before this one."""
    previous = session.scalar(
        select(ForecastRun.id)
        .where(
            ForecastRun.workspace_id == context.workspace_id,
            ForecastRun.status == RunStatus.COMPLETE,
            ForecastRun.id != context.run_id,
        )
        .order_by(ForecastRun.completed_at.desc(), ForecastRun.id.desc())
        .limit(1)
    )
    columns = ["series_id", "ds", "yhat", "lo95", "hi95"]
    if previous is None:
        return pd.DataFrame(columns=columns)
    rows = session.execute(
        select(
            Forecast.series_id, Forecast.period_start, Forecast.yhat, Forecast.lo95, Forecast.hi95
        ).where(Forecast.run_id == previous)
    ).all()
    frame = pd.DataFrame(rows, columns=columns)
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame


def _store_trends(session: Session, run_id: int, table: pd.DataFrame, now: dt.datetime) -> None:
    ids = [int(uid) for uid in table.index]
    series = {s.id: s for s in session.scalars(select(Series).where(Series.id.in_(ids)))}
    rows = []
    for uid, row in table.iterrows():
        item = series[int(uid)]
        direction = str(row["trend"])
        # A first run sets the trend; only a later run can change it.
        changed = item.trend is not None and item.trend != direction
        if changed:
            item.trend_changed_at = now
        item.trend = direction
        item.demand_class = str(row["demand_class"])
        item.last_run_id = run_id
        p_value = row.get("trend_p_value")
        rows.append(
            {
                "run_id": run_id,
                "series_id": item.id,
                "direction": direction,
                "slope": float(row["trend_slope"]),
                "p_value": None if p_value is None or pd.isna(p_value) else float(p_value),
                "changed": changed,
                "recorded_at": now,
            }
        )
    session.execute(insert(TrendHistory.__table__), rows)


def _store_alerts(
    session: Session, context: RunContext, forecasts: pd.DataFrame, previous: pd.DataFrame
) -> None:
    history = context.history.frame
    actuals = history.assign(series_id=history["unique_id"].astype(int))[["series_id", "ds", "y"]]
    names = context.names
    drafts = [
        *alert_rules.interval_breaks(actuals, previous, names),
        *alert_rules.forecast_shifts(
            forecasts[["series_id", "ds", "yhat"]], previous[["series_id", "ds", "yhat"]], names
        ),
        *alert_rules.silent_series(actuals, context.frequency.value, names),
    ]
    if drafts:
        created = utcnow()
        session.execute(
            insert(Alert.__table__),
            [
                {
                    "workspace_id": context.workspace_id,
                    "run_id": context.run_id,
                    "series_id": draft.series_id,
                    "kind": draft.kind,
                    "severity": draft.severity,
                    "message": draft.message,
                    "details": draft.details,
                    "read": False,
                    "created_at": created,
                }
                for draft in drafts
            ],
        )
