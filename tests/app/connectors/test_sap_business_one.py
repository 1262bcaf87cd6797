"""The Business One preset against the fake Service Layer on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    ConnectorError,
    RetryableError,
)
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from app.connectors.sap import business_one
from app.connectors.sap.business_one import BusinessOnePreset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes import sap as fake

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)
VAULT = Vault(bytes(range(32)))
INVOICES = 17
CREDIT_NOTES = 5
ORDERS = 9
PAGE = 6


@pytest.fixture
def b1() -> Iterator[fake.FakeServiceLayer]:
    with fake.serve_service_layer(
        invoices=INVOICES, credit_notes=CREDIT_NOTES, orders=ORDERS
    ) as server:
        yield server


@pytest.fixture
def preset() -> BusinessOnePreset:
    preset = BusinessOnePreset()
    preset.page_size = PAGE
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


@pytest.fixture
def on_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presets the services and the sync engine create use small pages and fast retries."""
    monkeypatch.setattr(BusinessOnePreset, "page_size", PAGE)
    monkeypatch.setattr(BusinessOnePreset, "retry_policy", FAST)
    monkeypatch.setattr(BusinessOnePreset, "probe_retry_policy", FAST)


def pull(preset: BusinessOnePreset, values: dict[str, Any], cursor: Any = None) -> list[Page]:
    return list(preset.pull(SourceConfig(dict(values)), cursor))


def lines(pages: list[Page]) -> list[tuple[str, int, int]]:
    return [
        (r["documentType"], r["DocEntry"], line["LineNum"])
        for page in pages
        for r in page.records
        for line in r["DocumentLines"]
    ]


def expected_lines(b1: fake.FakeServiceLayer, *sets: str) -> list[tuple[str, int, int]]:
    return sorted((name, entry, num) for name in sets for entry, num in b1.item_lines(name))


def reads(b1: fake.FakeServiceLayer, name: str) -> list[fake.Served]:
    return [s for s in b1.requests_to(f"/{name}") if s.status == 200]


# -- declaration and settings ----------------------------------------------------------


def test_the_preset_is_registered_as_an_erp_with_its_fields() -> None:
    assert get_preset("sap_business_one") is BusinessOnePreset
    assert BusinessOnePreset.category is Category.ERP
    assert BusinessOnePreset.secret_fields() == {"password"}
    specs = {spec.name: spec for spec in BusinessOnePreset.fields}
    assert specs["documents"].choices == ("orders", "invoices")
    assert specs["verify_tls"].default is True
    listed = {p["id"]: p for p in service.describe_presets()}["sap_business_one"]
    assert listed["category"] == "ERP"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://b1server:50000", "https://b1server:50000/b1s/v1"),
        ("https://b1server:50000/", "https://b1server:50000/b1s/v1"),
        ("https://b1server:50000/b1s/v2/", "https://b1server:50000/b1s/v2"),
        ("https://b1server:50000/B1S/V1", "https://b1server:50000/b1s/v1"),
    ],
)
def test_the_service_layer_url_is_tidied(url: str, expected: str) -> None:
    values = {"service_layer_url": url, "company_db": "X", "username": "u", "password": "p"}
    assert BusinessOnePreset.validate(values)["service_layer_url"] == expected


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        ({"service_layer_url": "https://b1:50000/api"}, "service_layer_url", "/b1s/v1 or"),
        ({"service_layer_url": "b1server:50000"}, "service_layer_url", "http:// or https://"),
        ({"company_db": ""}, "company_db", "is required"),
        ({"documents": "deliveries"}, "documents", "must be one of"),
        ({"ca_certificate": "/nowhere/server.crt"}, "ca_certificate", "cannot be read"),
    ],
)
def test_bad_settings_are_refused_by_name(
    b1: fake.FakeServiceLayer, override: dict[str, str], field: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BusinessOnePreset.validate(b1.settings(**override))
    assert problem in caught.value.fields[field]


# -- probe ---------------------------------------------------------------------------------


def test_the_probe_logs_in_reads_one_document_and_logs_out(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    result = preset.probe(SourceConfig(b1.settings()))
    assert result.account.startswith(fake.COMPANY_DB)
    assert result.details["Version"] == "1000190"
    assert "version 1000190" in result.message
    assert [s.path for s in b1.log] == ["/b1s/v1/Login", "/b1s/v1/Invoices", "/b1s/v1/Logout"]
    login = b1.log[0]
    read = b1.log[1]
    assert read.params == {"$top": "1", "$select": "DocEntry"}
    assert read.credential == login.credential  # the session the login opened
    assert b1.logins == b1.logouts == 1


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ({"password": "not-the-password-00"}, "Fail to get DB Credentials from SLD (-304)"),
        ({"username": "intruder"}, "Fail to get DB Credentials from SLD (-304)"),
        ({"company_db": "SBODEMODE"}, "Company database 'SBODEMODE' is not found"),
    ],
)
def test_a_refused_login_needs_reconnecting_with_the_service_layer_s_words(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer, override: dict[str, str], said: str
) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(b1.settings(**override)))
    message = str(caught.value)
    assert said in message
    assert "HTTP 401 on POST /b1s/v1/Login" in message
    assert "Check the company database" in message
    assert "not-the-password-00" not in message
    assert [s.path for s in b1.log] == ["/b1s/v1/Login"]  # refused at once, not retried


