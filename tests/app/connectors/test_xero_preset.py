"""The Xero preset against the fake Xero on 127.0.0.1: organisation, probe, pull, preview."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import AuthError, ConfigurationError, ConnectorError, SourceDataError
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from app.connectors.xero import XeroPreset, api
from app.connectors.xero.quota import Pacing
from app.connectors.xero.reader import OVERLAP, since_text
from app.oauth import tokens
from app.oauth.providers import PROVIDERS
from app.services import connectors as service
from app.store.db import Database
from app.sync.deletions import MARKER
from app.vault import Vault
from tests.fakes.rest_server import serve_responses
from tests.fakes.xero import (
    CLIENT_ID,
    CLIENT_SECRET,
    HARBOUR,
    KAURI,
    PRACTICE,
    FakeXero,
    Grant,
    Tenant,
    serve_xero,
)

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=0.2)
VAULT = Vault(bytes(range(32)))
OVERLAP_MS = OVERLAP.total_seconds() * 1000
# What each status of a sales document makes of its lines.
SALES = {
    "Invoices": (
        "",
        1,
        "ACCREC",
        {"AUTHORISED": "open", "PAID": "fulfilled", "VOIDED": "cancelled"},
    ),
    "CreditNotes": (
        "CN-",
        -1,
        "ACCRECCREDIT",
        {"AUTHORISED": "refunded", "PAID": "refunded", "VOIDED": "cancelled"},
    ),
}


@pytest.fixture
def xero(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeXero]:
    """The fake Xero, with the preset's hosts and the OAuth provider pointed at it."""
    with serve_xero() as fake:
        monkeypatch.setattr(api, "API_URL", fake.api_url)
        monkeypatch.setattr(api, "CONNECTIONS_URL", fake.connections_url)
        provider = dataclasses.replace(PROVIDERS["xero"], token_url=fake.token_url)
        monkeypatch.setitem(PROVIDERS, "xero", provider)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET", CLIENT_SECRET)
        yield fake
    tokens.forget_rotations()


@pytest.fixture
def preset() -> XeroPreset:
    preset = XeroPreset()
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    preset.pacing = Pacing(window=0.5)
    preset.invoice_page_size = 100  # Harbour's 105 sales invoices take two pages
    return preset


def settings(grant: Grant, tenant: Tenant | None = HARBOUR, **values: Any) -> dict[str, Any]:
    chosen = {"tenant_id": tenant.tenant_id, "tenant_name": tenant.name} if tenant else {}
    return {**grant.secrets(), **chosen, **values}


def source(grant: Grant, tenant: Tenant | None = HARBOUR, **values: Any) -> SourceConfig:
    """A saved connector's configuration (it keeps what a refresh rotates)."""
    saved: list[dict[str, str]] = []
    return SourceConfig(values=settings(grant, tenant, **values), save_secrets=saved.append)


def lines(pages: list[Page]) -> dict[tuple[str, str], tuple[str | None, Decimal, str]]:
    found = {}
    for page in pages:
        for record in page.records:
            if MARKER in record:
                continue
            key = (record["order_id"], record["line_id"])
            assert key not in found, f"{key} read twice in one pull"
            found[key] = (record["sku"], Decimal(record["quantity"]), record["status"])
    return found


def markers(pages: list[Page]) -> set[str]:
    return {record[MARKER] for page in pages for record in page.records if MARKER in record}


def expected_lines(
    fake: FakeXero, tenant: Tenant
) -> dict[tuple[str, str], tuple[str | None, Decimal, str]]:
    """The demand lines of the fake's documents as they are now, worked out from its payload."""
    found = {}
    for kind, (prefix, sign, type_code, statuses) in SALES.items():
        for document in fake.documents(tenant, kind):
            if document["Type"] != type_code or document["Status"] not in statuses:
                continue
            document_id = document["InvoiceID" if kind == "Invoices" else "CreditNoteID"]
            for line in document["LineItems"]:
                if "Quantity" not in line:  # a comment line
                    continue
                found[(prefix + document_id, line["LineItemID"])] = (
                    line.get("ItemCode"),
                    sign * Decimal(str(line["Quantity"])),
                    statuses[document["Status"]],
                )
    return found


