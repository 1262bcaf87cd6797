"""The NetSuite preset through the connector services and the sync engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.connectors.http import RetryPolicy
from app.connectors.netsuite import NetSuitePreset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes import netsuite as fake

VAULT = Vault(bytes(range(32)))
FAST = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)


@pytest.fixture
def ns(monkeypatch: pytest.MonkeyPatch) -> Iterator[fake.FakeNetSuite]:
    """The fake account, with the preset class pointed at it (the engine makes its own)."""
    with fake.serve_netsuite(45) as server:
        monkeypatch.setattr(NetSuitePreset, "base_url_template", server.base_url_template)
        monkeypatch.setattr(NetSuitePreset, "page_size", 5)
        monkeypatch.setattr(NetSuitePreset, "retry_policy", FAST)
        monkeypatch.setattr(NetSuitePreset, "probe_retry_policy", FAST)
        yield server


def stored(database: Database) -> dict[tuple[str, str], DemandLine]:
    with database.session() as session:
        rows = session.scalars(select(DemandLine)).all()
        session.expunge_all()
    return {(row.order_id, row.line_id): row for row in rows}


def sales_lines(server: fake.FakeNetSuite) -> dict[tuple[str, str], dict[str, Any]]:
    transactions = {row["id"]: row for row in server.transactions()}
    return {
        (str(line["transaction"]), str(line["id"])): {
            **line,
            "t": transactions[line["transaction"]],
        }
        for line in server.lines()
        if transactions[line["transaction"]]["type"] in ("SalesOrd", "RtnAuth")
        and line["mainline"] == "F"
        and line["itemtype"] == "InvtPart"
        and line["iscogs"] == "F"
    }


def test_preview_maps_lines_onto_canonical_columns(
    ns: fake.FakeNetSuite, sqlite_database: Database
) -> None:
    mapping = NetSuitePreset.default_mapping()
    mapping["columns"]["channel"] = {"path": "custbody_channel"}
    preview = service.preview(
        sqlite_database,
        VAULT,
        preset="netsuite",
        values=ns.connector_settings(custom_fields="custbody_channel"),
        mapping=mapping,
        limit=8,
    )
    assert preview.records == 8
    assert not any(preview.errors)
    expected = sales_lines(ns)
    for row in preview.rows:
        line = expected[(row["order_id"], row["line_id"])]
        assert row["sku"] == f"SKU-{line['item'] - 100:03d}"
        assert row["quantity"] == -line["quantity"]
        assert row["order_date"] == line["t"]["trandate"]
        assert row["location"] in ("Main Warehouse", "East DC")
        assert row["currency"] in ("USD", "EUR")
        assert row["status"] in ("open", "fulfilled", "cancelled", "refunded")
        assert row.get("channel") == line["t"]["custbody_channel"]
    assert {field.path for field in preview.fields} >= {"custbody_channel", "sku", "quantity"}


def test_backfill_then_incremental_sync_updates_lines_in_place(
    ns: fake.FakeNetSuite, database: Database
) -> None:
    created = service.add_connector(
        database, VAULT, preset="netsuite", name="NetSuite", values=ns.connector_settings()
    )
    first = sync_connector(database, VAULT, created["id"])
    assert first.status is SyncStatus.COMPLETE, first.error
    expected = sales_lines(ns)
    lines = stored(database)
    assert set(lines) == set(expected)
    assert first.inserted == len(expected)
    returned = [key for key, line in expected.items() if line["t"]["type"] == "RtnAuth"]
    assert returned
    assert all(lines[key].quantity < 0 for key in returned)

    ns.touch([1001])
    second = sync_connector(database, VAULT, created["id"])
    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted == 0
    assert 0 < second.updated < len(expected), "only what changed in the last hour or so"
    lines = stored(database)
    assert len(lines) == len(expected)
    for key, line in sales_lines(ns).items():
        assert lines[key].quantity == -Decimal(line["quantity"])
    with database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.HEALTHY
        assert connector.cursor["watermark"] == dt.datetime.strftime(
            max(row["lastmodifieddate"] for row in ns.transactions()), "%Y-%m-%d %H:%M:%S"
        )


def test_refused_credentials_mark_the_connector_for_reconnection(
    ns: fake.FakeNetSuite, sqlite_database: Database
) -> None:
    created = service.add_connector(
        sqlite_database,
        VAULT,
        preset="netsuite",
        name="NetSuite",
        values=ns.connector_settings(token_secret="revoked-token-secret-000000"),
    )
    result = sync_connector(sqlite_database, VAULT, created["id"])
    assert result.status is SyncStatus.FAILED
    assert result.error is not None
    assert "Invalid login attempt" in result.error
    with sqlite_database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.NEEDS_RECONNECT