def test_a_missing_permission_is_reported_with_the_service_layer_s_words(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    b1.denied.add("Invoices")
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(b1.settings()))
    message = str(caught.value)
    assert "HTTP 403" in message
    assert f"No permission to read Invoices for user {fake.B1_USER} (-5006)" in message
    assert b1.logouts == 1  # the session is closed even so


# -- pull ----------------------------------------------------------------------------------


def test_invoices_then_credit_notes_are_read_to_the_end_and_the_session_closed(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    pages = pull(preset, b1.settings())
    assert sorted(lines(pages)) == expected_lines(b1, "Invoices", "CreditNotes")
    assert len(lines(pages)) == len(set(lines(pages)))  # each line once
    invoice_reads, note_reads = reads(b1, "Invoices"), reads(b1, "CreditNotes")
    assert len(invoice_reads) == math.ceil(INVOICES / PAGE)
    assert len(note_reads) == math.ceil(CREDIT_NOTES / PAGE)
    assert len(pages) == len(invoice_reads) + len(note_reads)
    assert all(r.headers["Prefer"] == f"odata.maxpagesize={PAGE}" for r in invoice_reads)
    assert invoice_reads[0].params == {"$orderby": "DocEntry"}
    assert [r.params.get("$skip") for r in invoice_reads] == [None, "6", "12"]
    # The cursor names the set and the link to go on with, then the next set, then the end.
    assert pages[0].cursor["set"] == "Invoices"
    assert pages[0].cursor["next"].endswith("$skip=6")
    assert pages[len(invoice_reads) - 1].cursor["set"] == "CreditNotes"
    assert "next" not in pages[len(invoice_reads) - 1].cursor
    assert "set" not in pages[-1].cursor
    assert set(pages[-1].cursor["watermarks"]) == {"Invoices", "CreditNotes"}
    assert b1.logins == b1.logouts == 1
    assert b1.log[-1].path == "/b1s/v1/Logout"


def test_records_are_documents_with_item_lines_and_derived_fields(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    records = [r for page in pull(preset, b1.settings()) for r in page.records]
    source = {(n, d["DocEntry"]): d for n in ("Invoices", "CreditNotes") for d in b1.documents[n]}
    for record in records:
        document = source[(record["documentType"], record["DocEntry"])]
        moment = dt.datetime.combine(document["UpdateDate"], document["UpdateTime"])
        assert record["updatedAt"] == moment.isoformat()
        assert record["currencyIso"] == ("EUR" if document["DocCurrency"] == "EUR" else None)
        assert record["U_SalesChannel"] in {"WEB", "STORE", "PHONE"}
        assert all(line["ItemCode"] for line in record["DocumentLines"])
        assert not any(key.startswith(("odata.", "@")) for key in record)
        if document["Cancelled"] == "tYES":
            assert record["demandStatus"] == "cancelled"
        elif record["documentType"] == "CreditNotes":
            assert record["demandStatus"] == "refunded"
        else:
            assert record["demandStatus"] == "fulfilled"
    services = [r for r in records if r["DocType"] == "dDocument_Service"]
    assert services
    assert all(r["DocumentLines"] == [] for r in services)  # no item, no demand


def test_orders_are_open_until_closed(preset: BusinessOnePreset, b1: fake.FakeServiceLayer) -> None:
    pages = pull(preset, b1.settings(documents="orders"))
    assert sorted(lines(pages)) == expected_lines(b1, "Orders")
    statuses = {r["DocEntry"]: r["demandStatus"] for page in pages for r in page.records}
    for document in b1.documents["Orders"]:
        if document["Cancelled"] == "tYES":
            assert statuses[document["DocEntry"]] == "cancelled"
        elif document["DocumentStatus"] == "bost_Close":
            assert statuses[document["DocEntry"]] == "fulfilled"
        else:
            assert statuses[document["DocEntry"]] == "open"
    assert reads(b1, "Invoices") == []


def test_a_cancelled_pull_stops_before_the_next_page_and_still_logs_out(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    config = SourceConfig(b1.settings())
    pages = preset.pull(config, None)
    next(pages)
    config.cancel.set()
    with pytest.raises(Cancelled):
        next(pages)
    pages.close()
    assert len(reads(b1, "Invoices")) == 1
    assert b1.logouts == 1
    assert b1.log[-1].path == "/b1s/v1/Logout"


def test_an_expiring_session_is_renewed_mid_pull_and_the_pull_goes_on(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    b1.session_requests = 2  # each session serves two requests, then times out
    pages = pull(preset, b1.settings())
    assert sorted(lines(pages)) == expected_lines(b1, "Invoices", "CreditNotes")
    document_reads = len(reads(b1, "Invoices")) + len(reads(b1, "CreditNotes"))
    assert document_reads == math.ceil(INVOICES / PAGE) + math.ceil(CREDIT_NOTES / PAGE)
    refused = [s for s in b1.log if s.status == 401 and not s.path.endswith("/Logout")]
    assert refused  # the service said so...
    assert b1.logins == 1 + len(refused)  # ...and each refusal cost one login, no more
    assert all(s.path != "/b1s/v1/Login" or s.status == 200 for s in b1.log)


def test_a_session_ended_between_pages_is_renewed(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    pages = preset.pull(SourceConfig(b1.settings()), None)
    read = [next(pages)]
    b1.expire_sessions()
    read.extend(pages)
    assert sorted(lines(read)) == expected_lines(b1, "Invoices", "CreditNotes")
    assert b1.logins == 2
    assert [s.status for s in b1.log].count(401) == 1


def test_an_idle_session_is_renewed_before_it_times_out(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A session of one minute is renewed before every request once it has been idle at all.
    monkeypatch.setattr("app.connectors.sap.service_layer.RENEW_MARGIN_SECONDS", 60.0)
    original = fake.FakeServiceLayer._login

    def short(self: fake.FakeServiceLayer, request: Any, version: int) -> Any:
        response, session = original(self, request, version)
        response.set_data(
            response.get_data(as_text=True).replace('"SessionTimeout": 30', '"SessionTimeout": 1')
        )
        return response, session

    monkeypatch.setattr(fake.FakeServiceLayer, "_login", short)
    pages = pull(preset, b1.settings(documents="orders"))
    assert sorted(lines(pages)) == expected_lines(b1, "Orders")
    assert [s.status for s in b1.log].count(401) == 0
    assert b1.logins == len(reads(b1, "Orders"))


def test_backfill_then_incremental_reads_the_days_since_the_watermark(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    first = pull(preset, b1.settings())
    cursor = first[-1].cursor
    marks = cursor["watermarks"]
    for name in ("Invoices", "CreditNotes"):
        newest = max(
            dt.datetime.combine(d["UpdateDate"], d["UpdateTime"]) for d in b1.documents[name]
        )
        assert marks[name] == newest.isoformat()
    b1.touch("Invoices", [2, 3])
    added = b1.add_documents("CreditNotes", 1)
    b1.reset_log()

    second = pull(preset, b1.settings(), cursor)

    lookback = dt.timedelta(seconds=cursor["lookback_seconds"])
    for name in ("Invoices", "CreditNotes"):
        day = (dt.datetime.fromisoformat(marks[name]) - business_one.OVERLAP - lookback).date()
        assert reads(b1, name)[0].params["$filter"] == f"UpdateDate ge '{day.isoformat()}'"
        got = {r["DocEntry"] for page in second for r in page.records if r["documentType"] == name}
        assert got == b1.changed_since(name, day)
    got_invoices = {
        r["DocEntry"] for p in second for r in p.records if r["documentType"] == "Invoices"
    }
    assert {2, 3} <= got_invoices
    assert len(got_invoices) < INVOICES  # the older days are not read again
    assert added[0]["DocEntry"] in {
        r["DocEntry"] for p in second for r in p.records if r["documentType"] == "CreditNotes"
    }
    quantities = b1.item_lines("Invoices")
    for page in second:
        for record in page.records:
            if record["documentType"] == "Invoices":
                for line in record["DocumentLines"]:
                    assert line["Quantity"] == quantities[(record["DocEntry"], line["LineNum"])]


def test_a_pull_resumed_mid_set_reads_exactly_the_remaining_pages(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    full = pull(preset, b1.settings())
    resumed = pull(preset, b1.settings(), full[0].cursor)
    assert lines(resumed) == lines(full)[len(lines(full[:1])) :]


def test_a_pull_resumed_between_sets_starts_the_next_set(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    full = pull(preset, b1.settings())
    boundary = math.ceil(INVOICES / PAGE) - 1
    assert full[boundary].cursor["set"] == "CreditNotes"
    b1.reset_log()
    resumed = pull(preset, b1.settings(), full[boundary].cursor)
    assert lines(resumed) == lines(full)[len(lines(full[: boundary + 1])) :]
    assert reads(b1, "Invoices") == []


def test_a_cursor_of_other_settings_is_not_used(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    cursor = pull(preset, b1.settings())[-1].cursor
    b1.reset_log()
    pages = pull(preset, b1.settings(documents="orders"), cursor)
    assert "$filter" not in reads(b1, "Orders")[0].params
    assert sorted(lines(pages)) == expected_lines(b1, "Orders")


def test_service_layer_v2_links_and_dates_are_understood(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    values = b1.settings(service_layer_url=f"{b1.url}/b1s/v2")
    first = pull(preset, values)
    assert sorted(lines(first)) == expected_lines(b1, "Invoices", "CreditNotes")
    assert all(s.path.startswith("/b1s/v2/") for s in b1.log)
    b1.reset_log()
    pull(preset, values, first[-1].cursor)
    literal = reads(b1, "Invoices")[0].params["$filter"]
    assert literal.startswith("UpdateDate ge 2024-")  # a bare date in OData v4


# -- throttling and failures --------------------------------------------------------------


def test_a_429_storm_slows_the_pull_without_failing_it(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    preset.retry_policy = RetryPolicy(attempts=6, backoff=0.01, jitter=0.01, retry_after_cap=5)
    b1.fail_with_429(2, retry_after="1", at=3)
    pages = pull(preset, b1.settings())
    assert sorted(lines(pages)) == expected_lines(b1, "Invoices", "CreditNotes")
    throttled = [s for s in b1.log if s.status == 429]
    assert len(throttled) == 2
    after = {s.number: s for s in b1.log}
    for served in throttled:
        assert after[served.number + 1].started - served.ended >= 0.9
    assert b1.logins == 1


def test_5xx_answers_are_retried_on_login_and_reads(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    b1.fail_with_5xx(1, status=503, at=1)  # the login
    b1.fail_with_5xx(1, status=500, at=4)  # a read
    pages = pull(preset, b1.settings())
    assert sorted(lines(pages)) == expected_lines(b1, "Invoices", "CreditNotes")
    assert b1.logins == 1


def test_exhausted_retries_fail_after_the_pages_already_read(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer
) -> None:
    b1.fail_with_5xx(10, status=503, at=3)
    pages = preset.pull(SourceConfig(b1.settings()), None)
    first = next(pages)
    with pytest.raises(RetryableError) as caught:
        next(pages)
    pages.close()
    assert first.cursor["next"]
    assert "HTTP 503" in str(caught.value)


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def b1_tls() -> Iterator[fake.FakeServiceLayer]:
    with fake.serve_service_layer(tls=True, invoices=4, credit_notes=1) as server:
        yield server


def test_a_self_signed_certificate_is_refused_with_advice(
    preset: BusinessOnePreset, b1_tls: fake.FakeServiceLayer
) -> None:
    with pytest.raises(ConnectorError) as caught:
        preset.probe(SourceConfig(b1_tls.settings()))
    message = str(caught.value)
    assert not isinstance(caught.value, AuthError | RetryableError)
    assert "could not be verified" in message
    assert "CA certificate" in message
    assert "Verify TLS certificate" in message
    assert b1_tls.log == []  # nothing was sent over the unverified connection


def test_the_service_layer_s_own_certificate_can_be_trusted(
    preset: BusinessOnePreset, b1_tls: fake.FakeServiceLayer
) -> None:
    assert b1_tls.ca_file is not None
    values = b1_tls.settings(ca_certificate=b1_tls.ca_file)
    pages = pull(preset, values)
    assert sorted(lines(pages)) == expected_lines(b1_tls, "Invoices", "CreditNotes")


def test_verification_can_be_turned_off_with_a_warning_in_the_log(
    preset: BusinessOnePreset, b1_tls: fake.FakeServiceLayer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # urllib3's per-request warning must not escape
        pages = pull(preset, b1_tls.settings(verify_tls="false"))
    assert sorted(lines(pages)) == expected_lines(b1_tls, "Invoices", "CreditNotes")
    assert caplog.text.count("TLS certificate verification is turned off") == 1


# -- discovery, preview, sync --------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_fields_are_described_from_the_metadata_with_udfs_flagged(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer, version: str
) -> None:
    values = b1.settings(service_layer_url=f"{b1.url}/b1s/{version}")
    fields = {f.path: f for f in preset.describe_fields(SourceConfig(values))}
    assert {path for path, f in fields.items() if f.custom} == {
        "U_SalesChannel",
        "DocumentLines[].U_BinLocation",
    }
    assert fields["DocumentLines[].Quantity"].type == "decimal"
    assert fields["DocumentLines[].ItemCode"].type == "string"
    assert fields["DocEntry"].type == "integer"
    assert fields["Cancelled"].type == "string"
    assert fields["DocDate"].type == ("date" if version == "v2" else "datetime")
    assert fields["demandStatus"].type == "string"
    assert fields["DocumentAdditionalExpenses[]"].type == "other"
    [served] = b1.requests_to("/$metadata")
    assert served.headers["Accept"] == "application/xml"


def test_preview_maps_lines_with_credit_notes_negative(
    sqlite_database: Database, b1: fake.FakeServiceLayer, on_fake: None
) -> None:
    result = service.preview(
        sqlite_database, VAULT, preset="sap_business_one", values=b1.settings(), limit=50
    )
    assert result.rows
    assert not any(result.errors)  # "$" is no ISO code: the currency is left empty
    source = {
        f"{n}-{d['DocEntry']}": (n, d) for n in ("Invoices", "CreditNotes") for d in b1.documents[n]
    }
    for row in result.rows:
        name, document = source[row["order_id"]]
        [line] = [ln for ln in document["DocumentLines"] if str(ln["LineNum"]) == row["line_id"]]
        sign = -1 if name == "CreditNotes" else 1
        assert row["quantity"] == sign * Decimal(str(line["Quantity"]))
        assert row["sku"] == line["ItemCode"]
        assert row["unit_price"] == Decimal(str(line["Price"]))
        assert row["location"] == line["WarehouseCode"]
        assert row["order_date"] == document["DocDate"]
        assert row["customer_id"] == document["CardCode"]
        assert row.get("currency") == ("EUR" if document["DocCurrency"] == "EUR" else None)
    assert {row["status"] for row in result.rows} >= {"fulfilled", "cancelled"}


def stored(database: Database) -> dict[tuple[str, str], tuple[Decimal, str | None]]:
    with database.session() as session:
        return {
            (r.order_id, r.line_id): (r.quantity, r.status)
            for r in session.scalars(select(DemandLine))
        }


def expected_store(b1: fake.FakeServiceLayer) -> dict[tuple[str, str], Decimal]:
    out = {}
    for name, sign in (("Invoices", 1), ("CreditNotes", -1)):
        for (entry, num), quantity in b1.item_lines(name).items():
            out[(f"{name}-{entry}", str(num))] = sign * Decimal(str(quantity))
    return out


def test_a_sync_backfills_then_updates_incrementally(
    database: Database, b1: fake.FakeServiceLayer, on_fake: None
) -> None:
    created = service.add_connector(
        database, VAULT, preset="sap_business_one", name="B1", values=b1.settings()
    )
    assert created["config"].get("password") in (None, "********")

    first = sync_connector(database, VAULT, created["id"])

    assert first.status is SyncStatus.COMPLETE, first.error
    assert first.rejected == 0
    assert {k: q for k, (q, _) in stored(database).items()} == expected_store(b1)
    b1.touch("Invoices", [1])
    b1.cancel("Invoices", 2)
    added = b1.add_documents("Invoices", 1)

    second = sync_connector(database, VAULT, created["id"])

    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted == sum(1 for ln in added[0]["DocumentLines"] if ln["ItemCode"])
    assert 0 < second.updated < len(expected_store(b1))
    lines_now = stored(database)
    assert {k: q for k, (q, _) in lines_now.items()} == expected_store(b1)
    assert {s for (order, _), (_, s) in lines_now.items() if order == "Invoices-2"} == {"cancelled"}
    assert b1.logins == b1.logouts == 2
    with database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.HEALTHY


def test_refused_credentials_in_a_sync_ask_for_reconnecting(
    sqlite_database: Database, b1: fake.FakeServiceLayer, on_fake: None
) -> None:
    created = service.add_connector(
        sqlite_database, VAULT, preset="sap_business_one", name="B1", values=b1.settings()
    )
    b1.users[fake.B1_USER] = "changed-password-1111"
    result = sync_connector(sqlite_database, VAULT, created["id"])
    assert result.status is SyncStatus.FAILED
    assert "Fail to get DB Credentials from SLD" in (result.error or "")
    with sqlite_database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.NEEDS_RECONNECT


def test_no_password_or_session_reaches_logs_errors_or_cursors(
    preset: BusinessOnePreset, b1: fake.FakeServiceLayer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    b1.session_requests = 2
    pages = pull(preset, b1.settings())
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(b1.settings(password="wrong-password-3333")))
    sessions = {s.credential for s in b1.log if s.credential}
    assert len(sessions) >= 2
    texts = [caplog.text, str(caught.value), *(str(page.cursor) for page in pages)]
    for text in texts:
        assert fake.B1_PASSWORD not in text
        assert "wrong-password-3333" not in text
        assert not any(session in text for session in sessions)