def gone(fake: FakeXero, tenant: Tenant) -> set[str]:
    """The sales documents that are voided or deleted, as order ids."""
    found = set()
    for kind, (prefix, _, type_code, _) in SALES.items():
        for document in fake.documents(tenant, kind):
            if document["Type"] == type_code and document["Status"] in ("VOIDED", "DELETED"):
                found.add(prefix + document["InvoiceID" if kind == "Invoices" else "CreditNoteID"])
    return found


def updated_ms(document: dict[str, Any]) -> int:
    found = re.match(r"/Date\((-?\d+)", document["UpdatedDateUTC"])
    assert found is not None
    return int(found.group(1))


def served_ids(fake: FakeXero) -> list[str]:
    return [document_id for call in fake.log for document_id in call.ids]


# -- declaration -------------------------------------------------------------------


def test_the_preset_is_registered_as_an_oauth_accounting_source() -> None:
    assert get_preset("xero") is XeroPreset
    assert XeroPreset.category is Category.ACCOUNTING
    assert XeroPreset.oauth_provider == "xero"
    assert XeroPreset.secret_fields() == {"access_token", "refresh_token", "token_expires_at"}
    described = next(p for p in service.describe_presets() if p["id"] == "xero")
    assert [field["name"] for field in described["fields"]] == [
        "tenant_id",
        "tenant_name",
        "access_token",
        "refresh_token",
        "token_expires_at",
    ]


def test_an_organisation_id_must_be_a_tenant_guid() -> None:
    with pytest.raises(ConfigurationError) as caught:
        XeroPreset.validate({"tenant_id": "Harbour Coffee"})
    assert "tenant id" in caught.value.fields["tenant_id"]
    assert XeroPreset.validate({"tenant_id": HARBOUR.tenant_id}) == {"tenant_id": HARBOUR.tenant_id}


def test_invoices_come_in_pages_of_500_unless_told_otherwise(xero: FakeXero) -> None:
    preset = XeroPreset()
    list(preset.pull(source(xero.grant(), KAURI), None))
    assert xero.log[0].params["pageSize"] == "500"
    assert "pageSize" not in xero.log[1].params, "CreditNotes pages are always 100"


# -- choosing the organisation -----------------------------------------------------


def test_without_a_chosen_organisation_nothing_is_read_and_every_one_is_named(
    xero: FakeXero, preset: XeroPreset
) -> None:
    config = source(xero.grant(), tenant=None)
    for operation in (preset.probe, lambda c: list(preset.pull(c, None))):
        with pytest.raises(ConfigurationError) as caught:
            operation(config)
        message = str(caught.value)
        assert "choose the organisation" in message
        for tenant in (HARBOUR, KAURI):
            assert tenant.name in message
            assert tenant.tenant_id in message
        assert "tenant_id" in caught.value.fields
    assert xero.log == [], "no Accounting API call without an organisation"


def test_a_sign_in_that_reaches_no_organisation_needs_a_reconnect(
    xero: FakeXero, preset: XeroPreset
) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(source(xero.grant(tenants=()), tenant=None))
    assert "no organisation" in str(caught.value)


# -- probe -----------------------------------------------------------------------------


def test_the_probe_names_the_organisation_and_reads_one_invoice(
    xero: FakeXero, preset: XeroPreset
) -> None:
    grant = xero.grant()
    result = preset.probe(source(grant, KAURI))
    assert result.account == "Kauri Outdoor Supplies"
    assert "Kauri Outdoor Supplies" in result.message
    assert result.details["base_currency"] == "AUD"
    assert result.details["calls_left_today"] == 4998
    assert [call.path for call in xero.log] == ["/Organisation", "/Invoices"]
    assert xero.log[1].params["pageSize"] == "1"
    for call in xero.log:
        assert call.headers["Xero-Tenant-Id"] == KAURI.tenant_id
        assert call.headers["Authorization"] == f"Bearer {grant.access_token}"


