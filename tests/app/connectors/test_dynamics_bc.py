"""The Business Central preset against the fake identity platform and BC API on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.dynamics import odata
from app.connectors.dynamics.business_central import BusinessCentralPreset
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    ConnectorError,
    RetryableError,
)
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes import dynamics as fake

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)
VAULT = Vault(bytes(range(32)))
FIRST, SECOND = fake.COMPANIES[0][0], fake.COMPANIES[1][0]
INVOICES = 23
CAP = 5


@pytest.fixture
def bc() -> Iterator[fake.BusinessCentralFakes]:
    with fake.serve_business_central(invoices=INVOICES, orders=6, page_cap=CAP) as fakes:
        yield fakes


def point(preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes) -> BusinessCentralPreset:
    preset.login_url = bc.login_url
    preset.api_url = bc.api_url
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


@pytest.fixture
def preset(bc: fake.BusinessCentralFakes) -> BusinessCentralPreset:
    return point(BusinessCentralPreset(), bc)


@pytest.fixture
def on_fake(bc: fake.BusinessCentralFakes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Presets the services and the sync engine create read the fake too."""
    monkeypatch.setattr(BusinessCentralPreset, "login_url", bc.login_url)
    monkeypatch.setattr(BusinessCentralPreset, "api_url", bc.api_url)
    monkeypatch.setattr(BusinessCentralPreset, "retry_policy", FAST)
    monkeypatch.setattr(BusinessCentralPreset, "probe_retry_policy", FAST)


def pull(preset: BusinessCentralPreset, values: dict[str, Any], cursor: Any = None) -> list[Page]:
    return list(preset.pull(SourceConfig(dict(values)), cursor))


def keys(pages: list[Page]) -> list[tuple[str, int]]:
    return [(r["document"]["id"], r["sequence"]) for page in pages for r in page.records]


def document_requests(bc: fake.BusinessCentralFakes, entity_set: str = "salesInvoices") -> list:
    return bc.api.requests_to(f"/{entity_set}")


# -- declaration and settings ----------------------------------------------------------


