"""Xero connectors synced into the store: backfill, changes, rotated tokens, limits."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.connectors.xero import XeroPreset, api
from app.connectors.xero.quota import Pacing
from app.oauth import tokens
from app.oauth.providers import PROVIDERS
from app.services import connectors as service
from app.services.secrets import read_secrets
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncRun, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes.xero import CLIENT_ID, CLIENT_SECRET, HARBOUR, FakeXero, Grant, serve_xero

VAULT = Vault(bytes(range(32)))
# The preset's own number of attempts, with the waits cut short.
FAST = dataclasses.replace(
    XeroPreset.retry_policy, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=0.2
)


@pytest.fixture
def xero(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeXero]:
    """The fake Xero, with the preset's hosts, limits and the OAuth provider set for tests."""
    with serve_xero() as fake:
        monkeypatch.setattr(api, "API_URL", fake.api_url)
        monkeypatch.setattr(api, "CONNECTIONS_URL", fake.connections_url)
        provider = dataclasses.replace(PROVIDERS["xero"], token_url=fake.token_url)
        monkeypatch.setitem(PROVIDERS, "xero", provider)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setattr(XeroPreset, "retry_policy", FAST)
        monkeypatch.setattr(XeroPreset, "pacing", Pacing(window=0.5))
        monkeypatch.setattr(XeroPreset, "invoice_page_size", 100)
        yield fake
    tokens.forget_rotations()


def add(database: Database, grant: Grant) -> int:
    created = service.add_connector(
        database,
        VAULT,
        preset="xero",
        name="Harbour sales",
        values={**grant.secrets(), "tenant_id": HARBOUR.tenant_id, "tenant_name": HARBOUR.name},
    )
    return int(created["id"])


def stored(database: Database) -> dict[tuple[str, str], tuple[str, Decimal, str | None]]:
    with database.session() as session:
        return {
            (row.order_id, row.line_id): (row.sku, Decimal(row.quantity), row.status)
            for row in session.scalars(select(DemandLine))
        }


def sales(fake: FakeXero) -> dict[tuple[str, str], tuple[str, Decimal, str]]:
    """The lines the store should hold: every sales line with an item code, as served now."""
    found = {}
    kinds = (
        ("Invoices", "InvoiceID", "", 1, "ACCREC", {"AUTHORISED": "open", "PAID": "fulfilled"}),
        ("CreditNotes", "CreditNoteID", "CN-", -1, "ACCRECCREDIT", dict.fromkeys(
            ("AUTHORISED", "PAID"), "refunded"
        )),
    )  # fmt: skip
    for kind, id_field, prefix, sign, type_code, statuses in kinds:
        for document in fake.documents(HARBOUR, kind):
            status = statuses.get(document["Status"])
            if document["Status"] == "VOIDED":
                status = "cancelled"
            if document["Type"] != type_code or status is None:
                continue
            for line in document["LineItems"]:
                if "ItemCode" in line:
                    found[(prefix + document[id_field], line["LineItemID"])] = (
                        line["ItemCode"],
                        sign * Decimal(str(line["Quantity"])),
                        status,
                    )
    return found


def without_item_code(fake: FakeXero) -> int:
    """Sales lines with a quantity and no item code: the rejections a sync reports."""
    count = 0
    for kind, type_code in (("Invoices", "ACCREC"), ("CreditNotes", "ACCRECCREDIT")):
        for document in fake.documents(HARBOUR, kind):
            if document["Type"] == type_code and document["Status"] in (
                "AUTHORISED",
                "PAID",
                "VOIDED",
            ):
                count += sum(
                    1
                    for line in document["LineItems"]
                    if "Quantity" in line and "ItemCode" not in line
                )
    return count