def test_the_probe_refuses_a_bad_token_without_showing_it(
    xero: FakeXero, preset: XeroPreset
) -> None:
    xero.grant()
    config = SourceConfig(
        values={"access_token": "not-a-token-5f2e", "tenant_id": HARBOUR.tenant_id}
    )
    with pytest.raises(AuthError) as caught:
        preset.probe(config)
    assert "not-a-token-5f2e" not in str(caught.value)
    assert xero.log[0].status == 401


def test_the_probe_fails_when_the_invoice_scope_was_revoked(
    xero: FakeXero, preset: XeroPreset
) -> None:
    grant = xero.grant()
    xero.revoke_scope("accounting.transactions.read")
    with pytest.raises(AuthError) as caught:
        preset.probe(source(grant))
    message = str(caught.value)
    assert "reconnect" in message
    assert "Xero says: AuthorizationUnsuccessful" in message
    assert [call.status for call in xero.log] == [200, 401, 401]
    assert xero.token_requests == 1, "one refresh, then the refusal stands"
    assert grant.access_token not in message


def test_an_organisation_no_longer_connected_asks_for_a_reconnect(
    xero: FakeXero, preset: XeroPreset
) -> None:
    grant = xero.grant()
    xero.disconnect(HARBOUR)
    with pytest.raises(AuthError) as caught:
        preset.probe(source(grant))
    assert "403" in str(caught.value)
    assert "reconnect" in str(caught.value)
    assert xero.token_requests == 0, "a 403 is not a stale token"


# -- pull --------------------------------------------------------------------------------


def test_a_full_pull_reads_every_sales_line_once(xero: FakeXero, preset: XeroPreset) -> None:
    grant = xero.grant()
    pages = list(preset.pull(source(grant), None))
    assert lines(pages) == expected_lines(xero, HARBOUR)
    assert markers(pages) == gone(xero, HARBOUR)
    statuses = {status for _, _, status in lines(pages).values()}
    assert statuses == {"open", "fulfilled", "refunded", "cancelled"}
    assert all(qty < 0 for _, qty, status in lines(pages).values() if status == "refunded")
    # Every call names the organisation and carries the token.
    assert {call.headers["Xero-Tenant-Id"] for call in xero.log} == {HARBOUR.tenant_id}
    assert {call.headers["Authorization"] for call in xero.log} == {f"Bearer {grant.access_token}"}
    # Invoices in two pages of 100 (the second from the first's last time), then credit notes.
    assert [call.path for call in xero.log] == ["/Invoices", "/Invoices", "/CreditNotes"]
    first, second, notes = xero.log
    assert (
        first.params.items()
        >= {
            "page": "1",
            "pageSize": "100",
            "order": "UpdatedDateUTC ASC",
            "where": 'Type=="ACCREC"',
        }.items()
    )
    assert "If-Modified-Since" not in first.headers
    assert second.headers["If-Modified-Since"] == pages[0].cursor["since"]
    assert notes.params["where"] == 'Type=="ACCRECCREDIT"'
    final = pages[-1].cursor
    assert set(final) == {"tenant_id", "high_water"}
    assert final["tenant_id"] == HARBOUR.tenant_id


def test_drafts_bills_and_comment_lines_give_no_demand(xero: FakeXero, preset: XeroPreset) -> None:
    pages = list(preset.pull(source(xero.grant()), None))
    read = {order_id for order_id, _ in lines(pages)}
    for document in xero.documents(HARBOUR):
        if document["Status"] in ("DRAFT", "SUBMITTED", "DELETED") or document["Type"] == "ACCPAY":
            assert document["InvoiceID"] not in read
    notes = [r for page in pages for r in page.records if r.get("document_type") == "ACCRECCREDIT"]
    assert notes, "sales credit notes are read"
    assert not any(r.get("description") == "Thank you!" for page in pages for r in page.records)