def test_the_preset_is_registered_as_an_erp_with_its_fields() -> None:
    assert get_preset("dynamics_bc") is BusinessCentralPreset
    assert BusinessCentralPreset.category is Category.ERP
    assert BusinessCentralPreset.secret_fields() == {"client_secret"}
    specs = {spec.name: spec for spec in BusinessCentralPreset.fields}
    assert specs["environment"].default == "production"
    assert specs["documents"].choices == ("sales_invoices", "sales_orders")
    assert specs["api_route"].default == "v2.0"
    assert not specs["company_id"].required  # chosen after the probe lists the companies
    listed = {p["id"]: p for p in service.describe_presets()}["dynamics_bc"]
    assert listed["category"] == "ERP"


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        ({"tenant_id": "contoso/../other"}, "tenant_id", "tenant's GUID or a domain"),
        ({"company_id": "CRONUS USA, Inc."}, "company_id", "Test connection lists"),
        ({"environment": "prod/uction"}, "environment", "environment name"),
        ({"api_route": "contoso/demand"}, "api_route", "publisher/group/version"),
        ({"documents": "credit_memos"}, "documents", "must be one of"),
        ({"client_secret": ""}, "client_secret", "is required"),
    ],
)
def test_bad_settings_are_refused_by_name(
    bc: fake.BusinessCentralFakes, override: dict[str, str], field: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        BusinessCentralPreset.validate(bc.settings(**override))
    assert problem in caught.value.fields[field]


def test_a_company_id_is_kept_in_its_canonical_spelling(bc: fake.BusinessCentralFakes) -> None:
    out = BusinessCentralPreset.validate(bc.settings(company_id=FIRST.upper()))
    assert out["company_id"] == FIRST
    assert out["api_route"] == "v2.0"


# -- probe -------------------------------------------------------------------------------


def test_the_probe_lists_the_companies_for_the_operator_to_pick(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    result = preset.probe(SourceConfig(bc.settings(company_id=None)))
    assert result.details["companies"] == [
        {"id": cid, "name": name, "displayName": display} for cid, name, display in fake.COMPANIES
    ]
    assert "choose one of its 2 companies" in result.message
    assert bc.identity.token_scopes == ["https://api.businesscentral.dynamics.com/.default"]
    [served] = bc.api.log
    assert served.path == f"/v2.0/{fake.TENANT_ID}/production/api/v2.0/companies"


def test_the_probe_with_a_company_reads_one_of_its_documents(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    result = preset.probe(SourceConfig(bc.settings()))
    assert result.account == "CRONUS USA, Inc. (production)"
    assert result.details["company"]["id"] == FIRST
    [read] = document_requests(bc)
    assert f"companies({FIRST})" in read.path
    assert read.params == {"$top": "1", "$select": "id"}


def test_a_tenant_domain_signs_in_too(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    result = preset.probe(SourceConfig(bc.settings(tenant_id=fake.TENANT_DOMAIN)))
    assert result.details["companies"]


@pytest.mark.parametrize(
    ("override", "error", "said"),
    [
        ({"client_secret": "wrong-secret-value-0000"}, AuthError, "AADSTS7000215"),
        ({"tenant_id": "fabrikam.onmicrosoft.com"}, AuthError, "AADSTS90002"),
        ({"client_id": str(uuid.UUID(int=7))}, AuthError, "AADSTS700016"),
        ({"environment": "sandbox"}, ConnectorError, "no environment 'sandbox'"),
        ({"company_id": str(uuid.UUID(int=9))}, ConnectorError, "CRONUS Canada (0b9a8c7d"),
        ({"api_route": "fabrikam/demand/v1.0"}, ConnectorError, "API route 'fabrikam"),
    ],
)
def test_a_probe_failure_says_what_the_source_said(
    preset: BusinessCentralPreset,
    bc: fake.BusinessCentralFakes,
    override: dict[str, str],
    error: type[Exception],
    said: str,
) -> None:
    with pytest.raises(error) as caught:
        preset.probe(SourceConfig(bc.settings(**override)))
    assert said in str(caught.value)
    if error is ConnectorError:
        assert not isinstance(caught.value, AuthError | RetryableError)
    assert fake.CLIENT_SECRET not in str(caught.value)


def test_an_app_not_added_in_business_central_needs_reconnecting(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    bc.api.registered_apps.clear()
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(bc.settings()))
    assert "rejected the client credentials" in str(caught.value)
    # One fresh token on the 401, then the refusal is final.
    assert bc.identity.token_requests == 2


def test_a_missing_permission_is_reported_with_the_sources_words(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    bc.api.deny("salesInvoices")
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(bc.settings()))
    assert "HTTP 403" in str(caught.value)
    assert "current permissions prevented the action" in str(caught.value)


# -- pull ----------------------------------------------------------------------------------


def test_a_full_pull_follows_the_capped_pages_to_the_end(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    pages = pull(preset, bc.settings())
    expected = bc.api.item_lines(FIRST, "salesInvoices")
    assert sorted(keys(pages)) == sorted(expected)
    assert len(keys(pages)) == len(expected)  # each line once
    reads = document_requests(bc)
    assert len(reads) == math.ceil(INVOICES / CAP) == len(pages)
    # The service capped the pages below what was asked, and said nothing of the preference.
    assert all(r.headers["Prefer"] == "odata.maxpagesize=1000" for r in reads)
    assert all("$skiptoken" in r.params and r.params["$expand"] for r in reads[1:])
    assert pages[-1].cursor is not None
    assert "next" not in pages[-1].cursor
    assert all("next" in page.cursor for page in pages[:-1] if page.cursor is not None)


def test_records_are_item_lines_with_their_header(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    records = [r for page in pull(preset, bc.settings()) for r in page.records]
    assert {r["lineType"] for r in records} == {"Item"}
    codes = {location_id: code for location_id, code, _ in fake.LOCATIONS}
    for record in records:
        assert record["documentType"] == "salesInvoice"
        assert record["documentDate"] == record["document"]["invoiceDate"]
        assert record["locationCode"] == codes.get(record["locationId"])
        assert "salesInvoiceLines" not in record["document"]
        assert not any(key.startswith("@") for key in record)
    assert {r["locationCode"] for r in records} == {"EAST", "WEST", None}


def test_sales_orders_are_read_with_their_order_lines(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    pages = pull(preset, bc.settings(documents="sales_orders"))
    records = [r for page in pages for r in page.records]
    assert sorted(keys(pages)) == sorted(bc.api.item_lines(FIRST, "salesOrders"))
    assert {r["documentType"] for r in records} == {"salesOrder"}
    assert all(r["documentDate"] == r["document"]["orderDate"] for r in records)
    assert document_requests(bc, "salesOrders")[0].params["$expand"] == "salesOrderLines"


def test_the_company_picked_is_the_one_read(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    pages = pull(preset, bc.settings(company_id=SECOND))
    assert sorted(keys(pages)) == sorted(bc.api.item_lines(SECOND, "salesInvoices"))
    assert all(f"companies({SECOND})" in r.path for r in document_requests(bc))
    first = {doc_id for doc_id, _ in bc.api.item_lines(FIRST, "salesInvoices")}
    assert not first & {doc_id for doc_id, _ in keys(pages)}


def test_a_company_that_is_not_there_fails_with_business_centrals_message(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    missing = str(uuid.UUID(int=42))
    with pytest.raises(ConnectorError) as caught:
        pull(preset, bc.settings(company_id=missing))
    message = str(caught.value)
    assert f"no company {missing}" in message
    assert "the default company cannot be found" in message  # Business Central's own words
    assert not isinstance(caught.value, AuthError | RetryableError)


def test_a_pull_without_a_company_asks_for_one(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        pull(preset, bc.settings(company_id=None))
    assert "choose the company" in str(caught.value)
    assert bc.api.log == []


def test_backfill_then_incremental_reads_what_changed_since_the_watermark(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    first = pull(preset, bc.settings())
    cursor = first[-1].cursor
    assert cursor is not None
    newest = max(r["document"]["lastModifiedDateTime"] for page in first for r in page.records)
    assert cursor["watermark"] == newest
    numbers = [d["number"] for d in bc.api.documents[(FIRST, "salesInvoices")]]
    bc.api.touch(FIRST, "salesInvoices", numbers[2:4])
    added = bc.api.add_documents(FIRST, "salesInvoices", 2)
    bc.api.reset_log()

    second = pull(preset, bc.settings(), cursor)

    [first_read, *_] = document_requests(bc)
    since = odata.parse_time(cursor["watermark"]) - odata.OVERLAP
    since -= dt.timedelta(seconds=cursor["lookback_seconds"])
    assert first_read.params["$filter"] == f"lastModifiedDateTime gt {odata.filter_time(since)}"
    read = {r["document"]["number"] for page in second for r in page.records}
    assert read == set(bc.api.changed_after(FIRST, "salesInvoices", since))
    assert set(numbers[2:4]) | {d["number"] for d in added} <= read
    assert len(read) < INVOICES  # the unchanged history is not read again
    quantities = bc.api.item_lines(FIRST, "salesInvoices")
    for page in second:
        for record in page.records:
            key = (record["document"]["id"], record["sequence"])
            assert record["quantity"] == quantities[key]
    assert second[-1].cursor["watermark"] == max(
        d["lastModifiedDateTime"] for d in bc.api.documents[(FIRST, "salesInvoices")]
    )


def test_a_resumed_pull_reads_exactly_the_remaining_pages(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    full = pull(preset, bc.settings())
    resumed = pull(preset, bc.settings(), full[1].cursor)
    assert keys(resumed) == keys(full)[len(keys(full[:2])) :]


def test_a_cursor_of_other_settings_is_not_used(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    cursor = pull(preset, bc.settings())[-1].cursor
    bc.api.reset_log()
    pages = pull(preset, bc.settings(company_id=SECOND), cursor)
    assert "$filter" not in document_requests(bc)[0].params
    assert sorted(keys(pages)) == sorted(bc.api.item_lines(SECOND, "salesInvoices"))


def test_cancel_stops_before_the_next_page(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    config = SourceConfig(bc.settings())
    pages = preset.pull(config, None)
    next(pages)
    config.cancel.set()
    with pytest.raises(Cancelled):
        next(pages)
    pages.close()
    assert len(document_requests(bc)) == 1


# -- throttling, failures and tokens ------------------------------------------------------


def test_a_429_storm_slows_the_pull_without_failing_it(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    preset.retry_policy = RetryPolicy(attempts=6, backoff=0.01, jitter=0.01, retry_after_cap=5)
    # The locations and the first page pass; then three 429s asking for a second each.
    bc.api.fail_with_429(3, retry_after="1", at=3)
    pages = pull(preset, bc.settings())
    assert sorted(keys(pages)) == sorted(bc.api.item_lines(FIRST, "salesInvoices"))
    throttled = [s for s in bc.api.log if s.status == 429]
    assert len(throttled) == 3
    after = {s.number: s for s in bc.api.log}
    for served in throttled:
        follower = after[served.number + 1]
        assert follower.started - served.ended >= 0.9  # Retry-After was honoured
    assert bc.identity.token_requests == 1


def test_5xx_answers_are_retried(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    bc.api.fail_with_5xx(1, status=503, at=2)
    bc.api.fail_with_5xx(1, status=500, at=4)
    pages = pull(preset, bc.settings())
    assert sorted(keys(pages)) == sorted(bc.api.item_lines(FIRST, "salesInvoices"))
    assert [s.status for s in bc.api.log].count(200) == 1 + math.ceil(INVOICES / CAP)


def test_exhausted_retries_fail_after_the_pages_already_read(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    bc.api.fail_with_5xx(10, status=503, at=3)
    pages = preset.pull(SourceConfig(bc.settings()), None)
    first = next(pages)
    with pytest.raises(RetryableError) as caught:
        next(pages)
    pages.close()
    assert first.records
    assert first.cursor is not None
    assert "next" in first.cursor
    assert "HTTP 503" in str(caught.value)
    assert "temporarily unavailable" in str(caught.value)


def test_the_token_is_reused_until_it_expires_then_renewed(bc: fake.BusinessCentralFakes) -> None:
    # Tokens live 3 s; the client renews half a second early, so each serves 1.5 to 2.5 s
    # (authlib rounds the expiry down) while the pull's six requests take half a second each.
    bc.identity.token_lifetime = 3
    preset = point(BusinessCentralPreset(), bc)
    preset.token_leeway = 0.5
    bc.api.respond_slowly(10, 0.5)
    pages = pull(preset, bc.settings())
    assert sorted(keys(pages)) == sorted(bc.api.item_lines(FIRST, "salesInvoices"))
    used = [s.token for s in bc.api.log]
    assert all(s.status == 200 for s in bc.api.log)  # no request went out with a dead token
    assert 2 <= bc.identity.token_requests < len(used)
    assert len(set(used)) == bc.identity.token_requests
    assert max(used.count(token) for token in set(used)) >= 2


def test_a_token_revoked_mid_pull_is_renewed_once(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    pages = preset.pull(SourceConfig(bc.settings()), None)
    read = [next(pages)]
    bc.identity.revoke_all()
    read.extend(pages)
    assert sorted(keys(read)) == sorted(bc.api.item_lines(FIRST, "salesInvoices"))
    assert bc.identity.token_requests == 2
    assert [s.status for s in bc.api.log].count(401) == 1


# -- sample, discovery, preview, sync ------------------------------------------------------


def test_sample_asks_for_a_small_page(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    records = preset.sample(SourceConfig(bc.settings()), 3)
    assert 1 <= len(records) <= 3
    [read] = document_requests(bc)
    assert read.headers["Prefer"] == "odata.maxpagesize=3"


def test_fields_are_described_from_the_standard_metadata(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    fields = {f.path: f for f in preset.describe_fields(SourceConfig(bc.settings()))}
    assert fields["quantity"].type == "decimal"
    assert fields["lineObjectNumber"].type == "string"
    assert fields["lineType"].type == "string"  # an enumeration, sent as its member's name
    assert fields["shipmentDate"].type == "date"
    assert fields["document.lastModifiedDateTime"].type == "datetime"
    assert fields["document.invoiceDate"].type == "date"
    assert fields["documentDate"].type == "date"
    assert fields["locationCode"].type == "string"
    assert not any(f.custom for f in fields.values())
    assert "binCode" not in fields
    assert [s.path for s in bc.api.log][-1].endswith("/api/v2.0/$metadata")


def test_a_custom_api_route_brings_the_extension_fields_flagged(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes
) -> None:
    values = bc.settings(api_route=fake.CUSTOM_ROUTE)
    fields = {f.path: f for f in preset.describe_fields(SourceConfig(values))}
    assert {path for path, f in fields.items() if f.custom} == {
        "binCode",
        "document.salesChannel",
    }
    records = [r for page in pull(preset, values) for r in page.records]
    assert {r["document"]["salesChannel"] for r in records} == {"WEB", "STORE", "PHONE"}
    assert all(r["binCode"].startswith("BIN-") for r in records)
    reads = document_requests(bc)
    assert all(f"/api/{fake.CUSTOM_ROUTE}/companies" in r.path for r in reads)


def test_preview_maps_lines_onto_the_canonical_columns(
    sqlite_database: Database, bc: fake.BusinessCentralFakes, on_fake: None
) -> None:
    result = service.preview(sqlite_database, VAULT, preset="dynamics_bc", values=bc.settings())
    assert result.rows
    assert not any(result.errors)
    documents = {d["id"]: d for d in bc.api.documents[(FIRST, "salesInvoices")]}
    status = {"Open": "fulfilled", "Paid": "fulfilled", "Draft": "open", "Canceled": "cancelled"}
    for row in result.rows:
        document = documents[row["order_id"]]
        [line] = [
            li for li in document["salesInvoiceLines"] if str(li["sequence"]) == row["line_id"]
        ]
        assert row["sku"] == line["lineObjectNumber"]
        assert row["quantity"] == Decimal(str(line["quantity"]))
        assert row["unit_price"] == Decimal(str(line["unitPrice"]))
        assert row["order_date"] == dt.date.fromisoformat(document["invoiceDate"])
        assert row["currency"] == "USD"
        assert row["customer_id"] == document["customerNumber"]
        assert row["status"] == status[document["status"]]
        assert row["location"] in {"EAST", "WEST", "default"}
    assert {f.path for f in result.fields} >= {"lineObjectNumber", "document.number"}


def test_sales_order_statuses_map_to_open(
    sqlite_database: Database, bc: fake.BusinessCentralFakes, on_fake: None
) -> None:
    result = service.preview(
        sqlite_database,
        VAULT,
        preset="dynamics_bc",
        values=bc.settings(documents="sales_orders"),
    )
    assert result.rows
    assert not any(result.errors)
    assert {row["status"] for row in result.rows} == {"open"}


def stored(database: Database) -> dict[tuple[str, str], Decimal]:
    with database.session() as session:
        return {(r.order_id, r.line_id): r.quantity for r in session.scalars(select(DemandLine))}


def test_a_sync_backfills_then_updates_incrementally(
    database: Database, bc: fake.BusinessCentralFakes, on_fake: None
) -> None:
    created = service.add_connector(
        database, VAULT, preset="dynamics_bc", name="BC", values=bc.settings()
    )
    assert created["config"].get("client_secret") in (None, "********")

    first = sync_connector(database, VAULT, created["id"])

    expected = bc.api.item_lines(FIRST, "salesInvoices")
    assert first.status is SyncStatus.COMPLETE, first.error
    assert first.inserted == len(expected)
    assert first.rejected == 0
    assert stored(database) == {
        (doc_id, str(seq)): Decimal(str(qty)) for (doc_id, seq), qty in expected.items()
    }
    numbers = [d["number"] for d in bc.api.documents[(FIRST, "salesInvoices")]]
    bc.api.touch(FIRST, "salesInvoices", numbers[:2])
    added = bc.api.add_documents(FIRST, "salesInvoices", 1)

    second = sync_connector(database, VAULT, created["id"])

    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted == sum(
        1 for line in added[0]["salesInvoiceLines"] if line["lineType"] == "Item"
    )
    assert 0 < second.updated < len(expected)
    expected = bc.api.item_lines(FIRST, "salesInvoices")
    assert stored(database) == {
        (doc_id, str(seq)): Decimal(str(qty)) for (doc_id, seq), qty in expected.items()
    }
    with database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.HEALTHY


def test_refused_credentials_in_a_sync_ask_for_reconnecting(
    sqlite_database: Database, bc: fake.BusinessCentralFakes, on_fake: None
) -> None:
    created = service.add_connector(
        sqlite_database, VAULT, preset="dynamics_bc", name="BC", values=bc.settings()
    )
    bc.identity.clients[fake.CLIENT_ID] = "rotated-secret-value-1111"
    result = sync_connector(sqlite_database, VAULT, created["id"])
    assert result.status is SyncStatus.FAILED
    assert "AADSTS7000215" in (result.error or "")
    with sqlite_database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.NEEDS_RECONNECT


def test_no_secret_or_token_reaches_logs_errors_or_cursors(
    preset: BusinessCentralPreset, bc: fake.BusinessCentralFakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pages = pull(preset, bc.settings())
    preset.probe(SourceConfig(bc.settings()))
    bc.identity.clients[fake.CLIENT_ID] = "another-secret-value-2222"
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(bc.settings()))
    tokens = {s.token for s in bc.api.log if s.token}
    assert tokens
    texts = [caplog.text, str(caught.value), *(str(page.cursor) for page in pages)]
    for text in texts:
        assert fake.CLIENT_SECRET not in text
        assert not any(token in text for token in tokens)
