"""The S/4HANA preset against the fake Sales Order API (OData v2) on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.wrappers import Request, Response

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    ConnectorError,
    RetryableError,
    SourceDataError,
)
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from app.connectors.sap import s4hana
from app.connectors.sap.s4hana import S4HanaPreset
from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.fakes import sap as fake
from tests.fakes.rest_server import serve_responses

FAST = RetryPolicy(attempts=4, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=5)
VAULT = Vault(bytes(range(32)))
ORDERS = 23
WINDOW = 10
CAP = 4


@pytest.fixture
def s4() -> Iterator[fake.FakeS4Hana]:
    with fake.serve_s4hana(orders=ORDERS, page_cap=CAP) as server:
        yield server


@pytest.fixture
def preset() -> S4HanaPreset:
    preset = S4HanaPreset()
    preset.page_size = WINDOW
    preset.retry_policy = FAST
    preset.probe_retry_policy = FAST
    return preset


@pytest.fixture
def on_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presets the services and the sync engine create use small windows and fast retries."""
    monkeypatch.setattr(S4HanaPreset, "page_size", WINDOW)
    monkeypatch.setattr(S4HanaPreset, "retry_policy", FAST)
    monkeypatch.setattr(S4HanaPreset, "probe_retry_policy", FAST)


def pull(preset: S4HanaPreset, values: dict[str, Any], cursor: Any = None) -> list[Page]:
    return list(preset.pull(SourceConfig(dict(values)), cursor))


def keys(pages: list[Page]) -> list[tuple[str, str]]:
    return [(r["SalesOrder"], r["SalesOrderItem"]) for page in pages for r in page.records]


def order_reads(s4: fake.FakeS4Hana) -> list[fake.Served]:
    return s4.requests_to("/A_SalesOrder")


def requests_for(count: int, window: int = WINDOW, cap: int = CAP) -> int:
    """Requests a full pull of ``count`` orders makes: windows, each capped into pages."""
    full, rest = divmod(count, window)
    last = math.ceil(rest / cap) if rest else 1  # a window of exactly ``window`` needs one more
    return full * math.ceil(window / cap) + last


# -- declaration and settings ----------------------------------------------------------


def test_the_preset_is_registered_as_an_erp_with_its_fields() -> None:
    assert get_preset("sap_s4hana") is S4HanaPreset
    assert S4HanaPreset.category is Category.ERP
    assert S4HanaPreset.secret_fields() == {"password", "client_secret"}
    specs = {spec.name: spec for spec in S4HanaPreset.fields}
    assert specs["auth"].choices == ("basic", "oauth2_client_credentials")
    assert specs["verify_tls"].default is True
    assert not specs["sap_client"].required
    listed = {p["id"]: p for p in service.describe_presets()}["sap_s4hana"]
    assert listed["category"] == "ERP"
    assert S4HanaPreset.default_mapping()["columns"]["status"] == {"path": "demandStatus"}