def test_dates_written_with_an_offset_keep_the_organisations_calendar_day(
    xero: FakeXero, preset: XeroPreset
) -> None:
    pages = list(preset.pull(source(xero.grant(), KAURI), None))
    documents = {
        doc.get("InvoiceID") or "CN-" + doc["CreditNoteID"]: doc
        for kind in SALES
        for doc in xero.documents(KAURI, kind)
    }
    records = [r for page in pages for r in page.records if MARKER not in r]
    assert records
    for record in records:
        document = documents[record["order_id"]]
        assert document["Date"].endswith("+1000)/")
        assert record["order_date"] == document["DateString"][:10]


def test_an_incremental_pull_fetches_only_what_changed(xero: FakeXero, preset: XeroPreset) -> None:
    grant = xero.grant()
    first = list(preset.pull(source(grant), None))
    cursor = first[-1].cursor
    marks = {
        kind: dt.datetime.fromisoformat(cursor["high_water"][name]).timestamp() * 1000
        for kind, name in (("Invoices", "invoices"), ("CreditNotes", "credit_notes"))
    }
    recent = {
        document.get("InvoiceID") or document["CreditNoteID"]
        for kind in SALES
        for document in xero.documents(HARBOUR, kind)
        if updated_ms(document) > marks[kind] - OVERLAP_MS
    }
    voided = xero.document(HARBOUR, "INV-0001")  # PAID
    xero.set_status(HARBOUR, "INV-0003", "VOIDED")  # AUTHORISED
    xero.set_quantity(HARBOUR, "INV-0002", 9.0)
    xero.set_status(HARBOUR, "INV-0005", "AUTHORISED")  # a draft approved
    added = xero.add_invoice(HARBOUR)
    credited = xero.add_credit_note(HARBOUR)
    changed = {
        xero.document(HARBOUR, number).get("InvoiceID")
        or xero.document(HARBOUR, number)["CreditNoteID"]
        for number in ("INV-0003", "INV-0002", "INV-0005", added, credited)
    }
    xero.log.clear()
    second = list(preset.pull(source(grant), cursor))
    # What changed, and what was last read within the overlap before the stored mark.
    served = set(served_ids(xero))
    assert changed <= served
    assert served - changed <= recent
    assert len(served) == len(changed) + len(served - changed) <= len(changed) + 2
    assert all("If-Modified-Since" in call.headers for call in xero.log)
    got = lines(second)
    read = served | {"CN-" + document_id for document_id in served}
    assert got == {
        key: value for key, value in expected_lines(xero, HARBOUR).items() if key[0] in read
    }
    inv3 = xero.document(HARBOUR, "INV-0003")["InvoiceID"]
    assert {status for (order, _), (_, _, status) in got.items() if order == inv3} == {"cancelled"}
    assert markers(second) == {inv3}
    assert voided["InvoiceID"] not in {order for order, _ in got}
    assert second[-1].cursor["high_water"]["invoices"] > cursor["high_water"]["invoices"]


def test_a_document_changed_during_the_pull_skips_nothing(
    xero: FakeXero, preset: XeroPreset
) -> None:
    grant = xero.grant()
    pages = preset.pull(source(grant), None)
    read = [next(pages)]
    # The first invoice changes after page 1: everything after it moves up a place.
    xero.set_quantity(HARBOUR, "INV-0001", 7.0)
    read.extend(pages)
    got: dict[tuple[str, str], Any] = {}
    for page in read:  # a document read twice is written twice; the later one wins
        for record in page.records:
            if MARKER not in record:
                got[(record["order_id"], record["line_id"])] = (
                    record["sku"],
                    Decimal(record["quantity"]),
                    record["status"],
                )
    assert got == expected_lines(xero, HARBOUR)


