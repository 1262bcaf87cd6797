"""The Shopify preset against the fake Shopify Admin GraphQL API on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import select

from app.connectors.base import Category, Page, SourceConfig
from app.connectors.errors import (
    AuthError,
    ConfigurationError,
    ConnectorError,
    RetryableError,
)
from app.connectors.fields import FieldKind
from app.connectors.http import RetryPolicy
from app.connectors.registry import get_preset
from app.connectors.shopify import ShopifyPreset, register_webhooks
from app.connectors.shopify import settings as shopify_settings
from app.connectors.shopify.client import connect
from app.connectors.shopify.lines import lines_from_graphql
from app.connectors.shopify.queries import RUN_BULK, bulk_orders_query
from app.connectors.shopify.reader import OVERLAP, Tuning, before
from app.connectors.shopify.webhooks import location_names
from app.oauth import ConnectResult
from app.services import connectors as service
from app.store.db import Database
from app.store.models import DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.conftest import TEST_KEY
from tests.fakes import shopify as fake

VAULT = Vault(base64.b64decode(TEST_KEY))
FAST = RetryPolicy(attempts=6, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)
TUNING = Tuning(page_orders=7, orders_per_query=5, poll=(0.01, 0.02))


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[fake.FakeShopify]:
    with fake.serve_shopify(40) as served:
        monkeypatch.setattr(shopify_settings, "ADMIN_URL", served.admin_url)
        yield served


@pytest.fixture
def preset(monkeypatch: pytest.MonkeyPatch) -> ShopifyPreset:
    # Sync tests build their own instance: short waits and small pages for every one.
    monkeypatch.setattr(ShopifyPreset, "retry_policy", FAST)
    monkeypatch.setattr(ShopifyPreset, "probe_retry_policy", FAST)
    monkeypatch.setattr(ShopifyPreset, "tuning", TUNING)
    return ShopifyPreset()


def config(served: fake.FakeShopify, **overrides: Any) -> SourceConfig:
    return SourceConfig(served.settings(**overrides))


def records(pages: list[Page]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page.records]


def source_lines(shop: fake.FakeShopify) -> dict[tuple[str, str], dict[str, Any]]:
    """Every line the shop holds now, keyed as the store keys them."""
    return {
        (record["order_id"], record["line_id"]): record
        for number in shop.orders
        for record in lines_from_graphql(shop.graphql_order(number))
    }


def keyed(found: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(record["order_id"], record["line_id"]): record for record in found}


# -- declaration and settings ------------------------------------------------------


def test_the_preset_is_registered_with_its_fields() -> None:
    assert get_preset("shopify") is ShopifyPreset
    assert ShopifyPreset.category is Category.ECOMMERCE
    assert ShopifyPreset.oauth_provider == "shopify"
    assert ShopifyPreset.secret_fields() == {
        "access_token",
        "api_secret_key",
        "refresh_token",
        "token_expires_at",
    }
    specs = {spec.name: spec for spec in ShopifyPreset.fields}
    assert specs["api_version"].default == "2025-10"
    assert specs["access_token"].kind is FieldKind.SECRET
    assert specs["refresh_token"].managed
    assert specs["token_expires_at"].managed
    mapping = ShopifyPreset.default_mapping()
    assert set(mapping["columns"]) >= {"order_id", "line_id", "order_date", "sku", "quantity"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("tidewater-outfitters.myshopify.com", "tidewater-outfitters.myshopify.com"),
        ("https://Tidewater-Outfitters.myshopify.com/admin", "tidewater-outfitters.myshopify.com"),
        ("tidewater-outfitters", "tidewater-outfitters.myshopify.com"),
    ],
)
def test_the_shop_domain_is_normalised(given: str, expected: str) -> None:
    assert ShopifyPreset.validate({"shop": given})["shop"] == expected


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"shop": "shop.example.com"}, "shop", "myshopify.com domain"),
        ({"shop": "a.myshopify.com", "api_version": "2025-11"}, "api_version", "months 01"),
        ({"shop": "a.myshopify.com", "api_version": "2024-10"}, "api_version", "2025-10 or later"),
        ({"api_version": "2025-10"}, "shop", "is required"),
    ],
)
def test_bad_settings_are_refused_by_name(values: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ShopifyPreset.validate(values)
    assert problem in caught.value.fields[field]


# -- probe -------------------------------------------------------------------------


def test_probe_names_the_shop_and_its_scopes(shop: fake.FakeShopify, preset: ShopifyPreset) -> None:
    result = preset.probe(config(shop))
    assert result.account == fake.SHOP_NAME
    assert result.details["shop"] == fake.SHOP
    assert "read_orders" in result.details["scopes"]
    assert result.details["all_orders"] is True
    assert "every order" in result.message


def test_probe_warns_when_only_60_days_of_orders_are_readable(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    shop.add_token("shpat_recent_only_0000000000000000", {"read_orders"})
    result = preset.probe(config(shop, access_token="shpat_recent_only_0000000000000000"))
    assert result.details["all_orders"] is False
    assert "read_all_orders" in result.message


def test_probe_with_a_bad_token_is_an_auth_error(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(config(shop, access_token="shpat_wrong_000000000000000000000"))
    assert "HTTP 401" in str(caught.value)
    assert "Invalid API key or access token" in str(caught.value)


def test_probe_of_a_token_without_read_orders_names_the_scope(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(config(shop, access_token=fake.LIMITED_TOKEN))
    assert "lacks the read_orders scope" in str(caught.value)
    assert "read_products" in str(caught.value)


def test_a_pull_with_a_revoked_scope_is_an_auth_error_naming_it(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    with pytest.raises(AuthError) as caught:
        list(preset.pull(config(shop, access_token=fake.LIMITED_TOKEN), None))
    assert "read_orders" in str(caught.value)
    assert "Access denied" in str(caught.value)


def test_an_unknown_shop_or_version_says_what_to_check(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    with pytest.raises(ConnectorError) as caught:
        preset.probe(config(shop, shop="someone-else.myshopify.com"))
    assert "check the shop domain" in str(caught.value)
    with pytest.raises(ConnectorError) as caught:
        preset.probe(config(shop, api_version="2099-01"))
    assert "API version" in str(caught.value)


def test_a_token_from_connect_is_sent_in_shopifys_header(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    # An expiring token with its refresh token goes through app.oauth.tokens; one that
    # is far from expiry is sent as it is, bare, in X-Shopify-Access-Token.
    values = {
        "refresh_token": "shprt_refresh_0000000000000000",
        "token_expires_at": "2999-01-01T00:00:00Z",
    }
    result = preset.probe(config(shop, **values))
    assert result.account == fake.SHOP_NAME


def test_a_missing_token_says_how_to_get_one(preset: ShopifyPreset) -> None:
    with pytest.raises(AuthError) as caught:
        preset.probe(SourceConfig({"shop": fake.SHOP}))
    assert "Connect" in str(caught.value)


# -- preview -----------------------------------------------------------------------


def test_preview_maps_the_latest_orders_into_canonical_rows(
    shop: fake.FakeShopify, preset: ShopifyPreset, sqlite_database: Database
) -> None:
    result = service.preview(
        sqlite_database, VAULT, preset="shopify", values=shop.settings(), limit=8
    )
    assert len(result.rows) == 8
    assert not any(result.errors)
    # The most recently updated order first: order 40, then 39...
    assert [row["order_id"] for row in result.rows[:3]] == ["5000040"] * 3
    for row in result.rows:
        number = int(row["order_id"]) - 5_000_000
        order = shop.orders[number]
        kind, _, line_number = row["line_id"].rpartition("-")
        line = (
            next(item for item in order["lineItems"] if item["id"].endswith(f"/{line_number}"))
            if not kind
            else None
        )
        if line is not None:
            assert row["quantity"] == Decimal(line["quantity"])
            price = line["originalUnitPriceSet"]["shopMoney"]["amount"]
            assert row["unit_price"] == Decimal(price)
            assert row["sku"] == (line["sku"] or f"variant-{line['variant']['legacyResourceId']}")
        assert row["currency"] == "EUR"
        assert str(row["order_date"]) == order["createdAt"][:10]
        assert row["status"] in {"open", "fulfilled", "cancelled", "refunded"}
    assert {field.path for field in result.fields} >= {"order_id", "line_id", "sku", "quantity"}
    assert shop.bulk_operations == [], "a preview reads a page, it starts no bulk operation"


# -- backfill and incremental --------------------------------------------------------


def test_a_backfill_reads_every_line_then_an_incremental_pull_only_what_changed(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    pages = list(preset.pull(config(shop), None))
    assert len(shop.bulk_operations) == 1
    assert keyed(records(pages)) == source_lines(shop)
    assert len(records(pages)) == len(source_lines(shop)), "no line twice"
    assert [page.cursor["phase"] for page in pages] == ["backfill"] * (len(pages) - 1) + [
        "incremental"
    ]
    final = pages[-1].cursor
    assert final["high_water"] == shop.orders[40]["updatedAt"]
    assert shop.order_pages == [], "the backfill pages no orders query"

    shop.touch(3)
    shop.cancel(12)
    shop.refund(7, quantity=2)
    changed = list(preset.pull(config(shop), final))
    fetched = {number for page in shop.order_pages for number in page}
    # The changed orders, and the last one stored, which the overlap window reads again.
    overlap = before(final["high_water"], OVERLAP)
    again = {n for n, o in shop.orders.items() if n not in (3, 7, 12) and o["updatedAt"] > overlap}
    assert again == {40}
    assert fetched == {3, 7, 12, 40}
    assert len(shop.bulk_operations) == 1, "no second bulk operation"
    lines = keyed(records(changed))
    assert lines == {key: value for key, value in source_lines(shop).items() if key in lines}
    assert {r["status"] for k, r in lines.items() if k[0] == "5000012"} == {"cancelled"}
    refund = lines[("5000007", "refund-50000070")]
    assert refund["quantity"] == -2
    assert refund["status"] == "refunded"
    assert lines[("5000003", "50000030")]["quantity"] == shop.orders[3]["lineItems"][0]["quantity"]
    assert changed[-1].cursor == {
        "phase": "incremental",
        "high_water": shop.orders[7]["updatedAt"],
    }


def test_incremental_pages_resume_at_their_page_cursor(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    final = list(preset.pull(config(shop), None))[-1].cursor
    for number in range(1, 13):
        shop.touch(number)
    pull = preset.pull(config(shop), final)
    first = next(pull)
    pull.close()
    assert first.cursor["after"]
    assert first.cursor["since"]
    shop.order_pages.clear()
    rest = list(preset.pull(config(shop), first.cursor))
    seen = {number for page in shop.order_pages for number in page}
    assert seen.isdisjoint({int(r["order_id"]) - 5_000_000 for r in first.records})
    assert seen | {int(r["order_id"]) - 5_000_000 for r in first.records} == set(range(1, 13)) | {
        40
    }
    assert rest[-1].cursor == {"phase": "incremental", "high_water": shop.orders[12]["updatedAt"]}


def test_a_pull_stopped_mid_file_resumes_at_the_next_order_without_loss_or_doubles(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    pull = preset.pull(config(shop), None)
    first = [next(pull), next(pull)]
    pull.close()  # the process died here: the second page's cursor was the last committed
    cursor = first[-1].cursor
    assert cursor["phase"] == "backfill"
    assert cursor["offset"] > 0
    rest = list(preset.pull(config(shop), cursor))
    before_stop, after_stop = keyed(records(first)), keyed(records(rest))
    assert before_stop.keys().isdisjoint(after_stop.keys())
    assert before_stop | after_stop == source_lines(shop)
    assert len(shop.bulk_operations) == 1, "the same result file, not a new export"
    assert shop.result_requests[-1]["range"] == f"bytes={cursor['offset']}-"


def test_a_broken_download_goes_on_from_the_last_whole_line(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    shop.break_download(after_bytes=5_000)
    pages = list(preset.pull(config(shop), None))
    assert keyed(records(pages)) == source_lines(shop)
    assert len(records(pages)) == len(source_lines(shop))
    ranges = [request["range"] for request in shop.result_requests]
    assert ranges[0] is None
    assert len(ranges) == 2
    assert 0 < int(ranges[1].removeprefix("bytes=").rstrip("-")) <= 5_000


def test_an_expired_result_restarts_the_export_from_where_it_stopped(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    pull = preset.pull(config(shop), None)
    first = [next(pull), next(pull)]
    pull.close()
    shop.expire_results()
    rest = list(preset.pull(config(shop), first[-1].cursor))
    assert len(shop.bulk_operations) == 2
    second = shop.bulk_operations[1]
    since = before(first[-1].cursor["high_water"], OVERLAP)
    assert second.search == f"updated_at:>='{since}'"
    assert keyed(records(first)) | keyed(records(rest)) == source_lines(shop)
    # The restart re-reads from the overlap, not from the beginning.
    assert len(records(rest)) < len(source_lines(shop)) - len(records(first)) + 10


def test_a_running_backfill_is_adopted_and_someone_elses_bulk_query_waited_for(
    shop: fake.FakeShopify, preset: ShopifyPreset
) -> None:
    with connect(config(shop), retry=FAST) as client:
        client.query(RUN_BULK, {"query": bulk_orders_query(None)})
    pages = list(preset.pull(config(shop), None))
    assert len(shop.bulk_operations) == 1, "the running operation was adopted"
    assert keyed(records(pages)) == source_lines(shop)

    with connect(config(shop), retry=FAST) as client:
        client.query(RUN_BULK, {"query": "{ orders { edges { node { id } } } }"})
    with pytest.raises(RetryableError) as caught:
        list(preset.pull(config(shop), None))
    assert "already running another bulk query" in str(caught.value)


@pytest.mark.parametrize(
    ("code", "error"), [("INTERNAL_SERVER_ERROR", RetryableError), ("ACCESS_DENIED", AuthError)]
)
def test_a_failed_bulk_operation_is_a_clear_error(
    shop: fake.FakeShopify, preset: ShopifyPreset, code: str, error: type[Exception]
) -> None:
    shop.fail_next_bulk(code)
    with pytest.raises(error) as caught:
        list(preset.pull(config(shop), None))
    assert f"ended FAILED ({code})" in str(caught.value)


def test_an_empty_shop_goes_straight_to_incremental(preset: ShopifyPreset, monkeypatch) -> None:
    with fake.serve_shopify(0) as empty:
        monkeypatch.setattr(shopify_settings, "ADMIN_URL", empty.admin_url)
        pages = list(preset.pull(config(empty), None))
    assert [page.records for page in pages] == [[]]
    assert pages[0].cursor == {
        "phase": "incremental",
        "high_water": empty.bulk_operations[0].created_at,
    }


# -- the whole sync ----------------------------------------------------------------


def stored(database: Database) -> dict[tuple[str, str], DemandLine]:
    with database.session() as session:
        return {(row.order_id, row.line_id): row for row in session.scalars(select(DemandLine))}


def test_a_sync_stores_every_line_and_a_429_storm_only_slows_the_next_one(
    shop: fake.FakeShopify, preset: ShopifyPreset, database: Database
) -> None:
    created = service.add_connector(
        database, VAULT, preset="shopify", name="Tidewater", values=shop.settings()
    )
    first = sync_connector(database, VAULT, created["id"])
    assert first.status is SyncStatus.COMPLETE, first.error
    expected = source_lines(shop)
    lines = stored(database)
    assert set(lines) == set(expected)
    for key, record in expected.items():
        assert lines[key].quantity == Decimal(record["quantity"])
        assert lines[key].status == record["status"]
        assert lines[key].location == (record["location"] or "default")
        assert lines[key].sku == record["sku"]

    shop.refund(3)
    shop.cancel(8)
    shop.storm(4, retry_after="0.05")
    second = sync_connector(database, VAULT, created["id"])
    assert second.status is SyncStatus.COMPLETE, second.error
    assert sum(1 for served in shop.served if served.status == 429) == 4
    assert second.inserted == 1  # the refund line
    lines = stored(database)
    assert lines[("5000003", "refund-50000030")].quantity == Decimal(-1)
    assert {lines[key].status for key in lines if key[0] == "5000008"} == {"cancelled"}
    assert len(lines) == len(expected) + 1


# -- webhooks, locations, Connect ------------------------------------------------------


def test_webhooks_are_registered_once_per_topic_and_address(shop: fake.FakeShopify) -> None:
    address = "https://forecast.example.com/webhooks/connectors/shopify/7"
    ids = register_webhooks(config(shop), address)
    assert len(ids) == 2
    assert {(s["topic"], s["uri"]) for s in shop.subscriptions} == {
        ("ORDERS_CREATE", address),
        ("ORDERS_UPDATED", address),
    }
    assert register_webhooks(config(shop), address) == ids
    assert len(shop.subscriptions) == 2
    other = "https://other.example.com/hook"
    assert len(register_webhooks(config(shop), other)) == 2
    assert len(shop.subscriptions) == 4


def test_webhooks_need_an_https_address(shop: fake.FakeShopify) -> None:
    with pytest.raises(ConnectorError) as caught:
        register_webhooks(config(shop), "http://127.0.0.1:8765/webhooks/connectors/shopify/7")
    assert "https://" in str(caught.value)
    assert shop.subscriptions == []


def test_location_names_map_ids_to_names(shop: fake.FakeShopify) -> None:
    assert location_names(config(shop)) == shop.location_names()


def test_after_connect_names_the_shop_and_sets_its_domain(shop: fake.FakeShopify) -> None:
    with requests.Session() as http:
        result = ShopifyPreset.after_connect(
            {"access_token": fake.TOKEN, "scope": "read_orders,read_all_orders"},
            {"shop": fake.SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20", "timestamp": "1700000000"},
            http,
        )
        assert result == ConnectResult(account=fake.SHOP_NAME, settings={"shop": fake.SHOP})
        with pytest.raises(AuthError):
            ShopifyPreset.after_connect(
                {"access_token": "shpat_not_valid_000000000000000000"}, {"shop": fake.SHOP}, http
            )
        with pytest.raises(ConnectorError) as caught:
            ShopifyPreset.after_connect({"access_token": fake.TOKEN}, {"shop": "evil.com"}, http)
    assert "valid shop" in str(caught.value)


# -- secrets -----------------------------------------------------------------------


def test_no_secret_reaches_the_log_errors_or_cursors(
    shop: fake.FakeShopify, preset: ShopifyPreset, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "shpat_wrong_token_that_must_not_leak_0001"
    with pytest.raises(AuthError) as caught:
        preset.probe(config(shop, access_token=wrong))
    shop.storm(2, retry_after="0.01")
    pages = list(preset.pull(config(shop), None))
    register_webhooks(config(shop), "https://forecast.example.com/hook")
    text = caplog.text + str(caught.value) + repr([page.cursor for page in pages])
    assert caplog.records, "the pull logged"
    for secret in (fake.TOKEN, wrong):
        assert secret not in text
    assert all(fake.TOKEN not in str(request["headers"]) for request in shop.result_requests)
