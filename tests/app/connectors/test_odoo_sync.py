"""The Odoo preset through the connector services and the sync engine."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.connectors.http import RetryPolicy
from app.connectors.odoo import OdooPreset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes import odoo as fake

VAULT = Vault(bytes(range(32)))
FAST = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)


@pytest.fixture(autouse=True)
def fast_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine makes its own preset: small pages and short waits for it too."""
    monkeypatch.setattr(OdooPreset, "page_size", 7)
    monkeypatch.setattr(OdooPreset, "retry_policy", FAST)
    monkeypatch.setattr(OdooPreset, "probe_retry_policy", FAST)


@pytest.fixture(params=[17, 19], ids=lambda version: f"odoo{version}")
def odoo(request: pytest.FixtureRequest) -> Iterator[fake.FakeOdoo]:
    with fake.serve_odoo(request.param, orders=30) as server:
        yield server


def stored(database: Database) -> dict[tuple[str, str], DemandLine]:
    with database.session() as session:
        rows = session.scalars(select(DemandLine)).all()
        session.expunge_all()
    return {(row.order_id, row.line_id): row for row in rows}


def test_preview_maps_sale_lines_with_a_custom_channel(
    odoo: fake.FakeOdoo, sqlite_database: Database
) -> None:
    mapping = OdooPreset.default_mapping()
    mapping["columns"]["channel"] = {"path": "document.x_sales_channel"}
    preview = service.preview(
        sqlite_database,
        VAULT,
        preset="odoo",
        values=odoo.connector_settings(),
        mapping=mapping,
        limit=6,
    )
    assert preview.records == 6
    assert not any(preview.errors)
    lines = {row["id"]: row for row in odoo.rows("sale.order.line")}
    orders = {row["id"]: row for row in odoo.rows("sale.order")}
    for row in preview.rows:
        line = lines[int(row["line_id"])]
        order = orders[line["order_id"]]
        assert row["order_id"] == str(order["id"])
        assert row["order_date"].isoformat() == order["date_order"][:10]
        assert row["quantity"] == Decimal(str(line["product_uom_qty"]))
        assert row["location"] in ("Main warehouse", "East depot")
        assert row["currency"] == "EUR"
        assert row.get("channel") == (order["x_sales_channel"] or None)
    assert {"x_pick_zone", "document.x_sales_channel"} <= {f.path for f in preview.fields}


def test_probe_through_the_service_reports_the_protocol(
    odoo: fake.FakeOdoo, sqlite_database: Database
) -> None:
    result = service.probe_connection(
        sqlite_database, VAULT, preset="odoo", values=odoo.connector_settings()
    )
    assert result.details["protocol"] == ("JSON-2" if odoo.version >= 19 else "JSON-RPC")


def test_backfill_then_incremental_sync_of_invoice_lines(
    odoo: fake.FakeOdoo, database: Database
) -> None:
    created = service.add_connector(
        database,
        VAULT,
        preset="odoo",
        name="Odoo invoices",
        values=odoo.connector_settings(model="invoice_lines"),
    )
    first = sync_connector(database, VAULT, created["id"])
    assert first.status is SyncStatus.COMPLETE, first.error
    rows = {row["id"]: row for row in odoo.rows("account.move.line")}
    products = {i: row for i, row in rows.items() if row["display_type"] == "product"}
    lines = stored(database)
    assert {int(line_id) for _, line_id in lines} == set(products)
    assert first.inserted == len(products)
    refunds = [line for line in lines.values() if line.status == "refunded"]
    assert refunds
    assert all(line.quantity < 0 for line in refunds)

    odoo.touch_invoices([1])
    second = sync_connector(database, VAULT, created["id"])
    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted == 0
    assert 0 < second.updated < len(products)
    rows = {row["id"]: row for row in odoo.rows("account.move.line")}
    for (_, line_id), line in stored(database).items():
        row = rows[int(line_id)]
        sign = -1 if row["move_type"] == "out_refund" else 1
        assert line.quantity == sign * Decimal(str(row["quantity"]))
    with database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.HEALTHY


def test_a_refused_key_marks_the_connector_for_reconnection(
    odoo: fake.FakeOdoo, sqlite_database: Database
) -> None:
    created = service.add_connector(
        sqlite_database, VAULT, preset="odoo", name="Odoo", values=odoo.connector_settings()
    )
    odoo.revoke_key()
    result = sync_connector(sqlite_database, VAULT, created["id"])
    assert result.status is SyncStatus.FAILED
    with sqlite_database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.NEEDS_RECONNECT
    assert fake.API_KEY not in (result.error or "")
