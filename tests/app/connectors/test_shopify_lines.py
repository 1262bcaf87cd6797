"""Shopify orders as flat line records: the GraphQL and the REST (webhook) shape agree."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.connectors.shopify.lines import lines_from_graphql, lines_from_rest, numeric_id, utc_text
from app.connectors.shopify.preset import ShopifyPreset
from app.mapping import apply_mapping, validate_mapping
from tests.fakes.shopify import LOCATIONS, FakeShopify

ORDERS = 48


@pytest.fixture(scope="module")
def shop() -> FakeShopify:
    # The data only: the servers are never started here.
    return FakeShopify(ORDERS)


def by_line(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["line_id"]: record for record in records}


def test_ids_and_times_are_normalised() -> None:
    assert numeric_id("gid://shopify/Order/5000001") == "5000001"
    assert numeric_id("gid://shopify/LineItem/7?from=bulk") == "7"
    assert numeric_id(123) == "123"
    assert numeric_id(None) == ""
    assert utc_text("2023-01-02T05:00:00-04:00") == "2023-01-02T09:00:00Z"
    assert utc_text("2023-01-02T09:00:00Z") == "2023-01-02T09:00:00Z"
    assert utc_text("not a time") == "not a time"


@pytest.mark.parametrize("number", range(1, ORDERS + 1))
def test_a_webhook_body_gives_the_same_records_as_a_pull(shop: FakeShopify, number: int) -> None:
    pulled = lines_from_graphql(shop.graphql_order(number))
    delivered = lines_from_rest(shop.rest_order(number), shop.location_names())
    assert delivered == pulled
    assert len({record["line_id"] for record in pulled}) == len(pulled)


def test_each_line_item_is_a_line_with_the_orders_values(shop: FakeShopify) -> None:
    order = shop.graphql_order(1)
    records = by_line(lines_from_graphql(order))
    assert set(records) == {"50000010", "50000011"}
    first = records["50000010"]
    assert first == {
        "order_id": "5000001",
        "line_id": "50000010",
        "kind": "sale",
        "order_date": "2023-01-02T09:00:00Z",
        "source_updated_at": "2023-01-02T09:30:00Z",
        "customer_id": "900001",
        "channel": "web",
        "sku": "TW-BOOT-42",
        "product_name": "Trail Boot - 42",
        "quantity": 2,
        "unit_price": "129",
        "currency": "EUR",
        "variant_id": "41002",
        "location": "",
        "location_id": "",
        "status": "open",
    }


def test_a_refund_is_a_negative_line_in_the_series_of_its_line(shop: FakeShopify) -> None:
    # Order 20 is fulfilled from one location and refunded one unit of its first line.
    records = by_line(lines_from_graphql(shop.graphql_order(20)))
    refund = records["refund-50000200"]
    sold = records["50000200"]
    assert refund["kind"] == "refund"
    assert refund["quantity"] == -1
    assert refund["status"] == "refunded"
    for column in ("sku", "location", "unit_price", "order_date", "order_id"):
        assert refund[column] == sold[column]
    assert sold["status"] == "fulfilled"
    assert sold["location"] == LOCATIONS[20 % 4 // 2]["name"]


def test_every_line_of_a_cancelled_order_is_cancelled_refunds_included(shop: FakeShopify) -> None:
    shop.refund(22)
    records = lines_from_graphql(shop.graphql_order(22))
    assert shop.orders[22]["cancelledAt"]
    assert {record["status"] for record in records} == {"cancelled"}
    assert any(record["kind"] == "refund" for record in records)


def test_split_shipments_locate_each_line_where_it_left(shop: FakeShopify) -> None:
    # Order 26 % 8 == 2: its first line leaves from the other location.
    order = shop.graphql_order(26)
    assert len(order["lineItems"]["nodes"]) == 3
    records = by_line(lines_from_graphql(order))
    home = LOCATIONS[26 % 4 // 2]["name"]
    other = LOCATIONS[1 - 26 % 4 // 2]["name"]
    assert records["50000260"]["location"] == other
    assert records["50000261"]["location"] == home
    assert {record["status"] for record in records.values()} == {"fulfilled"}


def test_an_unfulfilled_line_is_open_without_location(shop: FakeShopify) -> None:
    records = lines_from_graphql(shop.graphql_order(3))
    assert {(record["status"], record["location"]) for record in records} == {("open", "")}


def test_a_line_without_sku_falls_back_to_its_variant_then_its_name(shop: FakeShopify) -> None:
    order = shop.graphql_order(7)
    first = order["lineItems"]["nodes"][0]
    assert first["sku"] == ""
    records = by_line(lines_from_graphql(order))
    assert records["50000070"]["sku"] == f"variant-{first['variant']['legacyResourceId']}"
    first["variant"] = None
    assert by_line(lines_from_graphql(order))["50000070"]["sku"] == f"custom-{first['name']}"


def test_rest_locations_unknown_by_name_keep_their_id(shop: FakeShopify) -> None:
    records = by_line(lines_from_rest(shop.rest_order(4)))
    assert records["50000040"]["location"] == ""
    assert records["50000040"]["location_id"] == str(LOCATIONS[4 % 4 // 2]["id"])


def test_the_default_mapping_turns_records_into_canonical_rows(shop: FakeShopify) -> None:
    mapping = validate_mapping(ShopifyPreset.default_mapping())
    records = lines_from_rest(shop.rest_order(20), shop.location_names())
    rows = {}
    for record in records:
        for row in apply_mapping(mapping, record):
            assert not row.errors, row.errors
            rows[row.values["line_id"]] = row.values
    refund = rows["refund-50000200"]
    assert refund["quantity"] == Decimal(-1)
    assert refund["status"] == "refunded"
    # 2023-01-03 04:00 UTC; the REST body says 00:00 at -04:00, the same instant.
    assert str(refund["order_date"]) == "2023-01-03"
    assert rows["50000200"]["location"] == LOCATIONS[20 % 4 // 2]["name"]
    assert rows["50000201"]["unit_price"] == Decimal("129.00")
    unfulfilled = lines_from_graphql(shop.graphql_order(3))[0]
    (row,) = apply_mapping(mapping, unfulfilled)
    assert row.values["location"] == "default"
