"""The NetSuite preset against the fake NetSuite account on 127.0.0.1.

The fake verifies every request's OAuth 1.0a signature with oauthlib, parses
and evaluates the SuiteQL it receives, and pages as SuiteTalk REST does.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from decimal import Decimal
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth1Auth

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    RateLimited,
    RetryableError,
)
from app.connectors.http import RetryPolicy
from app.connectors.netsuite import NetSuitePreset, suiteql
from app.connectors.netsuite.account import parse_account
from app.connectors.netsuite.auth import TokenAuth
from app.connectors.netsuite.preset import SUITEQL_PATH
from app.connectors.registry import get_preset
from app.mapping import validate_mapping
from tests.fakes import netsuite as fake

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)
PAGE = 4
OVERLAP = dt.timedelta(hours=1)


@pytest.fixture
def ns() -> Any:
    with fake.serve_netsuite(30) as server:
        yield server


def make_preset(server: fake.FakeNetSuite, page_size: int = PAGE) -> NetSuitePreset:
    preset = NetSuitePreset()
    preset.base_url_template = server.base_url_template
    preset.page_size = page_size
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


def config(server: fake.FakeNetSuite, **overrides: Any) -> SourceConfig:
    return SourceConfig(NetSuitePreset.validate(server.connector_settings(**overrides)))


def pull(preset: NetSuitePreset, cfg: SourceConfig, cursor: Any = None) -> list[Page]:
    return list(preset.pull(cfg, cursor))


def records(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def expected_lines(
    server: fake.FakeNetSuite, record_types: str = "sales_orders", since: dt.datetime | None = None
) -> dict[int, dict[str, Any]]:
    """The demand lines the fake holds, by unique key, worked out from its tables."""
    types = suiteql.TYPES[record_types]
    transactions = {row["id"]: row for row in server.transactions()}
    out = {}
    for line in server.lines():
        transaction = transactions[line["transaction"]]
        if (
            transaction["type"] in types
            and line["mainline"] == "F"
            and line["taxline"] == "F"
            and line["iscogs"] == "F"
            and line["itemtype"] in suiteql.ITEM_TYPES
            and (since is None or transaction["lastmodifieddate"] >= since)
        ):
            out[line["uniquekey"]] = {**line, "transaction_row": transaction}
    return out


def keys(pages: list[Page]) -> list[int]:
    return [int(record["uniquekey"]) for record in records(pages)]


# -- declaration and settings -------------------------------------------------------------


def test_the_preset_is_registered_as_an_erp_with_secret_credentials() -> None:
    assert get_preset("netsuite") is NetSuitePreset
    assert NetSuitePreset.category is Category.ERP
    assert NetSuitePreset.secret_fields() == {
        "consumer_key",
        "consumer_secret",
        "token_id",
        "token_secret",
    }
    specs = {spec.name: spec for spec in NetSuitePreset.fields}
    assert specs["record_types"].choices == ("sales_orders", "invoices", "both")
    mapping = validate_mapping(NetSuitePreset.default_mapping())
    assert set(mapping.columns) >= {"order_id", "line_id", "order_date", "sku", "quantity"}


@pytest.mark.parametrize(
    ("typed", "realm", "host"),
    [
        ("1234567", "1234567", "1234567"),
        ("1234567_SB1", "1234567_SB1", "1234567-sb1"),
        ("1234567_sb1", "1234567_SB1", "1234567-sb1"),
        ("1234567-sb1", "1234567_SB1", "1234567-sb1"),
        (" 1234567-RP ", "1234567_RP", "1234567-rp"),
        ("tstdrv998877", "TSTDRV998877", "tstdrv998877"),
    ],
)
def test_account_ids_are_read_in_any_spelling(typed: str, realm: str, host: str) -> None:
    account = parse_account(typed)
    assert (account.realm, account.host_label) == (realm, host)


def test_settings_store_the_realm_form_and_refuse_bad_ids_by_name() -> None:
    base = {
        "account_id": fake.ACCOUNT,
        "consumer_key": fake.CONSUMER_KEY,
        "consumer_secret": fake.CONSUMER_SECRET,
        "token_id": fake.TOKEN_ID,
        "token_secret": fake.TOKEN_SECRET,
    }
    out = NetSuitePreset.validate({**base, "account_id": "1234567-sb1"})
    assert out["account_id"] == "1234567_SB1"
    with pytest.raises(ConfigurationError) as caught:
        NetSuitePreset.validate({**base, "account_id": "https://1234567.app.netsuite.com"})
    assert "account_id" in caught.value.fields
    assert "Account ID must be the account id" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        NetSuitePreset.validate({**base, "custom_fields": "custbody_channel, memo; drop table"})
    assert "not a transaction body (custbody…) or line (custcol…) field id" in str(caught.value)
    out = NetSuitePreset.validate({**base, "custom_fields": "CUSTBODY_channel;custcol_bin"})
    assert out["custom_fields"] == "custbody_channel, custcol_bin"


# -- token-based authentication --------------------------------------------------------------


def test_probe_signs_with_the_realm_and_host_forms_and_reports_the_account(
    ns: fake.FakeNetSuite,
) -> None:
    result = make_preset(ns).probe(config(ns, account_id="1234567-sb1"))
    assert result.account == "1234567_SB1"
    assert "Connected to NetSuite account 1234567_SB1" in result.message
    sales = [row for row in ns.transactions() if row["type"] in ("SalesOrd", "RtnAuth")]
    assert result.details["transactions"] == len(sales)
    assert ns.auth_failures == 0
    assert ns.log[-1].limit == 1


def test_the_host_must_use_the_hyphenated_lower_case_form(ns: fake.FakeNetSuite) -> None:
    preset = make_preset(ns)
    # A template that (wrongly) puts the realm form in the host.
    preset.base_url_template = ns.url + "/1234567_SB1"
    with pytest.raises(AuthError) as caught:
        preset.probe(config(ns))
    assert "Invalid login attempt" in str(caught.value)
    assert "INVALID_LOGIN" in str(caught.value)


def test_the_production_account_refuses_a_sandbox_token(ns: fake.FakeNetSuite) -> None:
    with pytest.raises(AuthError) as caught:
        make_preset(ns).probe(config(ns, account_id="1234567"))
    assert "Invalid login attempt" in str(caught.value)


@pytest.mark.parametrize("setting", ["consumer_secret", "token_secret", "token_id"])
def test_a_wrong_credential_is_refused_with_netsuites_message(
    ns: fake.FakeNetSuite, setting: str
) -> None:
    with pytest.raises(AuthError) as caught:
        make_preset(ns).probe(config(ns, **{setting: "wrong-value-0123456789abcdef"}))
    message = str(caught.value)
    assert "NetSuite refused the credentials (HTTP 401" in message
    assert "Invalid login attempt" in message
    assert all(secret not in message for secret in fake.SECRETS)


def _signed(auth: Any, url: str) -> requests.PreparedRequest:
    request = requests.Request(
        "POST",
        url,
        params={"limit": 1, "offset": 0},
        json={"q": "SELECT t.id FROM transaction t"},
        headers={"Prefer": "transient"},
        auth=auth,
    )
    return request.prepare()


def test_the_fake_verifies_signatures_independently(ns: fake.FakeNetSuite) -> None:
    url = ns.base_url_template.format(host=fake.HOST_LABEL) + SUITEQL_PATH
    account = parse_account(fake.ACCOUNT)
    good = TokenAuth(
        account, fake.CONSUMER_KEY, fake.CONSUMER_SECRET, fake.TOKEN_ID, fake.TOKEN_SECRET
    )
    with requests.Session() as session:
        prepared = _signed(good, url)
        assert session.send(prepared).status_code == 200
        # The same signed request again: a reused nonce is refused.
        assert session.send(prepared).status_code == 401
        tampered = _signed(good, url)
        header = tampered.headers["Authorization"]
        signature = re.search(r'oauth_signature="([^"]+)"', header)
        assert signature is not None
        flipped = ("B" if signature.group(1)[0] != "B" else "C") + signature.group(1)[1:]
        tampered.headers["Authorization"] = header.replace(signature.group(1), flipped)
        assert session.send(tampered).status_code == 401
        # A changed query string after signing breaks the signature too.
        moved = _signed(good, url)
        moved.url = moved.url.replace("offset=0", "offset=1000").replace("limit=1", "limit=1000")
        assert session.send(moved).status_code == 401
        # HMAC-SHA1 with the right secrets is no longer accepted.
        sha1 = OAuth1Auth(
            fake.CONSUMER_KEY,
            client_secret=fake.CONSUMER_SECRET,
            token=fake.TOKEN_ID,
            token_secret=fake.TOKEN_SECRET,
            realm=fake.ACCOUNT,
        )
        assert session.send(_signed(sha1, url)).status_code == 401
        answer = session.send(_signed(good, url))
    assert answer.status_code == 200
    assert answer.json()["items"]


# -- permissions and errors ----------------------------------------------------------------


def test_a_role_without_transaction_access_gets_netsuites_message_and_a_hint() -> None:
    with (
        fake.serve_netsuite(5, can_read_transactions=False) as server,
        pytest.raises(ConnectorError) as caught,
    ):
        make_preset(server).probe(config(server))
    assert not isinstance(caught.value, AuthError), "a permission is fixed in NetSuite, not here"
    message = str(caught.value)
    assert "Record 'transaction' was not found" in message
    assert "INVALID_PARAMETER" in message
    assert "permission" in message


def test_an_unknown_custom_field_is_named_by_the_probe(ns: fake.FakeNetSuite) -> None:
    with pytest.raises(ConnectorError) as caught:
        make_preset(ns).probe(config(ns, custom_fields="custbody_nope"))
    assert "Field 'custbody_nope' for record 'transaction' was not found" in str(caught.value)


# -- reading lines --------------------------------------------------------------------------


def test_a_full_pull_reads_every_demand_line_once_in_key_order(ns: fake.FakeNetSuite) -> None:
    pages = pull(make_preset(ns), config(ns))
    expected = expected_lines(ns)
    read = keys(pages)
    assert read == sorted(expected), "each line once, ordered by its unique key"
    assert all(len(page.records) == PAGE for page in pages[:-1])
    assert {page.total for page in pages} == {len(expected)}
    # Ties: transactions three at a time share lastmodifieddate, and pages cut through them.
    stamps = [record["lastmodified"] for record in records(pages)]
    assert len(set(stamps)) < len(stamps) / 3
    queries = {entry.query for entry in ns.log}
    assert all(query.endswith("ORDER BY tl.uniquekey") for query in queries)
    assert [entry.offset for entry in ns.log] == [PAGE * n for n in range(len(pages))]


def test_records_carry_demand_signs_statuses_and_iso_dates(ns: fake.FakeNetSuite) -> None:
    pages = pull(make_preset(ns), config(ns, record_types="both"))
    expected = expected_lines(ns, "both")
    kinds = set()
    for record in records(pages):
        line = expected[int(record["uniquekey"])]
        transaction = line["transaction_row"]
        kinds.add(transaction["type"])
        assert Decimal(record["quantity"]) == -line["quantity"]
        if transaction["type"] in ("CustCred", "RtnAuth"):
            assert Decimal(record["quantity"]) < 0
            assert record["demand_status"] in ("refunded", "cancelled")
        else:
            assert Decimal(record["quantity"]) > 0
        if transaction["type"] == "SalesOrd" and transaction["status"] == "C":
            assert record["demand_status"] == "cancelled"
        assert record["trandate"] == transaction["trandate"].isoformat()
        assert record["lastmodified"] == transaction["lastmodifieddate"].strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        assert record["sku"].startswith("SKU-")
        assert record["currency"] in ("USD", "EUR")
        assert "links" not in record
    assert kinds == {"SalesOrd", "RtnAuth", "CustInvc", "CustCred", "CashSale"}


@pytest.mark.parametrize("date_format", ["dd.MM.yyyy", "M/d/yyyy"])
def test_the_users_date_preferences_do_not_change_the_query_or_its_dates(
    date_format: str,
) -> None:
    with fake.serve_netsuite(12, date_format=date_format) as server:
        preset = make_preset(server, page_size=50)
        first = pull(preset, config(server))
        server.touch([1001])
        second = pull(preset, config(server), first[-1].cursor)
        queries = [entry.query for entry in server.log]
    for record in records(first) + records(second):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["trandate"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record["lastmodified"])
    assert "TO_CHAR(t.trandate, 'YYYY-MM-DD')" in queries[0]
    assert "TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS')" in queries[0]
    assert re.search(
        r"t\.lastmodifieddate >= TO_DATE\('\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', "
        r"'YYYY-MM-DD HH24:MI:SS'\)",
        queries[-1],
    )


def test_the_fake_reads_a_bare_date_in_the_users_format_as_netsuite_does() -> None:
    """Why the explicit formats matter: the same text fails for a German user."""
    with fake.serve_netsuite(3, date_format="dd.MM.yyyy") as server:
        url = server.base_url_template.format(host=fake.HOST_LABEL) + SUITEQL_PATH
        auth = TokenAuth(
            parse_account(fake.ACCOUNT),
            fake.CONSUMER_KEY,
            fake.CONSUMER_SECRET,
            fake.TOKEN_ID,
            fake.TOKEN_SECRET,
        )
        query = "SELECT id FROM transaction WHERE lastmodifieddate >= '2024-03-01 09:00:00'"
        answer = requests.post(
            url,
            params={"limit": 5, "offset": 0},
            json={"q": query},
            headers={"Prefer": "transient"},
            auth=auth,
            timeout=10,
        )
    assert answer.status_code == 400
    detail = answer.json()["o:errorDetails"][0]["detail"]
    assert 'Parse of date/time "2024-03-01 09:00:00" failed with date format "dd.MM.yyyy"' in detail


def test_the_offset_ceiling_starts_a_new_window_after_the_last_key() -> None:
    with fake.serve_netsuite(30, max_results=10) as server:
        preset = make_preset(server)
        preset.max_results = 10
        pages = pull(preset, config(server))
        expected = expected_lines(server)
        log = list(server.log)
    assert keys(pages) == sorted(expected)
    assert all(entry.offset + entry.limit <= 10 for entry in log)
    assert {entry.status for entry in log} == {200}
    windows = [entry for entry in log if entry.offset == 0]
    assert len(windows) == -(-len(pages) // 2)
    assert all("tl.uniquekey >" in entry.query for entry in windows[1:])


def test_a_resumed_pull_reads_exactly_the_remaining_lines(ns: fake.FakeNetSuite) -> None:
    preset = make_preset(ns)
    whole = keys(pull(preset, config(ns)))
    stopped = list(preset.pull(config(ns), None))[:3]
    resumed = pull(preset, config(ns), stopped[-1].cursor)
    assert keys(stopped) + keys(resumed) == whole
    assert json.loads(json.dumps(stopped[-1].cursor)) == stopped[-1].cursor


def test_backfill_then_incremental_reads_what_changed_since_the_watermark(
    ns: fake.FakeNetSuite,
) -> None:
    preset = make_preset(ns, page_size=50)
    backfill = pull(preset, config(ns))
    cursor = backfill[-1].cursor
    newest = max(
        row["lastmodifieddate"]
        for row in ns.transactions()
        if row["type"] in ("SalesOrd", "RtnAuth")
    )
    assert cursor["watermark"] == newest.strftime("%Y-%m-%d %H:%M:%S")
    assert set(cursor) == {"scope", "watermark", "lookback_seconds"}
    touched_at = ns.touch([1001, 1003])
    added = ns.add_transactions(3)
    ns.touch(added)
    incremental = pull(preset, config(ns), cursor)
    bound = newest - OVERLAP - dt.timedelta(seconds=cursor["lookback_seconds"])
    expected = expected_lines(ns, since=bound)
    assert keys(incremental) == sorted(expected)
    read = {int(record["transaction_id"]) for record in records(incremental)}
    assert {1001, 1003} <= read
    assert read & set(added)
    old = {row["id"] for row in ns.transactions() if row["lastmodifieddate"] < bound}
    assert not read & old, "unchanged transactions before the overlap are not read again"
    for record in records(incremental):
        line = expected[int(record["uniquekey"])]
        assert Decimal(record["quantity"]) == -line["quantity"]
    assert incremental[-1].cursor["watermark"] >= touched_at.strftime("%Y-%m-%d %H:%M:%S")


def test_changing_the_transactions_read_starts_over(ns: fake.FakeNetSuite) -> None:
    preset = make_preset(ns, page_size=100)
    cursor = pull(preset, config(ns))[-1].cursor
    invoices = pull(preset, config(ns, record_types="invoices"), cursor)
    assert keys(invoices) == sorted(expected_lines(ns, "invoices"))
    assert "lastmodifieddate >=" not in ns.log[-1].query


def test_sample_asks_for_one_small_page(ns: fake.FakeNetSuite) -> None:
    sample = make_preset(ns).sample(config(ns), 3)
    assert len(sample) == 3
    assert [(entry.limit, entry.offset) for entry in ns.log] == [(3, 0)]


# -- discovery -----------------------------------------------------------------------------


def test_describe_fields_lists_the_accounts_custom_fields(ns: fake.FakeNetSuite) -> None:
    described = make_preset(ns).describe_fields(config(ns))
    by_path = {field.path: field for field in described}
    assert by_path["custbody_channel"].custom
    assert by_path["custcol_bin"].custom
    assert by_path["custbody_channel"].type == "string"
    assert not by_path["quantity"].custom
    assert by_path["quantity"].type == "decimal"
    assert by_path["trandate"].type == "date"
    assert {field.path for field in described if field.custom} == {
        "custbody_channel",
        "custcol_bin",
    }


def test_named_custom_fields_reach_the_records(ns: fake.FakeNetSuite) -> None:
    pages = pull(make_preset(ns, 100), config(ns, custom_fields="custbody_channel, custcol_bin"))
    expected = expected_lines(ns)
    with_channel = 0
    for record in records(pages):
        line = expected[int(record["uniquekey"])]
        assert record.get("custbody_channel") == line["transaction_row"]["custbody_channel"]
        assert record.get("custcol_bin") == line["custcol_bin"]
        with_channel += "custbody_channel" in record
    assert 0 < with_channel < len(expected), "empty custom values are left out, as NetSuite does"


# -- rate limits and failures -------------------------------------------------------------


def test_a_pull_rides_out_429s_and_5xx(ns: fake.FakeNetSuite) -> None:
    preset = make_preset(ns)
    ns.fail_with_429(2)
    ns.fail_with_5xx(1)
    pages = pull(preset, config(ns))
    assert keys(pages) == sorted(expected_lines(ns))
    assert [entry.status for entry in ns.log[:3]] == [429, 429, 503]


def test_exhausted_retries_end_with_netsuites_message(ns: fake.FakeNetSuite) -> None:
    ns.fail_with_429(FAST.attempts)
    with pytest.raises(RateLimited) as caught:
        pull(make_preset(ns), config(ns))
    assert "CONCURRENCY_LIMIT_EXCEEDED" in str(caught.value)
    assert "Gave up after 4 attempts" in str(caught.value)
    ns.fail_with_5xx(FAST.attempts, status=500)
    with pytest.raises(RetryableError) as failed:
        pull(make_preset(ns), config(ns))
    assert "HTTP 500" in str(failed.value)
    assert "An unexpected error occurred" in str(failed.value)


def test_no_secret_reaches_logs_cursors_or_errors(
    ns: fake.FakeNetSuite, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    preset = make_preset(ns)
    ns.fail_with_5xx(1)
    preset.probe(config(ns))
    pages = pull(preset, config(ns))
    with pytest.raises(AuthError) as caught:
        preset.probe(config(ns, token_secret="x" * 40))
    # oauthlib logs on the fake's side, which stands for NetSuite's servers.
    ours = [
        record.getMessage() for record in caplog.records if record.name.split(".")[0] != "oauthlib"
    ]
    assert any("POST /1234567-sb1/services/rest/query/v1/suiteql -> 200" in line for line in ours)
    text = "\n".join(ours) + json.dumps([page.cursor for page in pages]) + str(caught.value)
    for secret in fake.SECRETS:
        assert secret not in text
