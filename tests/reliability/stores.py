"""Stores, connectors and CLI syncs for the reliability tests, and what a store holds."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.services import api_keys, organisations
from app.services import connectors as connector_service
from app.store.db import Database
from app.store.models import (
    DemandLine,
    ForecastRun,
    RunStatus,
    SyncRun,
    SyncStatus,
    Workspace,
)
from app.vault import Vault
from tests.app.webhooks.support import ACCESS_TOKEN, APP_SECRET, SHOP
from tests.conftest import TEST_KEY
from tests.fakes.rest_api import ORDER_LINES_MAPPING, FakeRestApi

# The key `Serve` gives the server: what the test writes, the server reads.
VAULT = Vault(base64.b64decode(TEST_KEY))
# The first scheduled sync of a never-synced connector is due at once.
HOURLY = {"kind": "interval", "every": 60, "unit": "minutes"}

LineKey = tuple[str, str]


def prepare_store(database: Database) -> Database:
    """Migrate the store and give it an organisation on the plan the API needs."""
    database.upgrade()
    with database.session() as session:
        organisations.default_workspace(session)
        organisations.set_plan(session, "growth")
    return database


def open_store(data_dir: Path) -> Database:
    """The SQLite store `Serve` uses for ``data_dir``, ready for the API."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return prepare_store(Database(f"sqlite:///{data_dir / 'accupredix.db'}"))


def create_key(database: Database, scopes: str = "read,write,odata") -> str:
    with database.session() as session:
        return api_keys.create_key(session, name="reliability", scopes=scopes).secret


def add_workspace(database: Database, name: str) -> int:
    """A second workspace of the organisation."""
    with database.session() as session:
        organisation_id = organisations.default_workspace(session).organisation_id
        workspace = Workspace(organisation_id=organisation_id, name=name)
        session.add(workspace)
        session.flush()
        return int(workspace.id)


def add_rest_connector(
    database: Database,
    api: FakeRestApi,
    name: str,
    schedule: Mapping[str, Any] | None = HOURLY,
    workspace_id: int | None = None,
) -> int:
    created = connector_service.add_connector(
        database,
        VAULT,
        preset="custom_rest",
        name=name,
        values=api.connector_settings(),
        mapping=ORDER_LINES_MAPPING,
        schedule=schedule,
        workspace_id=workspace_id,
    )
    return int(created["id"])


def add_shopify_connector(database: Database, secret: str = APP_SECRET) -> int:
    """A Shopify connector that only receives webhooks: no schedule, no public URL."""
    created = connector_service.add_connector(
        database,
        VAULT,
        preset="shopify",
        name="Webhook shop",
        values={"shop": SHOP, "access_token": ACCESS_TOKEN, "api_secret_key": secret},
    )
    return int(created["id"])


def source_lines(api: FakeRestApi) -> dict[LineKey, Decimal]:
    """Every line the fake serves now, with its current quantity."""
    return {
        (str(order_id), str(line["id"])): Decimal(str(line["quantity"]))
        for order_id in api.matching_ids(None)
        for line in api.order(order_id)["line_items"]
    }


def stored_lines(database: Database, connector_id: int) -> list[tuple[LineKey, Decimal]]:
    """The connector's lines as stored, duplicates included if there were any."""
    with database.session() as session:
        rows = session.execute(
            select(DemandLine.order_id, DemandLine.line_id, DemandLine.quantity).where(
                DemandLine.connector_id == connector_id
            )
        )
        return [((order, line), Decimal(str(quantity))) for order, line, quantity in rows]


def sync_runs(database: Database, connector_id: int) -> list[SyncRun]:
    with database.session() as session:
        return list(
            session.scalars(
                select(SyncRun).where(SyncRun.connector_id == connector_id).order_by(SyncRun.id)
            )
        )


def synced_once(database: Database, connector_ids: list[int]) -> bool:
    """Whether each connector has completed at least one sync."""
    return all(
        any(run.status == SyncStatus.COMPLETE for run in sync_runs(database, connector_id))
        for connector_id in connector_ids
    )


def count_runs(database: Database, *statuses: RunStatus) -> int:
    with database.session() as session:
        counted = select(func.count()).select_from(ForecastRun)
        return int(session.scalar(counted.where(ForecastRun.status.in_(statuses))) or 0)


def count_syncs(database: Database, status: SyncStatus) -> int:
    with database.session() as session:
        counted = select(func.count()).select_from(SyncRun).where(SyncRun.status == status)
        return int(session.scalar(counted) or 0)


def cli(env: Mapping[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``accupredix ARGS`` as the operator runs it, against the server's store."""
    return subprocess.run(
        [sys.executable, "-c", "from app.cli.main import main; main()", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_sync(env: Mapping[str, str], connector_id: int, attempts: int = 20) -> str:
    """``accupredix connector sync ID`` until it runs (another sync of it may be running).

    Returns the command's summary line; fails on any other refusal.
    """
    for _ in range(attempts):
        result = cli(env, "connector", "sync", str(connector_id))
        if result.returncode == 0:
            return result.stdout.strip()
        if "already running" not in result.stderr:
            raise AssertionError(f"connector sync {connector_id} failed:\n{result.stderr}")
        time.sleep(0.5)
    raise AssertionError(f"connector {connector_id} stayed busy for {attempts} tries")
