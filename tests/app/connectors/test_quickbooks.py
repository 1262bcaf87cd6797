"""The QuickBooks Online preset against the fake QuickBooks API on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import AuthError, ConfigurationError, ConnectorError, RateLimited
from app.connectors.http import RetryPolicy
from app.connectors.quickbooks import api
from app.connectors.quickbooks.preset import QuickBooksPreset
from app.connectors.quickbooks.reader import Reader
from app.connectors.registry import get_preset
from app.oauth import ConnectResult, providers, tokens
from app.sync.deletions import MARKER, split_deleted
from tests.fakes import quickbooks as fake
from tests.fakes.quickbooks import (
    QuickBooksServer,
    description_line,
    discount_line,
    group_line,
    sales_line,
    serve_quickbooks,
    subtotal_line,
)

FAST = RetryPolicy(attempts=6, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)
PUMP, HOSE, LAMP = fake.ITEMS[1], fake.ITEMS[2], fake.ITEMS[4]


def point_at(monkeypatch: pytest.MonkeyPatch, server: QuickBooksServer, environment: str) -> None:
    """Send ``environment``'s API calls and every token refresh to ``server``."""
    monkeypatch.setitem(api.HOSTS, environment, server.url)
    provider = dataclasses.replace(
        providers.PROVIDERS["quickbooks"],
        authorize_url=server.url + "/connect/oauth2",
        token_url=server.token_url,
        revoke_url=server.url + "/v2/oauth2/tokens/revoke",
    )
    monkeypatch.setitem(providers.PROVIDERS, "quickbooks", provider)
    monkeypatch.setenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_ID", fake.CLIENT_ID)
    monkeypatch.setenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_SECRET", fake.CLIENT_SECRET)


@pytest.fixture(autouse=True)
def fresh_rotations() -> Iterator[None]:
    yield
    tokens.forget_rotations()


@pytest.fixture
def qbo(monkeypatch: pytest.MonkeyPatch) -> Iterator[QuickBooksServer]:
    with serve_quickbooks(invoices=12, credit_memos=3) as server:
        point_at(monkeypatch, server, "production")
        # Never the real sandbox host: a closed port here.
        monkeypatch.setitem(api.HOSTS, "sandbox", "http://127.0.0.1:9")
        yield server


@pytest.fixture
def preset() -> QuickBooksPreset:
    preset = QuickBooksPreset()
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


class Saved(list):
    """A ``save_secrets`` hook that keeps every call."""

    def __call__(self, updates: dict[str, str]) -> None:
        self.append(dict(updates))


def config_for(server: QuickBooksServer, **overrides: Any) -> SourceConfig:
    values = {
        "environment": "production",
        "realm_id": server.realm_id,
        "access_token": server.access_token,
        "refresh_token": server.refresh_token,
        **overrides,
    }
    return SourceConfig(values=values, save_secrets=Saved())


def pull(preset: QuickBooksPreset, config: SourceConfig, cursor: Any = None) -> list[Page]:
    return list(preset.pull(config, cursor))


def records(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in split_deleted(page.records)[0]]


def api_requests(server: QuickBooksServer) -> list[fake.Served]:
    return list(server.requests)


# -- the preset's declaration ---------------------------------------------------------


def test_registered_as_an_accounting_preset_with_oauth_fields() -> None:
    cls = get_preset("quickbooks")
    assert cls is QuickBooksPreset
    assert cls.category is Category.ACCOUNTING
    assert cls.oauth_provider == "quickbooks"
    assert {"access_token", "refresh_token", "token_expires_at"} <= cls.secret_fields()
    fields = {spec.name: spec for spec in cls.fields}
    assert fields["environment"].choices == ("production", "sandbox")
    assert fields["environment"].default == "production"


def test_the_company_id_must_be_a_realm_id() -> None:
    with pytest.raises(ConfigurationError) as caught:
        QuickBooksPreset.validate({"realm_id": "../../other", "access_token": "x"})
    assert caught.value.fields == {"realm_id": "must be digits"}


