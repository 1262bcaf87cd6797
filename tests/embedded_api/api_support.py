"""A known store for the ``/api/v1`` tests: two organisations, keys, runs, series, alerts.

Rows are written straight into the store: these tests are about what the API
answers for a given state, and building that state through forecast runs
would be slow and less exact.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.config import load_config
from app.runtime import Runtime
from app.services import api_keys, secrets
from app.services.organisations import ensure_default_organisation
from app.store.db import Database
from app.store.models import (
    Alert,
    Connector,
    ConnectorStatus,
    Forecast,
    ForecastRun,
    Organisation,
    Plan,
    RunStatus,
    SafetyStock,
    Series,
    Workspace,
)
from app.vault import Vault
from embedded_api.app import create_app

T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CONNECTOR_SECRET = "sk_live_0123456789abcdef"


@dataclass
class World:
    """What was seeded, by name."""

    database: Database
    runtime: Runtime
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    woken: list[int] = field(default_factory=list)
    app: Flask | None = None

    @property
    def client(self) -> FlaskClient:
        assert self.app is not None
        return self.app.test_client()

    def auth(self, key: str = "read") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[key]}"}

    @functools.cached_property
    def schema(self) -> Any:
        """The served OpenAPI document, loaded by schemathesis."""
        return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", self.app)

    def conforms(self, response: TestResponse, method: str, path: str) -> TestResponse:
        """Fail unless the document lists the response's status for the route, and its schema."""
        route = urlsplit(path).path.removeprefix("/api/v1")
        operation = self.schema.find_operation_by_path(method, route)
        if operation is not None:
            documented = operation.definition.raw["responses"]
            assert str(response.status_code) in documented, (
                f"{method} {route} answered {response.status_code}, which is not documented"
            )
            operation.validate_response(response)
        return response

    def get(self, path: str, key: str = "read", **kwargs: Any) -> TestResponse:
        headers = {**self.auth(key), **kwargs.pop("headers", {})}
        return self.conforms(self.client.get(path, headers=headers, **kwargs), "GET", path)

    def post(self, path: str, key: str = "write", **kwargs: Any) -> TestResponse:
        headers = {**self.auth(key), **kwargs.pop("headers", {})}
        return self.conforms(self.client.post(path, headers=headers, **kwargs), "POST", path)


def _run(
    workspace: Workspace, status: RunStatus, created: dt.datetime, **values: Any
) -> ForecastRun:
    return ForecastRun(
        workspace_id=workspace.id,
        status=status,
        horizon=3,
        frequency="weekly",
        created_at=created,
        started_at=created if status is not RunStatus.QUEUED else None,
        **values,
    )


def _forecasts(run: ForecastRun, series: Series, level: float, model: str) -> list[Forecast]:
    start = dt.date(2025, 3, 3)
    return [
        Forecast(
            run_id=run.id,
            series_id=series.id,
            period_start=start + dt.timedelta(weeks=week),
            yhat=level + week,
            lo80=level + week - 2,
            hi80=level + week + 2,
            lo95=level + week - 4,
            hi95=level + week + 4,
            model=model,
        )
        for week in range(3)
    ]


def _stock(run: ForecastRun, series: Series, method: str, stock: float) -> SafetyStock:
    return SafetyStock(
        run_id=run.id,
        series_id=series.id,
        method=method,
        service_level=0.95,
        lead_time_periods=2.0,
        safety_stock=stock,
        lead_time_demand=20.0,
        reorder_point=20.0 + stock,
        inputs={"z": 1.645, "lead_time_days": 14, "frequency": "weekly"},
    )