def test_a_stored_cursor_resumes_where_the_pull_stopped(xero: FakeXero, preset: XeroPreset) -> None:
    grant = xero.grant()
    whole = list(preset.pull(source(grant), None))
    xero.log.clear()
    resumed = list(preset.pull(source(grant), whole[0].cursor))
    first = xero.log[0]
    assert first.headers["If-Modified-Since"] == whole[0].cursor["since"]
    assert first.params["page"] == str(whole[0].cursor["page"])
    assert {**lines(whole[:1]), **lines(resumed)} == expected_lines(xero, HARBOUR)
    assert resumed[-1].cursor == whole[-1].cursor


def test_an_unreadable_position_rereads_that_list_instead_of_failing(
    xero: FakeXero, preset: XeroPreset
) -> None:
    grant = xero.grant()
    whole = list(preset.pull(source(grant), None))
    broken = {**whole[0].cursor, "since": "last tuesday", "page": "two"}
    xero.log.clear()
    resumed = list(preset.pull(source(grant), broken))
    # Documents come in UpdatedDateUTC order: the mark so far is where the list goes on.
    mark = dt.datetime.fromisoformat(broken["high_water"]["invoices"])
    assert xero.log[0].headers["If-Modified-Since"] == since_text(mark - OVERLAP)
    assert xero.log[0].params["page"] == "1"
    assert {**lines(whole[:1]), **lines(resumed)} == expected_lines(xero, HARBOUR)


def test_a_cursor_of_another_organisation_is_not_used(xero: FakeXero, preset: XeroPreset) -> None:
    grant = xero.grant()
    harbour = list(preset.pull(source(grant), None))
    xero.log.clear()
    kauri = list(preset.pull(source(grant, KAURI), harbour[-1].cursor))
    assert "If-Modified-Since" not in xero.log[0].headers
    assert lines(kauri) == expected_lines(xero, KAURI)
    assert kauri[-1].cursor["tenant_id"] == KAURI.tenant_id


# -- preview -----------------------------------------------------------------------------


def test_preview_rows_are_the_first_invoices_lines_in_canonical_columns(
    xero: FakeXero, sqlite_database: Database
) -> None:
    grant = xero.grant()
    shown = service.preview(sqlite_database, VAULT, preset="xero", values=settings(grant), limit=8)
    assert len(shown.rows) == 8
    documents = [
        d
        for d in xero.documents(HARBOUR)
        if d["Type"] == "ACCREC" and d["Status"] in ("AUTHORISED", "PAID", "VOIDED")
    ]
    source_lines = [
        (document, line)
        for document in documents
        for line in document["LineItems"]
        if "Quantity" in line
    ][:8]
    for row, errors, (document, line) in zip(shown.rows, shown.errors, source_lines, strict=True):
        assert row["order_id"] == document["InvoiceID"]
        assert row["line_id"] == line["LineItemID"]
        assert str(row["order_date"]) == document["DateString"][:10]
        assert row["quantity"] == Decimal(str(line["Quantity"]))
        assert row["unit_price"] == Decimal(str(line["UnitAmount"]))
        assert row["currency"] == "NZD"
        assert row["customer_id"] == document["Contact"]["ContactID"]
        if "ItemCode" in line:
            assert row["sku"] == line["ItemCode"]
            assert errors == {}
        else:
            assert "sku" in errors, "a line without an item code is flagged, not guessed"
    assert any("ItemCode" not in line for _, line in source_lines)
    assert {"tracking.Region", "description"} <= {field.path for field in shown.fields}
    assert xero.log[0].params["pageSize"] == "8"


# -- after sign-in -----------------------------------------------------------------------