def test_query_literals_are_quoted_and_escaped_as_quickbooks_reads_them() -> None:
    assert api.quote("O'Brien \\ Sons") == "'O\\'Brien \\\\ Sons'"
    query = api.select("Invoice", updated_from="2024-01-01T00:00:00-08:00", start=3, size=7)
    parsed = fake.parse_query(query)
    assert (parsed.entity, parsed.start, parsed.max_results) == ("Invoice", 3, 7)
    assert parsed.conditions == [("Metadata.LastUpdatedTime", ">=", "2024-01-01T00:00:00-08:00")]
    name = api.quote("O'Brien")
    parsed = fake.parse_query(f"select * from Customer where DisplayName = {name}")
    assert parsed.conditions == [("DisplayName", "=", "O'Brien")]


def test_fault_text_reads_both_casings_and_keeps_401_details_out() -> None:
    upper = {
        "Fault": {
            "Error": [
                {
                    "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    "Detail": "The request limit was reached.",
                    "code": "3001",
                }
            ],
            "type": "SERVICE",
        }
    }
    lower = {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired: eyJ-qbo-abcdefgh",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        }
    }
    assert api.fault_text(upper) == (
        "ThrottleExceeded: The request limit was reached. (error 003001)"
    )
    assert api.fault_text(lower, with_detail=False) == "AuthenticationFailed (error 003200)"
    assert api.fault_text({"QueryResponse": {}}) is None


def test_a_refused_query_reports_quickbooks_own_words(qbo: QuickBooksServer) -> None:
    config = config_for(qbo)
    client = api.QuickBooksClient(qbo.url, name="QuickBooks", auth=api.token_auth(config))
    with client, pytest.raises(ConnectorError) as caught:
        client.get_body(
            api.company_path(qbo.realm_id, "query"), params={"query": "SELECT * FROM Bogus"}
        )
    message = str(caught.value)
    assert message.startswith(
        f"QuickBooks answered HTTP 400 on GET /v3/company/{qbo.realm_id}/query: "
        "Error parsing query: QueryValidationError: Invalid entity name Bogus (error 4000)."
    )
    assert "intuit_tid 1-" in message
    assert not isinstance(caught.value, (AuthError, RateLimited))


# -- probe ------------------------------------------------------------------------------


def test_probe_reads_the_company_name(qbo: QuickBooksServer, preset: QuickBooksPreset) -> None:
    result = preset.probe(config_for(qbo))
    assert result.account == "Sandbox Company_US_1"
    assert "Sandbox Company_US_1" in result.message
    assert result.details["realm_id"] == qbo.realm_id
    (request,) = api_requests(qbo)
    assert request.path == f"/v3/company/{qbo.realm_id}/companyinfo/{qbo.realm_id}"
    assert request.params == {"minorversion": "75"}
    assert request.headers["Authorization"] == f"Bearer {qbo.access_token}"


