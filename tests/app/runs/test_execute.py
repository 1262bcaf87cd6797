"""Forecast runs over the store: results, safety stock, trends, alerts, failures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from app.forecasting import Settings
from app.runs import execute as execute_module
from app.runs.execute import RunNotQueued, execute_run
from app.services import runs as service
from app.store.db import Database
from app.store.models import (
    Alert,
    Connector,
    DemandLine,
    Forecast,
    ForecastRun,
    Organisation,
    RunStatus,
    SafetyStock,
    Series,
    TrendHistory,
    Workspace,
)

# Mondays; the run's "today" is a Wednesday, so the week of AS_OF is still running.
START = dt.date(2025, 1, 6)
WEEKS = 70
AS_OF = START + dt.timedelta(weeks=WEEKS, days=2)
# Serial and cheap: these tests check the store side, not the models' speed.
SETTINGS = Settings(cv_windows=2, conformal_windows=2, n_jobs=1)


def shapes(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(WEEKS)
    return {
        "STEADY": 40 + rng.normal(0, 2, WEEKS),
        "RISING": 10 + 0.8 * t + rng.normal(0, 1.5, WEEKS),
        "FALLING": 80 - 0.9 * t + rng.normal(0, 1.5, WEEKS),
        "SLOW": np.where(rng.random(WEEKS) < 0.2, rng.integers(1, 4, WEEKS), 0),
    }


def seed(database: Database, series: dict[str, np.ndarray], *, lead_time_days: int = 14) -> int:
    with database.session() as session:
        workspace = Workspace(
            name="Main", organisation=Organisation(name="Acme"), lead_time_days=lead_time_days
        )
        session.add(workspace)
        session.flush()
        connector = Connector(workspace_id=workspace.id, preset="demo", name="c")
        session.add(connector)
        session.flush()
        workspace_id, connector_id = workspace.id, connector.id
    write_weeks(database, workspace_id, connector_id, series, first_week=0)
    return workspace_id


def write_weeks(
    database: Database,
    workspace_id: int,
    connector_id: int,
    series: dict[str, np.ndarray],
    *,
    first_week: int,
) -> None:
    rows = [
        {
            "connector_id": connector_id,
            "workspace_id": workspace_id,
            "order_id": f"{sku}-{first_week + week}",
            "line_id": "1",
            "order_date": START + dt.timedelta(weeks=first_week + week, days=2),
            "sku": sku,
            "location": "default",
            "quantity": Decimal(str(round(max(float(qty), 0.0), 2))),
            "status": "fulfilled",
        }
        for sku, values in series.items()
        for week, qty in enumerate(values)
        if qty > 0
    ]
    if rows:
        with database.session() as session:
            session.execute(insert(DemandLine.__table__), rows)


def run(database: Database, workspace_id: int, *, as_of: dt.date = AS_OF, horizon: int = 8):
    created, _ = service.create_run(database, workspace_id=workspace_id, horizon=horizon)
    status = execute_run(database, created["id"], settings=SETTINGS, as_of=as_of)
    return created["id"], status


def by_sku(database: Database, model, run_id: int) -> dict[str, list]:
    with database.session() as session:
        rows = session.execute(
            select(Series.sku, model)
            .join(Series, Series.id == model.series_id)
            .where(model.run_id == run_id)
        ).all()
    grouped: dict[str, list] = {}
    for sku, item in rows:
        grouped.setdefault(sku, []).append(item)
    return grouped


@pytest.mark.slow
def test_a_run_stores_forecasts_safety_stock_and_trends(database: Database) -> None:
    workspace_id = seed(database, shapes(np.random.default_rng(1)))
    run_id, status = run(database, workspace_id)
    assert status is RunStatus.COMPLETE, service.get_run(database, run_id)["error"]

    view = service.get_run(database, run_id)
    assert (view["series_total"], view["series_done"]) == (4, 4)
    assert view["completed_at"] is not None

    forecasts = by_sku(database, Forecast, run_id)
    assert set(forecasts) == {"STEADY", "RISING", "FALLING", "SLOW"}
    first_period = START + dt.timedelta(weeks=WEEKS)
    for rows in forecasts.values():
        rows.sort(key=lambda f: f.period_start)
        assert [f.period_start for f in rows] == [
            first_period + dt.timedelta(weeks=k) for k in range(8)
        ]
        for f in rows:
            assert 0 <= f.lo95 <= f.lo80 <= f.yhat <= f.hi80 <= f.hi95
    rising = sorted(forecasts["RISING"], key=lambda f: f.period_start)
    assert rising[-1].yhat > 55, "the rising series is forecast to keep rising"

    stocks = by_sku(database, SafetyStock, run_id)
    for sku, rows in stocks.items():
        methods = {s.method: s for s in rows}
        assert "forecast_quantile" in methods, sku
        for stock in rows:
            assert stock.lead_time_periods == pytest.approx(2.0)
            assert stock.service_level == pytest.approx(0.95)
            assert stock.reorder_point == pytest.approx(stock.lead_time_demand + stock.safety_stock)
            assert stock.safety_stock >= 0
            assert stock.inputs["lead_time_days"] == 14
    assert "cv_sigma" in {s.method for s in stocks["STEADY"]}

    with database.session() as session:
        series = {s.sku: s for s in session.scalars(select(Series))}
        assert series["RISING"].trend == "up"
        assert series["FALLING"].trend == "down"
        assert series["STEADY"].trend == "flat"
        assert series["SLOW"].demand_class in ("intermittent", "lumpy")
        assert all(s.last_run_id == run_id for s in series.values())
        assert all(s.trend_changed_at is None for s in series.values()), "a first run changes none"
        assert session.scalar(select(func.count()).select_from(TrendHistory)) == 4


def test_a_new_item_with_a_short_history_gets_the_quantile_safety_stock_only(
    sqlite_database: Database,
) -> None:
    """Too little history for cross-validation must not fail the run of everyone else."""
    workspace_id = seed(sqlite_database, shapes(np.random.default_rng(4)))
    with sqlite_database.session() as session:
        connector_id = session.scalars(select(Connector.id)).one()
    new_item = {"NEW": np.array([5.0, 7, 6, 8, 7, 9])}
    write_weeks(sqlite_database, workspace_id, connector_id, new_item, first_week=WEEKS - 6)

    run_id, status = run(sqlite_database, workspace_id)

    assert status is RunStatus.COMPLETE, service.get_run(sqlite_database, run_id)["error"]
    stocks = by_sku(sqlite_database, SafetyStock, run_id)
    assert {s.method for s in stocks["NEW"]} == {"forecast_quantile"}
    assert "cv_sigma" in {s.method for s in stocks["STEADY"]}
    assert len(by_sku(sqlite_database, Forecast, run_id)["NEW"]) == 8


@pytest.mark.slow
def test_trend_changes_and_alerts_fire_where_planted(sqlite_database: Database) -> None:
    rng = np.random.default_rng(7)
    workspace_id = seed(sqlite_database, shapes(rng))
    _, status = run(sqlite_database, workspace_id, horizon=16)
    assert status is RunStatus.COMPLETE

    # Sixteen more weeks: STEADY spikes once, RISING turns and falls steeply,
    # FALLING goes on as before, SLOW sells nothing (too little to alert on).
    with sqlite_database.session() as session:
        connector_id = session.scalar(select(Connector.id))
    t = np.arange(WEEKS, WEEKS + 16)
    steady = 40 + rng.normal(0, 2, 16)
    steady[3] = 400
    write_weeks(
        sqlite_database,
        workspace_id,
        connector_id,
        {
            "STEADY": steady,
            "RISING": np.linspace(60, 5, 16) + rng.normal(0, 1.5, 16),
            "FALLING": 80 - 0.9 * t + rng.normal(0, 1.5, 16),
        },
        first_week=WEEKS,
    )
    second, status = run(
        sqlite_database, workspace_id, as_of=AS_OF + dt.timedelta(weeks=16), horizon=16
    )
    assert status is RunStatus.COMPLETE

    with sqlite_database.session() as session:
        alerts = session.execute(
            select(Series.sku, Alert.kind, Alert.message, Alert.run_id).join(
                Series, Series.id == Alert.series_id
            )
        ).all()
        kinds = {(sku, kind) for sku, kind, _, _ in alerts}
        assert ("STEADY", "spike") in kinds
        assert ("RISING", "drop") in kinds
        assert ("FALLING", "spike") not in kinds
        assert ("FALLING", "drop") not in kinds
        assert all(run_id == second for *_, run_id in alerts)
        spike = next(m for sku, kind, m, _ in alerts if (sku, kind) == ("STEADY", "spike"))
        assert "STEADY sold 400" in spike
        assert not any(sku == "SLOW" and kind in ("spike", "drop") for sku, kind in kinds)

        rising = session.scalars(select(Series).where(Series.sku == "RISING")).one()
        assert rising.trend != "up"
        assert rising.trend_changed_at is not None
        # FALLING kept falling: its trend is the same and never changed.
        falling = session.scalars(select(Series).where(Series.sku == "FALLING")).one()
        assert falling.trend == "down"
        assert falling.trend_changed_at is None


@pytest.mark.slow
def test_a_series_that_stops_selling_is_reported_silent(sqlite_database: Database) -> None:
    values = shapes(np.random.default_rng(3))
    values["STEADY"][-6:] = 0
    workspace_id = seed(sqlite_database, values)
    _, status = run(sqlite_database, workspace_id)
    assert status is RunStatus.COMPLETE
    with sqlite_database.session() as session:
        silent = (
            session.execute(
                select(Series.sku)
                .join(Alert, Alert.series_id == Series.id)
                .where(Alert.kind == "silent")
            )
            .scalars()
            .all()
        )
    assert silent == ["STEADY"]


def test_a_failed_run_leaves_nothing_visible(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace_id = seed(database, shapes(np.random.default_rng(2)))
    original = execute_module.persist

    def persist_then_crash(session, context, parts) -> None:
        original(session, context, parts)  # everything written...
        raise RuntimeError("disk full")  # ...then the transaction fails

    monkeypatch.setattr(execute_module, "persist", persist_then_crash)
    run_id, status = run(database, workspace_id)
    assert status is RunStatus.FAILED
    view = service.get_run(database, run_id)
    assert view["status"] == "failed"
    assert "Unexpected error" in view["error"]
    with database.session() as session:
        for model in (Forecast, SafetyStock, Alert, TrendHistory):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        assert all(s.last_run_id is None for s in session.scalars(select(Series)))


def test_a_run_without_history_fails_with_a_reason(database: Database) -> None:
    workspace_id = seed(database, {})
    run_id, status = run(database, workspace_id)
    assert status is RunStatus.FAILED
    assert "No demand history" in service.get_run(database, run_id)["error"]


def test_runs_are_claimed_once_and_keys_are_idempotent(database: Database) -> None:
    workspace_id = seed(database, {})
    first, created = service.create_run(database, workspace_id=workspace_id, idempotency_key="z1")
    again, created_again = service.create_run(
        database, workspace_id=workspace_id, idempotency_key="z1"
    )
    assert created
    assert not created_again
    assert first["id"] == again["id"]
    other, _ = service.create_run(database, workspace_id=workspace_id, idempotency_key="z2")
    assert other["id"] != first["id"]
    execute_run(database, first["id"], settings=SETTINGS, as_of=AS_OF)
    with pytest.raises(RunNotQueued):
        execute_run(database, first["id"], settings=SETTINGS, as_of=AS_OF)
    assert [r["id"] for r in service.list_runs(database)] == [other["id"], first["id"]]
    assert [r["id"] for r in service.list_runs(database, status="queued")] == [other["id"]]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(ForecastRun)) == 2
