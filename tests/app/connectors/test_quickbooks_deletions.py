"""The sync's deletion path that QuickBooks (and Xero) use: markers cancel stored lines.

A small preset here yields orders and then deletion markers, so that the path
is tested in the sync's own process and through its worker process alike.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from app.connectors.base import Category, ConnectorPreset, Cursor, Page, SourceConfig
from app.connectors.fields import Field, FieldKind
from app.connectors.registry import register
from app.runs.series import build_history
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, DemandLine, Frequency, SyncStatus
from app.sync import pages as pages_module
from app.sync import worker
from app.sync.deletions import MARKER, deleted_order, split_deleted
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.app.sync.memory_preset import MAPPING, orders

VAULT = Vault(bytes(range(32)))


@register
class DeletingPreset(ConnectorPreset):
    """Orders from the settings, then a marker for each order listed as deleted."""

    id = "test_deleting"
    display_name = "Test source with deletions"
    category = Category.CUSTOM
    read_ahead = True
    fields = (
        Field("records", "Records", FieldKind.TEXT, required=True),
        Field("deleted", "Deleted orders", FieldKind.TEXT, default="[]"),
        Field("page_size", "Page size", FieldKind.NUMBER, default=10),
    )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        records = json.loads(config["records"])
        size = int(config.get("page_size", 10))
        start = int((cursor or {}).get("offset", 0))
        for offset in range(start, len(records), size):
            chunk = records[offset : offset + size]
            yield Page(chunk, {"offset": offset + len(chunk)})
        gone = [deleted_order(order) for order in json.loads(config.get("deleted", "[]"))]
        yield Page(gone, {"offset": len(records)})


def add(database: Database, records: list[dict], deleted: list[str] = (), **values) -> int:
    created = service.add_connector(
        database,
        VAULT,
        preset="test_deleting",
        name="deleting",
        values={"records": json.dumps(records), "deleted": json.dumps(list(deleted)), **values},
        mapping=MAPPING,
    )
    return created["id"]


def statuses(database: Database, connector_id: int) -> dict[tuple[str, str], str | None]:
    with database.session() as session:
        rows = session.scalars(select(DemandLine).where(DemandLine.connector_id == connector_id))
        return {(row.order_id, row.line_id): row.status for row in rows}


def total_demand(database: Database, connector_id: int) -> float:
    with database.session() as session:
        workspace = session.get(Connector, connector_id).workspace_id
        history = build_history(session, workspace, Frequency.MONTHLY, dt.date(2030, 1, 1))
    return float(history.frame["y"].sum())


def test_markers_are_split_from_records_in_order_and_once() -> None:
    records = [{"order": "a"}, deleted_order("7"), {"order": "b"}, deleted_order("3")]
    records.append(deleted_order("7"))
    data, gone = split_deleted(records)
    assert data == [{"order": "a"}, {"order": "b"}]
    assert gone == ("7", "3")
    assert deleted_order(12) == {MARKER: "12"}


def test_deleted_orders_are_cancelled_and_leave_demand(database: Database) -> None:
    connector_id = add(database, orders(12, lines=2, qty=3), page_size=5)
    first = sync_connector(database, VAULT, connector_id)
    assert first.status is SyncStatus.COMPLETE, first.error
    assert set(statuses(database, connector_id).values()) == {"fulfilled"}
    assert total_demand(database, connector_id) == 12 * 2 * 3

    service.update_connector(
        database, VAULT, connector_id, values={"deleted": json.dumps(["o3", "o7", "o404"])}
    )
    second = sync_connector(database, VAULT, connector_id)
    assert second.status is SyncStatus.COMPLETE, second.error
    assert (second.inserted, second.updated, second.rejected) == (0, 4, 0)
    now = statuses(database, connector_id)
    cancelled = {key for key, status in now.items() if status == "cancelled"}
    assert cancelled == {("o3", "0"), ("o3", "1"), ("o7", "0"), ("o7", "1")}
    assert len(now) == 24  # the lines stay, as history
    assert total_demand(database, connector_id) == 10 * 2 * 3
    # Reported again, nothing changes: lines already cancelled are left alone.
    third = sync_connector(database, VAULT, connector_id)
    assert third.updated == 0


def test_deletions_travel_through_the_worker_process(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    handovers = []
    original_pages, original_ready = worker.PullWorker.pages, worker.PullWorker.ready

    def pages(this, *args, **kwargs):
        handovers.append(True)
        return original_pages(this, *args, **kwargs)

    def ready(this):  # wait for the worker, so that the hand-over surely happens
        deadline = time.monotonic() + 60
        while not original_ready(this):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return True

    monkeypatch.setattr(worker.PullWorker, "pages", pages)
    monkeypatch.setattr(worker.PullWorker, "ready", ready)
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 20)
    connector_id = add(sqlite_database, orders(60, lines=2), deleted=["o1", "o58"], page_size=10)
    result = sync_connector(sqlite_database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    assert handovers == [True]
    now = statuses(sqlite_database, connector_id)
    assert len(now) == 120
    assert {key[0] for key, status in now.items() if status == "cancelled"} == {"o1", "o58"}