def test_probe_with_a_bad_token_asks_for_a_reconnect(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    qbo.revoke_grant()
    config = config_for(qbo)
    with pytest.raises(AuthError) as caught:
        preset.probe(config)
    message = str(caught.value)
    assert "reconnect" in message.lower()
    assert "invalid_grant" in message
    assert qbo.access_token not in message
    assert qbo.refresh_token not in message
    # One 401, one refresh attempt (refused), no second call.
    assert [r.status for r in api_requests(qbo)] == [401]
    assert config.save_secrets == []


def test_probe_when_the_api_refuses_even_a_fresh_token_says_reconnect(
    qbo: QuickBooksServer, preset: QuickBooksPreset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token endpoint renews, but the company no longer lets the app in.
    original = qbo.fake._refusal
    monkeypatch.setattr(qbo.fake, "_refusal", lambda request: qbo.fake._unauthorized("revoked"))
    with pytest.raises(AuthError) as caught:
        preset.probe(config_for(qbo))
    monkeypatch.setattr(qbo.fake, "_refusal", original)
    assert "HTTP 401" in str(caught.value)
    assert "Reconnect" in str(caught.value)
    assert "intuit_tid" in str(caught.value)
    assert qbo.refreshes == 1
    assert [r.status for r in api_requests(qbo)] == [401, 401]


def test_probe_without_the_accounting_scope_names_the_scope(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    access, refresh = qbo.issue_grant(scopes=("openid", "email"))
    with pytest.raises(AuthError) as caught:
        preset.probe(config_for(qbo, access_token=access, refresh_token=refresh))
    message = str(caught.value)
    assert "HTTP 403" in message
    assert "com.intuit.quickbooks.accounting" in message
    assert access not in message


def test_probe_refreshes_an_expired_token_once_and_saves_the_rotation(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    qbo.expire_access_tokens()
    config = config_for(qbo)
    old_refresh = qbo.refresh_token
    assert preset.probe(config).account == "Sandbox Company_US_1"
    assert qbo.refreshes == 1
    (saved,) = config.save_secrets
    assert set(saved) == {"access_token", "refresh_token", "token_expires_at"}
    assert saved["refresh_token"] != old_refresh
    assert config["refresh_token"] == saved["refresh_token"]
    assert [r.status for r in api_requests(qbo)] == [401, 200]
    # The spent refresh token is gone; the saved one works.
    qbo.expire_access_tokens()
    assert preset.probe(config).account == "Sandbox Company_US_1"
    assert qbo.refreshes == 2


def test_not_connected_yet(qbo: QuickBooksServer, preset: QuickBooksPreset) -> None:
    config = SourceConfig(values={"environment": "production", "realm_id": qbo.realm_id})
    with pytest.raises(AuthError, match="not connected yet"):
        preset.probe(config)
    assert api_requests(qbo) == []


def test_the_environment_setting_chooses_the_host(
    qbo: QuickBooksServer, preset: QuickBooksPreset, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_quickbooks(invoices=2, credit_memos=0, company_name="Sandbox Bakery") as sandbox:
        point_at(monkeypatch, sandbox, "sandbox")
        result = preset.probe(config_for(sandbox, environment="sandbox"))
        assert result.account == "Sandbox Bakery"
        assert len(api_requests(sandbox)) == 1
    assert api_requests(qbo) == []
    assert api.HOSTS["production"] == qbo.url
    assert preset.probe(config_for(qbo)).account == "Sandbox Company_US_1"


# -- records ---------------------------------------------------------------------------


def test_only_sales_lines_count_bundles_included(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    lines = [
        sales_line("1", PUMP, 3, "15.50", "Pump, stainless"),
        description_line("2", "Leave at the gate"),
        group_line("4", fake.BUNDLE, 2, [sales_line("5", HOSE, 2, 5), sales_line("6", LAMP, 4, 2)]),
    ]
    lines += [discount_line(10, Decimal("74.50")), subtotal_line(Decimal("74.50"))]
    invoice = qbo.add_invoice(lines)
    found = [r for r in records(pull(preset, config_for(qbo))) if r["order_id"] == invoice]
    assert [(r["line_id"], r["sku"], r["quantity"], r["bundle"]) for r in found] == [
        ("1", "Pump", Decimal(3), None),
        ("4.5", "Hose", Decimal(2), "Starter Kit"),
        ("4.6", "Lamp", Decimal(4), "Starter Kit"),
    ]
    first = found[0]
    assert first["unit_price"] == Decimal("15.50")
    assert first["product_name"] == "Pump, stainless"
    assert first["status"] == "fulfilled"
    assert first["currency"] == "USD"


def test_credit_memo_lines_are_negative(qbo: QuickBooksServer, preset: QuickBooksPreset) -> None:
    memo = qbo.add_credit_memo([sales_line("1", PUMP, 2, 15), subtotal_line(Decimal(30))])
    (line,) = [r for r in records(pull(preset, config_for(qbo))) if r["order_id"] == f"CM-{memo}"]
    assert line["quantity"] == Decimal(-2)
    assert line["amount"] == Decimal(-30)
    assert line["unit_price"] == Decimal(15)
    assert line["status"] == "refunded"
    assert line["document_type"] == "CreditMemo"


def test_a_voided_invoice_keeps_its_lines_cancelled(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    qbo.void("Invoice", "4")
    found = [r for r in records(pull(preset, config_for(qbo))) if r["order_id"] == "4"]
    assert found, "a voided invoice keeps its lines"
    assert {(r["status"], r["quantity"], r["voided"]) for r in found} == {
        ("cancelled", Decimal(0), True)
    }
    others = [r for r in records(pull(preset, config_for(qbo))) if r["order_id"] == "5"]
    assert {r["status"] for r in others} == {"fulfilled"}


# -- pulls ------------------------------------------------------------------------------


def _expected_lines(server: QuickBooksServer) -> set[tuple[str, str]]:
    """(order id, line id) of every sales line the fake holds, read from its payloads."""
    out = set()
    for entity in fake.ENTITIES:
        prefix = "CM-" if entity == "CreditMemo" else ""
        for document_id in server.ids(entity):
            for line in server.document(entity, document_id)["Line"]:
                if line["DetailType"] == "SalesItemLineDetail":
                    out.add((prefix + document_id, line["Id"]))
                elif line["DetailType"] == "GroupLineDetail":
                    for part in line["GroupLineDetail"]["Line"]:
                        out.add((prefix + document_id, f"{line['Id']}.{part['Id']}"))
    return out


def test_a_full_pull_reads_every_sales_line_with_the_minor_version(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    preset.page_size = 4
    pages = pull(preset, config_for(qbo))
    keys = [(r["order_id"], r["line_id"]) for r in records(pages)]
    assert len(keys) == len(set(keys))
    assert set(keys) == _expected_lines(qbo)
    assert all(r.params["minorversion"] == "75" for r in api_requests(qbo))
    assert all(r.path.startswith(f"/v3/company/{qbo.realm_id}/") for r in api_requests(qbo))
    # A first pull has no lower bound, asks for pages of 4, and never asks the change feed.
    assert qbo.queries[0] == (
        "SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 4"
    )
    assert not any(r.path.endswith("/cdc") for r in api_requests(qbo))
    end = pages[-1].cursor
    assert set(end) == {"watermarks", "changes_since"}
    assert set(end["watermarks"]) == {"Invoice", "CreditMemo"}


@pytest.mark.parametrize("page_size", [1, 2, 3, 4])
def test_ties_at_page_boundaries_are_neither_skipped_nor_read_twice(
    qbo: QuickBooksServer, preset: QuickBooksPreset, page_size: int
) -> None:
    # The fake stamps three documents per time: small pages split the ties.
    preset.page_size = page_size
    keys = [(r["order_id"], r["line_id"]) for r in records(pull(preset, config_for(qbo)))]
    assert len(keys) == len(set(keys))
    assert set(keys) == _expected_lines(qbo)


def test_a_pull_resumes_from_any_page_cursor(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    preset.page_size = 4
    config = config_for(qbo)
    whole = records(pull(preset, config))
    for stop in range(1, 6):
        pages = preset.pull(config, None)
        first = [next(pages) for _ in range(stop)]
        pages.close()
        rest = pull(preset, config, first[-1].cursor)
        keys = {(r["order_id"], r["line_id"]) for r in records(first + rest)}
        assert keys == {(r["order_id"], r["line_id"]) for r in whole}, stop


@pytest.mark.parametrize(
    ("page_size", "edited"),
    [
        (4, "4"),  # read already, the only one read at the last time: the tie group shrinks
        (3, "2"),  # read already, among three at the last time
        (3, "8"),  # not read yet: it moves to the end
    ],
)
def test_a_document_edited_during_a_pull_is_not_lost(
    qbo: QuickBooksServer, preset: QuickBooksPreset, page_size: int, edited: str
) -> None:
    preset.page_size = page_size
    pages = preset.pull(config_for(qbo), None)
    seen = records([next(pages)])
    qbo.set_quantity(edited, "1", 42)
    seen += records(list(pages))
    keys = {(r["order_id"], r["line_id"]) for r in seen}
    assert keys == _expected_lines(qbo)
    assert [r["quantity"] for r in seen if (r["order_id"], r["line_id"]) == (edited, "1")][-1] == 42


def test_an_incremental_pull_reads_only_what_changed(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    config = config_for(qbo)
    cursor = pull(preset, config)[-1].cursor
    qbo.served.clear()
    qbo.queries.clear()
    qbo.set_quantity("2", "1", 9)
    new = qbo.add_invoices(2)
    pages = pull(preset, config, cursor)
    invoices = {key[1] for key in qbo.served if key[0] == "Invoice"}
    # What changed, plus the last tie group again (the 5-minute overlap).
    assert {"2", *new} <= invoices
    assert len(invoices) <= 3 + 3
    assert all("WHERE Metadata.LastUpdatedTime >=" in query for query in qbo.queries)
    changed = [r for r in records(pages) if (r["order_id"], r["line_id"]) == ("2", "1")]
    assert changed[0]["quantity"] == Decimal(9)
    memos = {key[1] for key in qbo.served if key[0] == "CreditMemo"}
    qbo.served.clear()
    pull(preset, config, pages[-1].cursor)
    # Nothing changed since: only what changed within the overlap before each watermark.
    assert {key[1] for key in qbo.served if key[0] == "Invoice"} == {"2", *new}
    assert {key[1] for key in qbo.served if key[0] == "CreditMemo"} <= memos


def test_deletions_from_the_change_feed_become_markers(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    config = config_for(qbo)
    cursor = pull(preset, config)[-1].cursor
    memo = qbo.ids("CreditMemo")[0]
    qbo.delete("Invoice", "3")
    qbo.delete("CreditMemo", memo)
    pages = pull(preset, config, cursor)
    markers = [r[MARKER] for page in pages for r in page.records if MARKER in r]
    assert sorted(markers) == sorted(["3", f"CM-{memo}"])
    (cdc,) = [r for r in api_requests(qbo) if r.path.endswith("/cdc")]
    assert cdc.params["entities"] == "Invoice,CreditMemo"
    assert cdc.params["minorversion"] == "75"
    since = dt.datetime.fromisoformat(cdc.params["changedSince"])
    assert since <= dt.datetime.fromisoformat(cursor["changes_since"])


def test_a_last_sync_beyond_the_change_window_reads_everything_again(
    qbo: QuickBooksServer, preset: QuickBooksPreset, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(qbo)
    cursor = pull(preset, config)[-1].cursor
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    cursor["changes_since"] = old.isoformat(timespec="seconds")
    qbo.requests.clear()
    qbo.queries.clear()
    caplog.set_level(logging.WARNING, logger="app.connectors.quickbooks.reader")
    pages = pull(preset, config, cursor)
    assert not any(r.path.endswith("/cdc") for r in api_requests(qbo))
    assert not any("WHERE" in query for query in qbo.queries)
    assert {(r["order_id"], r["line_id"]) for r in records(pages)} == _expected_lines(qbo)
    assert "beyond the 30 days" in caplog.text


def test_a_429_storm_slows_the_pull_without_failing_it(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    preset.page_size = 5
    qbo.throttle(4)
    pages = pull(preset, config_for(qbo))
    assert {(r["order_id"], r["line_id"]) for r in records(pages)} == _expected_lines(qbo)
    statuses = [r.status for r in api_requests(qbo)]
    assert statuses[:5] == [429, 429, 429, 429, 200]
    assert "Retry-After" not in str(api_requests(qbo)[0].headers)


def test_throttling_that_never_ends_fails_as_rate_limited(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    qbo.throttle(1000)
    with pytest.raises(RateLimited, match="throttling") as caught:
        pull(preset, config_for(qbo))
    assert "Gave up after 6 attempts" in str(caught.value)


def test_a_pull_refreshes_an_expired_token_once(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    qbo.expire_access_tokens()
    config = config_for(qbo)
    assert records(pull(preset, config))
    assert qbo.refreshes == 1
    assert len(config.save_secrets) == 1
    assert [r.status for r in api_requests(qbo)].count(401) == 1


# -- preview and sign-in --------------------------------------------------------------------


def test_sample_reads_the_newest_invoices_first(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    newest = qbo.add_invoice([sales_line("1", LAMP, 7, "2.5"), subtotal_line(Decimal("17.5"))])
    sample = preset.sample(config_for(qbo), 3)
    assert len(sample) == 3
    assert (sample[0]["order_id"], sample[0]["sku"], sample[0]["quantity"]) == (newest, "Lamp", 7)
    assert "DESC" in qbo.queries[0]
    assert "MAXRESULTS 3" in qbo.queries[0]


def test_reader_rejects_a_document_without_a_last_update_time(
    qbo: QuickBooksServer, preset: QuickBooksPreset
) -> None:
    qbo.add_invoice([sales_line("1", PUMP, 1, 1)], MetaData={})
    with pytest.raises(Exception, match=r"without MetaData\.LastUpdatedTime"):
        pull(preset, config_for(qbo))


def test_reader_page_size_is_capped_at_quickbooks_maximum(qbo: QuickBooksServer) -> None:
    assert Reader(None, qbo.realm_id, page_size=5000).page_size == 1000  # type: ignore[arg-type]


def test_after_connect_keeps_the_company_and_names_it(qbo: QuickBooksServer) -> None:
    token = {"access_token": qbo.access_token, "refresh_token": qbo.refresh_token}
    with requests.Session() as http:
        result = QuickBooksPreset.after_connect(token, {"realmId": qbo.realm_id}, http)
    assert isinstance(result, ConnectResult)
    assert result.account == "Sandbox Company_US_1"
    assert result.settings == {"realm_id": qbo.realm_id, "environment": "production"}
    assert result.choices == []
    (request,) = api_requests(qbo)
    assert request.path == f"/v3/company/{qbo.realm_id}/companyinfo/{qbo.realm_id}"


def test_after_connect_finds_a_sandbox_company(
    qbo: QuickBooksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_quickbooks(invoices=1, credit_memos=0, company_name="Sandbox Bakery") as sandbox:
        point_at(monkeypatch, sandbox, "sandbox")
        token = {"access_token": sandbox.access_token}
        with requests.Session() as http:
            result = QuickBooksPreset.after_connect(token, {"realmId": sandbox.realm_id}, http)
        assert api_requests(sandbox)[0].status == 200
    assert result.account == "Sandbox Bakery"
    assert result.settings["environment"] == "sandbox"
    # Production did not know the token: a development client's grant.
    assert [r.status for r in api_requests(qbo)] == [401]


def test_after_connect_without_a_company_fails_closed(qbo: QuickBooksServer) -> None:
    with requests.Session() as http, pytest.raises(AuthError, match="realmId"):
        QuickBooksPreset.after_connect({"access_token": qbo.access_token}, {}, http)
    assert api_requests(qbo) == []


def test_no_token_reaches_the_log(
    qbo: QuickBooksServer, preset: QuickBooksPreset, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    qbo.expire_access_tokens()
    config = config_for(qbo)
    preset.page_size = 4
    qbo.throttle(2)
    assert records(pull(preset, config))
    (saved,) = config.save_secrets
    assert caplog.records
    # The expiry is kept among the secrets only to be saved with the tokens.
    new_tokens = (saved["access_token"], saved["refresh_token"])
    for secret in (qbo.access_token, qbo.refresh_token, *new_tokens, fake.CLIENT_SECRET):
        assert secret not in caplog.text
