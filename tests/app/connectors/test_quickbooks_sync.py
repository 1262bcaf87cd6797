"""QuickBooks Online through the sync engine into the store: backfill, increments, deletions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.connectors.quickbooks import api
from app.connectors.quickbooks.preset import QuickBooksPreset
from app.oauth import tokens
from app.runs.series import build_history
from app.services import connectors as service
from app.services.secrets import read_secrets
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, Frequency, SyncStatus
from app.sync import pages as pages_module
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.app.connectors.test_quickbooks import FAST, point_at
from tests.fakes.quickbooks import (
    ITEMS,
    QuickBooksServer,
    sales_line,
    serve_quickbooks,
    subtotal_line,
)

VAULT = Vault(bytes(range(32)))


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(QuickBooksPreset, "retry_policy", FAST)
    monkeypatch.setattr(QuickBooksPreset, "probe_retry_policy", FAST)
    monkeypatch.setattr(QuickBooksPreset, "page_size", 5)
    # A worker process would not see the hosts patched here: keep every sync in-process.
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 10**9)
    yield
    tokens.forget_rotations()


@pytest.fixture
def qbo(monkeypatch: pytest.MonkeyPatch) -> Iterator[QuickBooksServer]:
    with serve_quickbooks(invoices=25, credit_memos=4) as server:
        point_at(monkeypatch, server, "production")
        monkeypatch.setitem(api.HOSTS, "sandbox", "http://127.0.0.1:9")
        yield server


def add(database: Database, server: QuickBooksServer, **values: Any) -> int:
    created = service.add_connector(
        database,
        VAULT,
        preset="quickbooks",
        name="Books",
        values={
            "environment": "production",
            "realm_id": server.realm_id,
            "access_token": server.access_token,
            "refresh_token": server.refresh_token,
            **values,
        },
    )
    return created["id"]


def stored(database: Database, connector_id: int) -> dict[tuple[str, str], DemandLine]:
    with database.session() as session:
        rows = session.scalars(select(DemandLine).where(DemandLine.connector_id == connector_id))
        return {(row.order_id, row.line_id): row for row in rows}


def connector(database: Database, connector_id: int) -> Connector:
    with database.session() as session:
        found = session.get(Connector, connector_id)
        assert found is not None
        session.expunge(found)
        return found


def demand_by_sku(database: Database, workspace_id: int) -> dict[str, float]:
    with database.session() as session:
        history = build_history(session, workspace_id, Frequency.MONTHLY, dt.date(2030, 1, 1))
    totals: dict[str, float] = {}
    for series_id, y in zip(history.frame["unique_id"], history.frame["y"], strict=True):
        sku = history.series[series_id][0]
        totals[sku] = totals.get(sku, 0.0) + float(y)
    return totals


def served_ids(server: QuickBooksServer, entity: str) -> set[str]:
    return {document_id for name, document_id in server.served if name == entity}


def test_backfill_then_an_incremental_sync_of_only_what_changed(
    database: Database, qbo: QuickBooksServer
) -> None:
    connector_id = add(database, qbo)
    first = sync_connector(database, VAULT, connector_id)
    assert first.status is SyncStatus.COMPLETE, first.error
    lines = stored(database, connector_id)
    assert first.inserted == len(lines) > 25
    assert first.rejected == 0
    # One invoice read back in full against the fake's own payload.
    payload = qbo.document("Invoice", "10")
    line = lines[("10", "1")]
    detail = payload["Line"][0]["SalesItemLineDetail"]
    assert line.sku == detail["ItemRef"]["name"]
    assert line.quantity == detail["Qty"]
    assert line.unit_price == detail["UnitPrice"]
    assert line.order_date == dt.date.fromisoformat(payload["TxnDate"])
    assert line.currency == "USD"
    assert line.customer_id == payload["CustomerRef"]["value"]
    assert line.status == "fulfilled"
    assert line.source_updated_at == dt.datetime.fromisoformat(
        payload["MetaData"]["LastUpdatedTime"]
    )
    assert ("10", "5.6") in lines  # a bundle's inner line
    assert all(row.quantity < 0 for key, row in lines.items() if key[0].startswith("CM-"))
    assert connector(database, connector_id).status is ConnectorStatus.HEALTHY

    qbo.served.clear()
    qbo.set_quantity("3", "1", 11)
    (new,) = qbo.add_invoices(1)
    second = sync_connector(database, VAULT, connector_id)
    assert second.status is SyncStatus.COMPLETE, second.error
    # Only the changed invoices and the last tie group of each entity again.
    assert {"3", new} <= served_ids(qbo, "Invoice")
    assert len(served_ids(qbo, "Invoice")) <= 2 + 3
    assert len(served_ids(qbo, "CreditMemo")) <= 3
    after = stored(database, connector_id)
    assert after[("3", "1")].quantity == Decimal(11)
    assert (new, "1") in after
    assert second.inserted == len(after) - len(lines)


def test_deleted_and_voided_documents_drop_out_of_demand(
    database: Database, qbo: QuickBooksServer
) -> None:
    lamp = ITEMS[4]
    kept = qbo.add_invoice([sales_line("1", lamp, 3, 2), subtotal_line(Decimal(6))])
    doomed = qbo.add_invoice([sales_line("1", lamp, 5, 2), subtotal_line(Decimal(10))])
    voided = qbo.add_invoice([sales_line("1", lamp, 7, 2), subtotal_line(Decimal(14))])
    memo = qbo.add_credit_memo([sales_line("1", lamp, 1, 2), subtotal_line(Decimal(2))])
    connector_id = add(database, qbo)
    workspace = connector(database, connector_id).workspace_id
    assert sync_connector(database, VAULT, connector_id).status is SyncStatus.COMPLETE
    before = demand_by_sku(database, workspace)["Lamp"]

    qbo.delete("Invoice", doomed)
    qbo.delete("CreditMemo", memo)
    qbo.void("Invoice", voided)
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    lines = stored(database, connector_id)
    assert lines[(doomed, "1")].status == "cancelled"
    assert lines[(doomed, "1")].quantity == Decimal(5)  # history kept
    assert lines[(f"CM-{memo}", "1")].status == "cancelled"
    assert (lines[(voided, "1")].status, lines[(voided, "1")].quantity) == ("cancelled", 0)
    assert lines[(kept, "1")].status == "fulfilled"
    assert demand_by_sku(database, workspace)["Lamp"] == before - 5 - 7 + 1


def test_a_429_storm_slows_the_sync_without_failing_it(
    database: Database, qbo: QuickBooksServer
) -> None:
    connector_id = add(database, qbo)
    # Bursts of 4 refusals (the retry policy tries 6 times), 24 in all.
    qbo.throttle(24, burst=4)
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    statuses = [r.status for r in qbo.requests]
    assert statuses.count(429) == 24
    assert statuses[:10] == [429] * 4 + [200] + [429] * 4 + [200]
    assert len(stored(database, connector_id)) == result.inserted > 0
    assert connector(database, connector_id).status is ConnectorStatus.HEALTHY


def test_rotated_refresh_tokens_are_kept_across_syncs(
    database: Database, qbo: QuickBooksServer
) -> None:
    connector_id = add(database, qbo)
    for round_number in (1, 2, 3):
        qbo.expire_access_tokens()
        result = sync_connector(database, VAULT, connector_id)
        assert result.status is SyncStatus.COMPLETE, (round_number, result.error)
        assert qbo.refreshes == round_number
    saved = read_secrets(VAULT, connector(database, connector_id))
    assert saved["refresh_token"] != qbo.refresh_token  # the third rotation, not the first
    assert dt.datetime.fromisoformat(saved["token_expires_at"]) > dt.datetime.now(dt.UTC)


def test_a_revoked_grant_needs_a_reconnect(database: Database, qbo: QuickBooksServer) -> None:
    connector_id = add(database, qbo)
    qbo.revoke_grant()
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.FAILED
    assert "reconnect" in (result.error or "").lower()
    assert qbo.access_token not in (result.error or "")
    assert connector(database, connector_id).status is ConnectorStatus.NEEDS_RECONNECT


def test_preview_shows_canonical_rows_of_the_newest_invoice(
    sqlite_database: Database, qbo: QuickBooksServer
) -> None:
    newest = qbo.add_invoice(
        [sales_line("1", ITEMS[0], 2, "99.95", "Rock Fountain, large"), subtotal_line(Decimal(0))],
        TxnDate="2026-02-03",
        DepartmentRef={"value": "3", "name": "Front Counter"},
        CustomerRef={"value": "58", "name": "Amy's Bird Sanctuary"},
    )
    values = {
        "environment": "production",
        "realm_id": qbo.realm_id,
        "access_token": qbo.access_token,
        "refresh_token": qbo.refresh_token,
    }
    preview = service.preview(sqlite_database, VAULT, preset="quickbooks", values=values, limit=5)
    assert preview.errors[0] == {}
    row = preview.rows[0]
    updated = qbo.document("Invoice", newest)["MetaData"]["LastUpdatedTime"]
    assert row == {
        "order_id": newest,
        "line_id": "1",
        "order_date": dt.date(2026, 2, 3),
        "sku": "Rock Fountain",
        "quantity": Decimal(2),
        "product_name": "Rock Fountain, large",
        "unit_price": Decimal("99.95"),
        "currency": "USD",
        "location": "Front Counter",
        "customer_id": "58",
        "status": "fulfilled",
        "source_updated_at": dt.datetime.fromisoformat(updated).astimezone(dt.UTC),
    }
    assert len(preview.rows) == 5
