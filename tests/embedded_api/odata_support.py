"""A known store for the OData feed tests (helpers only; this module holds no tests).

Rows are written straight into the store with awkward values on purpose:
nulls in nullable columns, text with ``%``, ``_``, quotes and mixed case,
date-times either side of midnight UTC, negative and fractional quantities.
Two organisations share SKU names, so that a scope leak would show.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from app.config import load_config
from app.runtime import Runtime
from app.services import api_keys
from app.store.db import Database
from app.store.models import (
    Alert,
    Connector,
    DemandLine,
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
from embedded_api.auth import KeyRegistry
from embedded_api.odata import blueprint

T0 = dt.datetime(2024, 3, 1, 0, 30, tzinfo=dt.UTC)
D0 = dt.date(2024, 1, 1)


def feed_app(runtime: Runtime) -> Flask:
    """The application with the OData blueprint, without rate limits getting in the way."""
    flask_app = create_app(runtime)
    if "odata" not in flask_app.blueprints:
        flask_app.register_blueprint(blueprint)
    flask_app.config["KEY_REGISTRY"] = KeyRegistry(rate=1e6, burst=1e6)
    return flask_app


def basic(key: str, user: str = "powerbi") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class World:
    """What was seeded, by name, and a client that speaks to the feed."""

    database: Database
    app: Flask
    keys: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def get(self, path: str, key: str = "odata", **kwargs: Any) -> TestResponse:
        headers = {**basic(self.keys[key]), **kwargs.pop("headers", {})}
        return self.client.get(path, headers=headers, **kwargs)

    def follow(self, path: str, key: str = "odata", **kwargs: Any) -> list[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` to the end."""
        pages = []
        while path:
            response = self.get(path, key, **kwargs)
            assert response.status_code == 200, response.get_data(as_text=True)
            page = response.get_json()
            pages.append(page)
            link = page.get("@odata.nextLink")
            path = _local(link) if link else ""
        return pages

    def values(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        return [row for page in self.follow(path, **kwargs) for row in page["value"]]


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def ids_of(rows: list[dict[str, Any]]) -> list[int]:
    return [row["Id"] for row in rows]


def _series_rows(workspace_id: int) -> list[dict[str, Any]]:
    names = ["Desk Lamp", None, "100% Cotton Towel", "it's_a_Mug", "desk lamp", None, "Lamp"]
    rows = []
    for index in range(21):
        rows.append(
            {
                "workspace_id": workspace_id,
                "sku": f"A-{index}" if index % 4 else f"a_{index}",
                "location": "north-dc" if index % 2 else "south-store",
                "product_name": names[index % len(names)],
                "trend": ("up", "flat", "down", None)[index % 4],
                "trend_changed_at": (
                    None if index % 5 == 0 else T0 + dt.timedelta(hours=3 * (index % 6) - 6)
                ),
                "service_level": None if index % 3 == 0 else round(0.8 + (index % 4) * 0.05, 2),
                "lead_time_days": None if index % 6 == 1 else (index * 7) % 20,
            }
        )
    return rows


def build_world(database: Database) -> World:
    """Two organisations on Growth, one on Starter, with keys, series, runs and results."""
    runtime = Runtime(config=load_config(), database=database, vault=Vault(bytes(32)))
    world = World(database=database, app=feed_app(runtime))
    with database.session() as session:
        acme = Organisation(name="Acme", plan=Plan.GROWTH)
        other = Organisation(name="Other", plan=Plan.GROWTH)
        small = Organisation(name="Small", plan=Plan.STARTER)
        main, second = (
            Workspace(organisation=acme, name="Main"),
            Workspace(organisation=acme, name="EU"),
        )
        foreign = Workspace(organisation=other, name="Main")
        session.add_all(
            [acme, other, small, main, second, foreign, Workspace(organisation=small, name="M")]
        )
        session.flush()
        world.ids.update(
            acme=acme.id, other=other.id, main=main.id, second=second.id, foreign=foreign.id
        )
        world.keys["odata"] = api_keys.create_key(session, "bi", "odata", acme.id).secret
        world.keys["read"] = api_keys.create_key(session, "zap", "read", acme.id).secret
        world.keys["other"] = api_keys.create_key(session, "bi", "odata", other.id).secret
        world.keys["starter"] = api_keys.create_key(session, "bi", "odata", small.id).secret

        series = [Series(**row) for row in _series_rows(main.id)]
        series += [Series(workspace_id=second.id, sku="EU-1", location="default")]
        series += [
            Series(
                workspace_id=foreign.id, sku="A-1", location="north-dc", product_name="Desk Lamp"
            )
        ]
        session.add_all(series)
        done = ForecastRun(
            workspace_id=main.id,
            status=RunStatus.COMPLETE,
            created_at=T0,
            started_at=T0,
            completed_at=T0 + dt.timedelta(minutes=2),
            series_total=len(series) - 1,
            series_done=len(series) - 1,
        )
        failed = ForecastRun(
            workspace_id=main.id, status=RunStatus.FAILED, error="boom", created_at=T0
        )
        foreign_run = ForecastRun(workspace_id=foreign.id, status=RunStatus.COMPLETE, created_at=T0)
        session.add_all([done, failed, foreign_run])
        session.flush()
        world.ids.update(run=done.id, failed_run=failed.id, foreign_run=foreign_run.id)
        world.ids["foreign_series"] = series[-1].id
        series[1].last_run_id = done.id
        for item in series[:-1]:
            for week in range(3):
                session.add(
                    Forecast(
                        run_id=done.id,
                        series_id=item.id,
                        period_start=D0 + dt.timedelta(weeks=week),
                        yhat=10.0 + week + item.id / 100,
                        lo80=8.0,
                        hi80=12.0,
                        lo95=7.0,
                        hi95=13.5,
                        model="AutoETS",
                    )
                )
            session.add(
                SafetyStock(
                    run_id=done.id,
                    series_id=item.id,
                    method="normal",
                    service_level=0.95,
                    lead_time_periods=2.0,
                    safety_stock=4.5,
                    lead_time_demand=20.0,
                    reorder_point=24.5,
                    inputs={"sigma": 1.2},
                )
            )
        session.add(
            Forecast(
                run_id=foreign_run.id,
                series_id=series[-1].id,
                period_start=D0,
                yhat=99.0,
                lo80=1.0,
                hi80=2.0,
                lo95=0.5,
                hi95=3.0,
                model="Naive",
            )
        )
        session.add(
            SafetyStock(
                run_id=foreign_run.id,
                series_id=series[-1].id,
                method="normal",
                service_level=0.9,
                lead_time_periods=1.0,
                safety_stock=1.0,
                lead_time_demand=2.0,
                reorder_point=3.0,
            )
        )
        for index, item in enumerate(series[:6]):
            session.add(
                Alert(
                    workspace_id=main.id,
                    run_id=done.id if index % 2 else None,
                    series_id=item.id,
                    kind="outside_interval",
                    severity="warning",
                    message=f"SKU {item.sku} sold outside its interval",
                    read=index % 3 == 0,
                    created_at=T0 + dt.timedelta(days=index),
                )
            )
        session.add(
            Alert(workspace_id=foreign.id, kind="shift", message="not yours", created_at=T0)
        )
        connector = Connector(workspace_id=main.id, preset="demo", name="Shop")
        foreign_connector = Connector(workspace_id=foreign.id, preset="demo", name="Shop")
        session.add_all([connector, foreign_connector])
        session.flush()
        for index in range(30):
            session.add(
                DemandLine(
                    connector_id=connector.id,
                    workspace_id=main.id,
                    order_id=f"SO-{index // 3}",
                    line_id=str(index % 3),
                    order_date=D0 + dt.timedelta(days=index * 2),
                    sku=f"A-{index % 5}",
                    quantity=Decimal("-1.5") if index % 7 == 0 else Decimal(index) / 4,
                    unit_price=None if index % 4 == 0 else Decimal("12.3456") + index,
                    currency="EUR",
                    location="north-dc",
                    status="refunded" if index % 7 == 0 else "fulfilled",
                    source_updated_at=T0 + dt.timedelta(hours=index),
                )
            )
        session.add(
            DemandLine(
                connector_id=foreign_connector.id,
                workspace_id=foreign.id,
                order_id="X",
                line_id="1",
                order_date=D0,
                sku="A-1",
                quantity=Decimal(5),
            )
        )
    return world


def rows_of(database: Database, model: type, workspace_ids: list[int]) -> list[Any]:
    """The ORM rows of ``model`` in the given workspaces (forecasts by their series)."""
    with database.session() as session:
        if model in (Forecast, SafetyStock):
            statement = (
                select(model)
                .join(Series, Series.id == model.series_id)
                .where(Series.workspace_id.in_(workspace_ids))
            )
        else:
            statement = select(model).where(model.workspace_id.in_(workspace_ids))
        return list(session.scalars(statement.order_by(model.id)))