@pytest.mark.parametrize(
    ("override", "field", "problem"),
    [
        ({"host": "https://s4.example.com/sap/other"}, "host", "the host alone"),
        ({"host": "https://user:pw@s4.example.com"}, "host", "user name or password"),
        ({"sap_client": "1000"}, "sap_client", "three digits"),
        ({"auth": "saml"}, "auth", "must be one of"),
        ({"password": ""}, "password", "is required"),
        ({"ca_certificate": "/nowhere/ca.pem"}, "ca_certificate", "cannot be read"),
    ],
)
def test_bad_settings_are_refused_by_name(
    s4: fake.FakeS4Hana, override: dict[str, str], field: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        S4HanaPreset.validate(s4.settings(**override))
    assert problem in caught.value.fields[field]


def test_a_pasted_service_url_is_understood_as_its_host(s4: fake.FakeS4Hana) -> None:
    out = S4HanaPreset.validate(s4.settings(host=f"{s4.url}{fake.SERVICE_PATH}/"))
    assert out["host"] == s4.url


def test_a_file_that_is_not_a_certificate_is_refused(s4: fake.FakeS4Hana, tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate")
    with pytest.raises(ConfigurationError) as caught:
        S4HanaPreset.validate(s4.settings(ca_certificate=str(path)))
    assert "PEM" in caught.value.fields["ca_certificate"]


# -- probe and auth ------------------------------------------------------------------------


def test_the_probe_reads_one_order_with_the_count_using_basic_auth(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    result = preset.probe(SourceConfig(s4.settings()))
    assert result.details["sales_orders"] == ORDERS
    assert f"{ORDERS} sales orders can be read" in result.message
    assert result.account.endswith("(client 100)")
    [served] = s4.log
    assert served.path == f"{fake.SERVICE_PATH}/A_SalesOrder"
    assert served.params == {
        "$top": "1",
        "$select": "SalesOrder",
        "$inlinecount": "allpages",
        "$format": "json",
        "sap-client": "100",
    }
    assert served.headers["Authorization"].startswith("Basic ")
    assert served.credential == fake.S4_USER


def test_oauth_client_credentials_sign_in_with_a_bearer_token(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    result = preset.probe(SourceConfig(s4.oauth_settings()))
    assert result.details["auth"] == "oauth2_client_credentials"
    assert s4.token_requests == 1
    [served] = order_reads(s4)
    assert served.headers["Authorization"].startswith("Bearer ")
    assert "sap-client" not in served.params  # no client set: the system's default


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"password": "wrong-password-0000"}, "HTTP 401"),
        ({"username": "SOMEONE_ELSE"}, "HTTP 401"),
        ({"sap_client": "200"}, "client 200 is not available"),
    ],
)
def test_refused_basic_credentials_need_reconnecting_with_sap_s_answer(
    preset: S4HanaPreset, s4: fake.FakeS4Hana, settings: dict[str, str], said: str
) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(s4.settings(**settings)))
    message = str(caught.value)
    assert said in message
    assert "SAP_COM_0109" in message  # says what to check
    assert fake.S4_PASSWORD not in message
    assert "wrong-password-0000" not in message


def test_a_refused_oauth_client_needs_reconnecting(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(s4.oauth_settings(client_secret="not-the-secret-1234")))
    assert "Bad client credentials" in str(caught.value)
    assert "not-the-secret-1234" not in str(caught.value)
    assert order_reads(s4) == []


def test_a_missing_authorisation_is_reported_with_sap_s_message_and_code(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    s4.denied = True
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(s4.settings()))
    message = str(caught.value)
    assert "HTTP 403" in message
    assert f"User {fake.S4_USER} has no authorization to read sales orders" in message
    assert "(/IWFND/COD/004)" in message