def seed_world(database: Database) -> World:
    """Seed the store; returns the runtime, clear keys and ids by name."""
    vault = Vault(bytes(32))
    world = World(database, Runtime(config=load_config(), database=database, vault=vault))
    with database.session() as session:
        org = ensure_default_organisation(session, "Acme")
        org.plan = Plan.GROWTH
        main = org.workspaces[0]
        second = Workspace(organisation_id=org.id, name="Second")
        other_org = Organisation(name="Other", plan=Plan.GROWTH)
        other_ws = Workspace(name="Other main")
        other_org.workspaces.append(other_ws)
        starter = Organisation(name="Small", plan=Plan.STARTER)
        starter.workspaces.append(Workspace(name="Small main"))
        session.add_all([second, other_org, starter])
        session.flush()

        for name, scopes, org_id in [
            ("read", "read", org.id),
            ("write", "write", org.id),
            ("both", "read,write", org.id),
            ("odata", "odata", org.id),
            ("revoked", "read", org.id),
            ("other", "read,write", other_org.id),
            ("starter", "read,write", starter.id),
        ]:
            created = api_keys.create_key(session, name, scopes, organisation_id=org_id)
            world.keys[name] = created.secret
            if name == "revoked":
                api_keys.revoke_key(session, created.key.id)

        s1 = Series(
            workspace_id=main.id,
            sku="SKU-1",
            product_name="Widget",
            trend="up",
            trend_changed_at=T0 + dt.timedelta(days=1),
            demand_class="smooth",
        )
        s2 = Series(
            workspace_id=main.id,
            sku="SKU-2",
            location="north",
            trend="down",
            trend_changed_at=T0 + dt.timedelta(days=2),
            demand_class="erratic",
            service_level=0.98,
            lead_time_days=7,
        )
        s3 = Series(workspace_id=main.id, sku="SKU-3")
        s_other = Series(
            workspace_id=other_ws.id,
            sku="SECRET-SKU",
            trend="up",
            trend_changed_at=T0 + dt.timedelta(days=3),
        )
        session.add_all([s1, s2, s3, s_other])
        session.flush()

        r1 = _run(
            main,
            RunStatus.COMPLETE,
            T0 - dt.timedelta(days=7),
            completed_at=T0 - dt.timedelta(days=7, hours=-1),
            series_total=1,
            series_done=1,
        )
        r2 = _run(
            main,
            RunStatus.COMPLETE,
            T0,
            completed_at=T0 + dt.timedelta(hours=1),
            series_total=2,
            series_done=2,
        )
        r3 = _run(
            main,
            RunStatus.FAILED,
            T0 + dt.timedelta(days=1),
            completed_at=T0 + dt.timedelta(days=1, minutes=5),
            error="No demand lines.",
        )
        r4 = _run(main, RunStatus.QUEUED, T0 + dt.timedelta(days=2))
        r_other = _run(
            other_ws,
            RunStatus.COMPLETE,
            T0 + dt.timedelta(days=3),
            completed_at=T0 + dt.timedelta(days=3, hours=1),
        )
        session.add_all([r1, r2, r3, r4, r_other])
        session.flush()

        session.add_all(
            [
                *_forecasts(r1, s1, 10.0, "AutoETS"),
                *_forecasts(r2, s1, 12.0, "AutoARIMA"),
                *_forecasts(r2, s2, 5.0, "CrostonOptimized"),
                *_forecasts(r_other, s_other, 99.0, "AutoETS"),
                _stock(r2, s1, "forecast_quantile", 6.5),
                _stock(r2, s1, "cv_sigma", 5.25),
                _stock(r2, s2, "forecast_quantile", 3.0),
            ]
        )
        s1.last_run_id = s2.last_run_id = r2.id

        alerts = [
            Alert(
                workspace_id=main.id,
                run_id=r1.id,
                series_id=s1.id,
                kind="spike",
                severity="warning",
                message="SKU-1 sold 40.",
                details={"actual": 40.0},
                created_at=T0 - dt.timedelta(days=6),
            ),
            Alert(
                workspace_id=main.id,
                run_id=r2.id,
                series_id=s2.id,
                kind="drop",
                severity="critical",
                message="SKU-2 at north sold only 0.",
                details={"actual": 0.0},
                created_at=T0 + dt.timedelta(hours=1),
            ),
            Alert(
                workspace_id=main.id,
                run_id=r2.id,
                series_id=None,
                kind="forecast_shift",
                severity="info",
                message="Forecast moved.",
                read=True,
                read_at=T0 + dt.timedelta(hours=2),
                created_at=T0 + dt.timedelta(hours=1),
            ),
            Alert(
                workspace_id=other_ws.id,
                run_id=r_other.id,
                series_id=s_other.id,
                kind="spike",
                severity="warning",
                message="Other org's alert.",
                created_at=T0 + dt.timedelta(days=3),
            ),
        ]
        session.add_all(alerts)

        connector = Connector(
            workspace_id=main.id,
            preset="custom_rest",
            name="Shop API",
            config={"base_url": "https://shop.example.com/api"},
            status=ConnectorStatus.HEALTHY,
        )
        other_connector = Connector(workspace_id=other_ws.id, preset="demo", name="Theirs")
        session.add_all([connector, other_connector])
        session.flush()
        secrets.set_secrets(vault, connector, {"token": CONNECTOR_SECRET})

        world.ids.update(
            org=org.id,
            main=main.id,
            second=second.id,
            other_ws=other_ws.id,
            s1=s1.id,
            s2=s2.id,
            s3=s3.id,
            s_other=s_other.id,
            r1=r1.id,
            r2=r2.id,
            r3=r3.id,
            r4=r4.id,
            r_other=r_other.id,
            a_spike=alerts[0].id,
            a_drop=alerts[1].id,
            a_read=alerts[2].id,
            a_other=alerts[3].id,
            connector=connector.id,
            c_other=other_connector.id,
        )
    world.app = create_app(world.runtime, on_run_created=world.woken.append)
    return world


@pytest.fixture
def world(sqlite_database: Database) -> World:
    return seed_world(sqlite_database)


@pytest.fixture
def any_world(database: Database) -> World:
    """The same world on SQLite and on PostgreSQL."""
    return seed_world(database)
