"""Store round trips on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from app.store.db import Database
from app.store.models import (
    Alert,
    ApiKey,
    Connector,
    ConnectorStatus,
    DemandLine,
    Forecast,
    ForecastRun,
    OAuthState,
    Organisation,
    Plan,
    RunStatus,
    SafetyStock,
    Series,
    SyncRun,
    TrendHistory,
    WebhookEvent,
    Workspace,
)

WHEN = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def _workspace(session) -> Workspace:
    org = Organisation(name="Acme", plan=Plan.GROWTH)
    workspace = Workspace(name="Main", organisation=org)
    session.add(workspace)
    session.flush()
    return workspace


def _connector(session, workspace: Workspace) -> Connector:
    connector = Connector(
        workspace_id=workspace.id,
        preset="custom_rest",
        name="Shop",
        config={"base_url": "https://example.test", "nested": {"page_size": 50}},
        secrets={"api_key": "v1.abc.def"},
        field_mapping={"sku": {"path": "line_items[].sku"}},
        schedule={"kind": "interval", "minutes": 60},
        cursor={"updated_at_min": "2026-01-01T00:00:00Z"},
    )
    session.add(connector)
    session.flush()
    return connector


def _line(workspace: Workspace, connector: Connector, **overrides) -> DemandLine:
    values = {
        "connector_id": connector.id,
        "workspace_id": workspace.id,
        "order_id": "1001",
        "line_id": "1",
        "order_date": dt.date(2026, 2, 27),
        "sku": "SKU-1",
        "quantity": Decimal("-2.5"),
        "unit_price": Decimal("19.99"),
        "currency": "EUR",
        "status": "refunded",
        "source_updated_at": WHEN,
    }
    values.update(overrides)
    return DemandLine(**values)


def test_every_table_round_trips(database: Database) -> None:
    with database.session() as session:
        workspace = _workspace(session)
        connector = _connector(session, workspace)
        session.add(SyncRun(connector_id=connector.id, pages=3, rows_inserted=10))
        session.add(_line(workspace, connector))
        series = Series(workspace_id=workspace.id, sku="SKU-1", location="north")
        run = ForecastRun(workspace_id=workspace.id, status=RunStatus.COMPLETE, completed_at=WHEN)
        session.add_all([series, run])
        session.flush()
        series.last_run_id = run.id
        session.add_all(
            [
                Forecast(
                    run_id=run.id,
                    series_id=series.id,
                    period_start=dt.date(2026, 3, 2),
                    yhat=10.5,
                    lo80=8.0,
                    hi80=13.0,
                    lo95=6.5,
                    hi95=14.5,
                    model="AutoETS",
                ),
                SafetyStock(
                    run_id=run.id,
                    series_id=series.id,
                    method="error_spread",
                    service_level=0.95,
                    lead_time_periods=2.0,
                    safety_stock=5.2,
                    lead_time_demand=21.0,
                    reorder_point=26.2,
                    inputs={"sigma": 2.24, "z": 1.645},
                ),
                Alert(
                    workspace_id=workspace.id,
                    run_id=run.id,
                    series_id=series.id,
                    kind="spike",
                    severity="warning",
                    message="SKU-1 sold 40, above the expected 6-15.",
                ),
                TrendHistory(run_id=run.id, series_id=series.id, direction="up", slope=0.4),
                ApiKey(
                    organisation_id=workspace.organisation_id,
                    name="zap",
                    prefix="apx_abcdefgh",
                    key_hash="0" * 64,
                    scopes="read,odata",
                ),
                WebhookEvent(connector_id=connector.id, provider="shopify", delivery_id="d-1"),
                OAuthState(
                    state="s-1",
                    provider="xero",
                    redirect_uri="http://127.0.0.1:8765/oauth/xero/callback",
                    expires_at=WHEN + dt.timedelta(minutes=10),
                ),
            ]
        )

    with database.session() as session:
        connector = session.scalars(select(Connector)).one()
        assert connector.status is ConnectorStatus.NEW
        assert connector.config["nested"] == {"page_size": 50}
        assert connector.cursor == {"updated_at_min": "2026-01-01T00:00:00Z"}
        assert connector.workspace_id is not None
        line = session.scalars(select(DemandLine)).one()
        assert line.quantity == Decimal("-2.5")
        assert line.unit_price == Decimal("19.99")
        assert line.location == "default"
        assert line.source_updated_at == WHEN
        assert line.source_updated_at.tzinfo is not None
        assert line.source_updated_at.utcoffset() == dt.timedelta(0)
        run = session.scalars(select(ForecastRun)).one()
        assert run.status is RunStatus.COMPLETE
        assert run.completed_at == WHEN
        assert session.scalars(select(Series)).one().last_run_id == run.id
        assert session.scalars(select(Forecast)).one().hi95 == pytest.approx(14.5)
        assert session.scalars(select(SafetyStock)).one().inputs["z"] == pytest.approx(1.645)
        assert session.scalars(select(Alert)).one().read is False
        assert session.scalars(select(TrendHistory)).one().direction == "up"
        assert session.scalars(select(ApiKey)).one().scope_set == {"read", "odata"}
        assert session.scalars(select(WebhookEvent)).one().status == "received"
        assert session.scalars(select(OAuthState)).one().expires_at > WHEN
        assert session.scalars(select(Organisation)).one().plan is Plan.GROWTH


def test_demand_line_is_unique_per_connector_order_and_line(database: Database) -> None:
    with database.session() as session:
        workspace = _workspace(session)
        connector = _connector(session, workspace)
        session.add(_line(workspace, connector))
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(_line(workspace, connector, quantity=Decimal(3)))
    with database.session() as session:
        session.add(_line(workspace, connector, line_id="2"))
    with database.session() as session:
        assert session.scalar(select(DemandLine.quantity).where(DemandLine.line_id == "1")) == -2.5


def test_deleting_a_connector_cascades_to_its_lines_and_runs(database: Database) -> None:
    with database.session() as session:
        workspace = _workspace(session)
        connector = _connector(session, workspace)
        session.add(_line(workspace, connector))
        session.add(SyncRun(connector_id=connector.id))
    with database.session() as session:
        # A Core delete, so it is the database's ON DELETE CASCADE that acts.
        session.execute(Connector.__table__.delete())
    with database.session() as session:
        assert session.scalars(select(DemandLine)).all() == []
        assert session.scalars(select(SyncRun)).all() == []


def test_unknown_status_values_are_refused(database: Database) -> None:
    # The enum's CHECK constraint holds even for SQL that bypasses the ORM.
    with database.session() as session:
        workspace_id = _workspace(session).id
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(
            text(
                "INSERT INTO connectors (workspace_id, preset, name, config, secrets, status, "
                "created_at, updated_at) VALUES (:w, 'x', 'x', '{}', '{}', 'exploded', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"w": workspace_id},
        )


def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="aware datetime"), database.session() as session:
        session.add(Organisation(name="x", created_at=dt.datetime(2026, 1, 1)))


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