def test_an_inactive_service_says_how_to_activate_it(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    s4.service_active = False
    with pytest.raises(ConnectorError) as caught:
        preset.probe(SourceConfig(s4.settings()))
    message = str(caught.value)
    assert not isinstance(caught.value, AuthError | RetryableError)
    assert "No service found for namespace '', name 'API_SALES_ORDER_SRV'" in message
    assert "/IWFND/MED/170" in message
    assert "Activate API_SALES_ORDER_SRV" in message


def test_a_token_revoked_mid_pull_is_renewed_once(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    pages = preset.pull(SourceConfig(s4.oauth_settings()), None)
    read = [next(pages)]
    s4.revoke_tokens()
    read.extend(pages)
    assert sorted(keys(read)) == sorted(s4.item_lines())
    assert s4.token_requests == 2
    assert [s.status for s in s4.log].count(401) == 1


# -- pull ----------------------------------------------------------------------------------


def test_a_full_pull_follows_windows_and_next_links_to_the_end(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    pages = pull(preset, s4.settings())
    assert sorted(keys(pages)) == sorted(s4.item_lines())
    assert len(keys(pages)) == len(s4.item_lines())  # each item once
    reads = order_reads(s4)
    assert len(reads) == requests_for(ORDERS) == len(pages)
    # Windows start after the last order read; the service's own pages carry $skiptoken.
    starts = [r.params.get("$filter") for r in reads if "$skiptoken" not in r.params]
    assert starts == [None, "SalesOrder gt '1000009'", "SalesOrder gt '1000019'"]
    assert all(r.params["$top"] == str(WINDOW) for r in reads)
    assert all(r.params["$expand"] == "to_Item" for r in reads)
    # A __next link leaves sap-client out; the connector adds it back.
    assert all(r.params["sap-client"] == "100" for r in reads)
    assert [p.cursor.get("next") is not None for p in pages].count(True) == len(reads) - 3
    assert "after" not in pages[-1].cursor
    assert pages[-1].cursor["lookback_seconds"] >= 0


def test_records_are_items_with_their_header_and_iso_dates(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    records = [r for page in pull(preset, s4.settings()) for r in page.records]
    orders = {o["SalesOrder"]: o for o in s4.orders}
    for record in records:
        order = orders[record["SalesOrder"]]
        header = record["to_SalesOrder"]
        assert header["SalesOrder"] == record["SalesOrder"]
        assert "to_Item" not in header
        assert header["SalesOrderDate"] == f"{order['SalesOrderDate'].isoformat()}T00:00:00"
        assert (
            dt.datetime.fromisoformat(header["LastChangeDateTime"]) == order["LastChangeDateTime"]
        )
        assert header["YY1_SalesChannel_SDH"] in {"WEB", "STORE", "EDI"}
        assert record["YY1_PromoCode_SDI"].startswith("PROMO")
        assert "__metadata" not in record
        assert "__metadata" not in header
        assert record["Material"]
    assert "" not in {r["Material"] for r in records}  # text items are left out
    assert any(item["Material"] == "" for order in s4.orders for item in order["items"])


def test_item_statuses_follow_rejection_and_processing(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    records = [r for page in pull(preset, s4.settings()) for r in page.records]
    for record in records:
        if record["SalesDocumentRjcnReason"]:
            assert record["demandStatus"] == "cancelled"
        elif record["SDProcessStatus"] == "C":
            assert record["demandStatus"] == "fulfilled"
        else:
            assert record["demandStatus"] == "open"
    assert {r["demandStatus"] for r in records} == {"open", "fulfilled", "cancelled"}


def test_backfill_then_incremental_reads_what_changed_since_the_watermark(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    first = pull(preset, s4.settings())
    cursor = first[-1].cursor
    newest = max(o["LastChangeDateTime"] for o in s4.orders)
    assert dt.datetime.fromisoformat(cursor["watermark"]) == newest
    s4.touch(["1000002", "1000011"])
    added = s4.add_orders(2)
    s4.reset_log()

    second = pull(preset, s4.settings(), cursor)

    since = newest - s4hana.OVERLAP - dt.timedelta(seconds=cursor["lookback_seconds"])
    literal = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    first_read = order_reads(s4)[0]
    assert first_read.params["$filter"] == f"LastChangeDateTime gt datetimeoffset'{literal}'"
    read = {r["SalesOrder"] for page in second for r in page.records}
    assert read == s4.changed_after(since)
    assert {"1000002", "1000011"} | {o["SalesOrder"] for o in added} <= read
    assert len(read) < ORDERS  # the unchanged history is not read again
    quantities = s4.item_lines()
    for page in second:
        for record in page.records:
            key = (record["SalesOrder"], record["SalesOrderItem"])
            assert Decimal(record["RequestedQuantity"]) == quantities[key]


def test_a_pull_resumed_mid_window_reads_exactly_the_remaining_pages(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    full = pull(preset, s4.settings())
    assert full[1].cursor.get("next")  # the second page ended inside a window
    resumed = pull(preset, s4.settings(), full[1].cursor)
    assert keys(resumed) == keys(full)[len(keys(full[:2])) :]


def test_a_pull_resumed_at_a_window_boundary_starts_after_the_last_order(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    full = pull(preset, s4.settings())
    boundary = next(
        i for i, page in enumerate(full) if "after" in page.cursor and not page.cursor.get("next")
    )
    s4.reset_log()
    resumed = pull(preset, s4.settings(), full[boundary].cursor)
    assert keys(resumed) == keys(full)[len(keys(full[: boundary + 1])) :]
    assert order_reads(s4)[0].params["$filter"] == (
        f"SalesOrder gt '{full[boundary].cursor['after']}'"
    )


def test_a_cursor_of_another_client_is_not_used(preset: S4HanaPreset, s4: fake.FakeS4Hana) -> None:
    s4.clients.add("200")
    cursor = pull(preset, s4.settings())[-1].cursor
    s4.reset_log()
    pages = pull(preset, s4.settings(sap_client="200"), cursor)
    assert "$filter" not in order_reads(s4)[0].params
    assert sorted(keys(pages)) == sorted(s4.item_lines())


def test_cancel_stops_before_the_next_page(preset: S4HanaPreset, s4: fake.FakeS4Hana) -> None:
    config = SourceConfig(s4.settings())
    pages = preset.pull(config, None)
    next(pages)
    config.cancel.set()
    with pytest.raises(Cancelled):
        next(pages)
    pages.close()
    assert len(order_reads(s4)) == 1


def _scripted(body: dict[str, Any]) -> Any:
    def answer(request: Request) -> Response:
        import json

        return Response(json.dumps(body), content_type="application/json")

    return answer


def test_orders_out_of_key_order_stop_the_pull_rather_than_loop(preset: S4HanaPreset) -> None:
    items = [{"SalesOrderItem": "10", "Material": "M"}]
    body = {
        "d": {
            "results": [
                {"SalesOrder": "1000005", "to_Item": {"results": items}},
                {"SalesOrder": "1000001", "to_Item": {"results": items}},
            ]
        }
    }
    with serve_responses(_scripted(body)) as server, pytest.raises(SourceDataError) as caught:
        pull(preset, {"host": server.url, "username": "u", "password": "p"})
    assert "not in SalesOrder order" in str(caught.value)


def test_an_order_without_its_items_is_reported(preset: S4HanaPreset) -> None:
    body = {"d": {"results": [{"SalesOrder": "1000001", "to_Item": {"__deferred": {}}}]}}
    with serve_responses(_scripted(body)) as server, pytest.raises(SourceDataError) as caught:
        pull(preset, {"host": server.url, "username": "u", "password": "p"})
    assert "without its items" in str(caught.value)


def test_numbers_without_leading_zeros_sort_as_the_service_stores_them() -> None:
    assert s4hana.order_key("992330") < s4hana.order_key("1000000")
    assert s4hana.order_key("ABC") == "ABC"


# -- throttling and failures --------------------------------------------------------------


def test_a_429_storm_slows_the_pull_without_failing_it(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    preset.retry_policy = RetryPolicy(attempts=6, backoff=0.01, jitter=0.01, retry_after_cap=5)
    s4.fail_with_429(3, retry_after="1", at=2)
    pages = pull(preset, s4.settings())
    assert sorted(keys(pages)) == sorted(s4.item_lines())
    throttled = [s for s in s4.log if s.status == 429]
    assert len(throttled) == 3
    after = {s.number: s for s in s4.log}
    for served in throttled:
        assert after[served.number + 1].started - served.ended >= 0.9  # Retry-After honoured


def test_5xx_answers_are_retried(preset: S4HanaPreset, s4: fake.FakeS4Hana) -> None:
    s4.fail_with_5xx(1, status=503, at=2)
    s4.fail_with_5xx(1, status=500, at=5)
    pages = pull(preset, s4.settings())
    assert sorted(keys(pages)) == sorted(s4.item_lines())
    assert [s.status for s in s4.log].count(200) == requests_for(ORDERS)


def test_exhausted_retries_fail_after_the_pages_already_read(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    s4.fail_with_5xx(10, status=503, at=2)
    pages = preset.pull(SourceConfig(s4.settings()), None)
    first = next(pages)
    with pytest.raises(RetryableError) as caught:
        next(pages)
    pages.close()
    assert first.records
    assert first.cursor["next"]
    assert "HTTP 503" in str(caught.value)
    assert "temporarily unavailable" in str(caught.value)


# -- sample, discovery, preview, sync ------------------------------------------------------


def test_sample_asks_for_a_small_window(preset: S4HanaPreset, s4: fake.FakeS4Hana) -> None:
    records = preset.sample(SourceConfig(s4.settings()), 3)
    assert 1 <= len(records) <= 3
    assert order_reads(s4)[0].params["$top"] == "3"


def test_fields_are_described_from_the_metadata_with_custom_fields_flagged(
    preset: S4HanaPreset, s4: fake.FakeS4Hana
) -> None:
    fields = {f.path: f for f in preset.describe_fields(SourceConfig(s4.settings()))}
    assert {path for path, f in fields.items() if f.custom} == {
        "YY1_PromoCode_SDI",
        "to_SalesOrder.YY1_SalesChannel_SDH",
    }
    assert fields["to_SalesOrder.YY1_SalesChannel_SDH"].label == "Sales Channel"
    assert fields["RequestedQuantity"].type == "decimal"
    assert fields["to_SalesOrder.SalesOrderDate"].type == "date"
    assert fields["to_SalesOrder.LastChangeDateTime"].type == "datetime"
    assert fields["demandStatus"].type == "string"
    assert "to_Item" not in fields
    assert "to_SalesOrder" not in fields
    [served] = s4.requests_to("/$metadata")
    assert served.headers["Accept"] == "application/xml"
    assert served.params == {"sap-client": "100"}


def test_preview_maps_items_onto_the_canonical_columns(
    sqlite_database: Database, s4: fake.FakeS4Hana, on_fake: None
) -> None:
    result = service.preview(sqlite_database, VAULT, preset="sap_s4hana", values=s4.settings())
    assert result.rows
    assert not any(result.errors)
    orders = {o["SalesOrder"]: o for o in s4.orders}
    for row in result.rows:
        order = orders[row["order_id"]]
        [item] = [i for i in order["items"] if i["SalesOrderItem"] == row["line_id"]]
        assert row["sku"] == item["Material"]
        assert row["quantity"] == item["RequestedQuantity"]
        assert row["unit_price"] == Decimal("12.5")
        assert row["currency"] == order["TransactionCurrency"]
        assert row["order_date"] == order["SalesOrderDate"]
        assert row["location"] == item["Plant"]
        assert row["customer_id"] == order["SoldToParty"]
        assert row["channel"] == order["DistributionChannel"]
        assert row["source_updated_at"] == order["LastChangeDateTime"]
    assert {f.path for f in result.fields} >= {"Material", "to_SalesOrder.SoldToParty"}


def stored(database: Database) -> dict[tuple[str, str], tuple[Decimal, str | None]]:
    with database.session() as session:
        return {
            (r.order_id, r.line_id): (r.quantity, r.status)
            for r in session.scalars(select(DemandLine))
        }


def test_a_sync_backfills_then_updates_incrementally(
    database: Database, s4: fake.FakeS4Hana, on_fake: None
) -> None:
    created = service.add_connector(
        database, VAULT, preset="sap_s4hana", name="S/4", values=s4.settings()
    )
    assert created["config"].get("password") in (None, "********")

    first = sync_connector(database, VAULT, created["id"])

    expected = s4.item_lines()
    assert first.status is SyncStatus.COMPLETE, first.error
    assert first.inserted == len(expected)
    assert first.rejected == 0
    assert {key: qty for key, (qty, _) in stored(database).items()} == expected
    s4.touch(["1000001"])
    s4.reject("1000004", "10")
    added = s4.add_orders(1)

    second = sync_connector(database, VAULT, created["id"])

    assert second.status is SyncStatus.COMPLETE, second.error
    assert second.inserted == sum(1 for i in added[0]["items"] if i["Material"])
    assert 0 < second.updated < len(expected)
    lines = stored(database)
    assert {key: qty for key, (qty, _) in lines.items()} == s4.item_lines()
    assert lines[("1000004", "10")][1] == "cancelled"
    with database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.HEALTHY


def test_refused_credentials_in_a_sync_ask_for_reconnecting(
    sqlite_database: Database, s4: fake.FakeS4Hana, on_fake: None
) -> None:
    created = service.add_connector(
        sqlite_database, VAULT, preset="sap_s4hana", name="S/4", values=s4.settings()
    )
    s4.users[fake.S4_USER] = "rotated-password-1111"
    result = sync_connector(sqlite_database, VAULT, created["id"])
    assert result.status is SyncStatus.FAILED
    assert "HTTP 401" in (result.error or "")
    with sqlite_database.session() as session:
        connector = session.get(Connector, created["id"])
        assert connector is not None
        assert connector.status is ConnectorStatus.NEEDS_RECONNECT


def test_no_secret_or_token_reaches_logs_errors_or_cursors(
    preset: S4HanaPreset, s4: fake.FakeS4Hana, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pages = pull(preset, s4.oauth_settings())
    pages += pull(preset, s4.settings())
    s4.oauth_clients[fake.OAUTH_CLIENT_ID] = "another-secret-value-2222"
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig(s4.oauth_settings()))
    tokens = {
        s.credential for s in s4.log if s.headers.get("Authorization", "").startswith("Bearer")
    }
    assert tokens
    texts = [caplog.text, str(caught.value), *(str(page.cursor) for page in pages)]
    for text in texts:
        assert fake.OAUTH_CLIENT_SECRET not in text
        assert fake.S4_PASSWORD not in text
        assert not any(token in text for token in tokens if token)