def test_after_sign_in_a_single_organisation_is_chosen(xero: FakeXero) -> None:
    grant = xero.grant(tenants=(KAURI,))
    with requests.Session() as http:
        result = XeroPreset.after_connect(grant.secrets(), {}, http)
    assert result.account == KAURI.name
    assert result.settings == {"tenant_id": KAURI.tenant_id, "tenant_name": KAURI.name}
    assert result.choices == []


def test_after_sign_in_several_organisations_are_offered_and_none_is_chosen(
    xero: FakeXero,
) -> None:
    grant = xero.grant(tenants=(HARBOUR, PRACTICE, KAURI))
    with requests.Session() as http:
        result = XeroPreset.after_connect(grant.secrets(), {}, http)
    assert result.settings == {}
    assert result.choices == [
        {"id": HARBOUR.tenant_id, "name": HARBOUR.name},
        {"id": KAURI.tenant_id, "name": KAURI.name},
    ]
    assert result.choice_settings == ("tenant_id", "tenant_name")


def test_after_sign_in_without_an_organisation_the_connect_fails(xero: FakeXero) -> None:
    with requests.Session() as http:
        with pytest.raises(AuthError) as caught:
            XeroPreset.after_connect(xero.grant(tenants=(PRACTICE,)).secrets(), {}, http)
        assert "no organisation was authorised" in str(caught.value)
        with pytest.raises(ConnectorError):
            XeroPreset.after_connect({"access_token": "refused-token"}, {}, http)


# -- many documents in one second (a bulk import) -----------------------------------------


def same_second_api(count: int, *, honour_pages: bool) -> Any:
    """An Invoices endpoint whose ``count`` invoices were all updated in the same second."""
    invoices = [
        {
            "Type": "ACCREC",
            "InvoiceID": f"00000000-0000-4000-8000-{n:012d}",
            "Status": "AUTHORISED",
            "Date": "/Date(1717200000000+0000)/",
            "UpdatedDateUTC": "/Date(1717243200500+0000)/",
            "CurrencyCode": "NZD",
            "LineItems": [{"LineItemID": f"line-{n}", "ItemCode": "CB-250", "Quantity": 1.0}],
        }
        for n in range(count)
    ]

    def handler(request: Any) -> Any:
        from werkzeug.wrappers import Response

        page = int(request.args.get("page", 1)) if honour_pages else 1
        size = int(request.args.get("pageSize", 100))
        found = invoices if request.path.endswith("/Invoices") else []
        body = {"Status": "OK", request.path.rsplit("/", 1)[1]: found[(page - 1) * size :][:size]}
        return Response(json.dumps(body), mimetype="application/json")

    return handler


def scripted_source() -> SourceConfig:
    return SourceConfig(
        values={
            "access_token": "scripted-token",
            "token_expires_at": "2999-01-01T00:00:00+00:00",
            "tenant_id": HARBOUR.tenant_id,
        }
    )


def test_a_page_all_in_one_second_goes_on_by_page_number(
    preset: XeroPreset, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_responses(same_second_api(250, honour_pages=True)) as server:
        monkeypatch.setattr(api, "API_URL", server.url + "/api.xro/2.0")
        pages = list(preset.pull(scripted_source(), None))
    assert len(lines(pages)) == 250
    asked = [(r.query.get("page"), r.headers.get("If-Modified-Since")) for r in server.requests]
    assert asked == [
        ("1", None),
        ("1", "2024-06-01T11:59:59"),
        ("2", "2024-06-01T11:59:59"),
        ("3", "2024-06-01T11:59:59"),
        ("1", None),  # the credit notes
    ]


def test_a_source_that_ignores_the_page_number_is_stopped(
    preset: XeroPreset, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_responses(same_second_api(100, honour_pages=False)) as server:
        monkeypatch.setattr(api, "API_URL", server.url + "/api.xro/2.0")
        with pytest.raises(SourceDataError) as caught:
            list(preset.pull(scripted_source(), None))
    assert "ignored the page number" in str(caught.value)
    assert len(server.requests) == 3