def test_a_backfill_then_an_incremental_sync_keep_demand_right(
    database: Database, xero: FakeXero
) -> None:
    connector_id = add(database, xero.grant())
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    assert stored(database) == sales(xero)
    assert result.rejected == without_item_code(xero) > 0
    with database.session() as session:
        run = session.get(SyncRun, result.sync_run_id)
        assert "sku" in run.rejections[0]["message"]
        connector = session.get(Connector, connector_id)
        assert connector.status is ConnectorStatus.HEALTHY
        assert connector.status_message.startswith(f"{result.rejected} rows skipped")

    # Between syncs: an invoice voided, a quantity changed, a credit note raised.
    voided = xero.document(HARBOUR, "INV-0003")
    xero.set_status(HARBOUR, "INV-0003", "VOIDED")
    xero.set_quantity(HARBOUR, "INV-0002", 11.0)
    note = xero.document(HARBOUR, xero.add_credit_note(HARBOUR))
    xero.log.clear()
    second = sync_connector(database, VAULT, connector_id)
    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted <= len(note["LineItems"])
    now = stored(database)
    assert now == sales(xero)
    assert {now[(voided["InvoiceID"], line["LineItemID"])][2] for line in voided["LineItems"]
            if "ItemCode" in line} == {"cancelled"}  # fmt: skip
    assert all(value[1] < 0 for key, value in now.items() if key[0] == "CN-" + note["CreditNoteID"])
    assert all("If-Modified-Since" in call.headers for call in xero.log)
    assert len(xero.log) == 2, "one page of changed invoices, one of credit notes"


def test_voiding_drops_every_stored_line_of_the_invoice(
    sqlite_database: Database, xero: FakeXero
) -> None:
    connector_id = add(sqlite_database, xero.grant())
    sync_connector(sqlite_database, VAULT, connector_id)
    invoice = xero.document(HARBOUR, "INV-0002")
    # A line Xero no longer lists (removed while authorised) is cancelled with the rest.
    with sqlite_database.session() as session:
        session.add(
            DemandLine(
                connector_id=connector_id,
                workspace_id=session.get(Connector, connector_id).workspace_id,
                order_id=invoice["InvoiceID"],
                line_id="removed-line",
                order_date=dt.date.fromisoformat(invoice["DateString"][:10]),
                sku="CB-250",
                quantity=Decimal(2),
                status="open",
            )
        )
    xero.set_status(HARBOUR, "INV-0002", "VOIDED")
    result = sync_connector(sqlite_database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    with sqlite_database.session() as session:
        statuses = set(
            session.scalars(
                select(DemandLine.status).where(DemandLine.order_id == invoice["InvoiceID"])
            )
        )
    assert statuses == {"cancelled"}


def test_a_429_storm_slows_a_sync_without_failing_it(
    sqlite_database: Database, xero: FakeXero
) -> None:
    connector_id = add(sqlite_database, xero.grant())
    xero.rate_limit_storm(5, retry_after=1)
    result = sync_connector(sqlite_database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    assert stored(sqlite_database) == sales(xero)
    assert [call.status for call in xero.log].count(429) == 5


def test_a_refresh_during_a_sync_keeps_the_rotated_tokens(
    database: Database, xero: FakeXero
) -> None:
    grant = xero.grant()
    connector_id = add(database, grant)
    xero.expire_tokens()
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    assert xero.token_requests == 1
    with database.session() as session:
        kept = read_secrets(VAULT, session.get(Connector, connector_id))
    assert kept["refresh_token"] == grant.refresh_token
    assert kept["access_token"] == grant.access_token
    # The next sync uses what was kept, without another refresh.
    assert sync_connector(database, VAULT, connector_id).status is SyncStatus.COMPLETE
    assert xero.token_requests == 1


def test_a_used_up_day_fails_the_sync_retryably_and_the_next_resumes(
    sqlite_database: Database, xero: FakeXero
) -> None:
    connector_id = add(sqlite_database, xero.grant())
    xero.use_up_day(HARBOUR, leave=1)
    first = sync_connector(sqlite_database, VAULT, connector_id)
    assert first.status is SyncStatus.FAILED
    assert "daily limit" in (first.error or "")
    assert first.pages == 1, "the page read with the day's last call is kept"
    with sqlite_database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector.status is ConnectorStatus.ERROR, "not a reconnect: it resumes by itself"
        position: dict[str, Any] = dict(connector.cursor)
    xero.use_up_day(HARBOUR, leave=100)  # the day has turned
    xero.log.clear()
    second = sync_connector(sqlite_database, VAULT, connector_id)
    assert second.status is SyncStatus.COMPLETE, second.error
    assert xero.log[0].headers["If-Modified-Since"] == position["since"]
    assert stored(sqlite_database) == sales(xero)
