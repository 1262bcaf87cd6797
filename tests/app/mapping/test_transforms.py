"""Each transform, column source and canonical coercion, one cell at a time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.mapping import TRANSFORM_TYPES
from tests.app.mapping.samples import cell

BERLIN_LATE = "2024-03-31T23:30:00Z"  # 01:30 on 1 April in Berlin (summer time)


def date_entry(**settings: object) -> dict:
    return {"path": "when", "transforms": [{"type": "date", **settings}]}


def test_every_documented_transform_type_is_known() -> None:
    assert set(TRANSFORM_TYPES) == {
        "date", "decimal", "multiply", "negate", "map", "strip", "lower", "upper",
        "prefix", "suffix", "split",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("settings", "source", "expected"),
    [
        ({"timezone": "Europe/Berlin"}, BERLIN_LATE, dt.date(2024, 4, 1)),
        ({}, BERLIN_LATE, dt.date(2024, 3, 31)),
        ({"timezone": "America/New_York"}, "2024-01-05T03:00:00Z", dt.date(2024, 1, 4)),
        ({"timezone": "Europe/Berlin"}, "2024-01-05 23:30", dt.date(2024, 1, 5)),
        ({"format": "%d.%m.%Y"}, "05.01.2024", dt.date(2024, 1, 5)),
        ({"format": "%Y%m%d"}, 20240105, dt.date(2024, 1, 5)),
        ({"format": "%m/%d/%Y %I:%M %p"}, "01/05/2024 11:30 PM", dt.date(2024, 1, 5)),
        ({"format": "epoch"}, 1704448800, dt.date(2024, 1, 5)),
        ({"format": "epoch_ms"}, "1704499200000", dt.date(2024, 1, 6)),
        ({"format": "epoch", "timezone": "Pacific/Auckland"}, 1704448800, dt.date(2024, 1, 5)),
        ({"format": "epoch", "timezone": "America/Los_Angeles"}, 1704448800, dt.date(2024, 1, 5)),
        ({"format": "epoch", "timezone": "America/Los_Angeles"}, 1704422400, dt.date(2024, 1, 4)),
    ],
)
def test_date_transform_takes_the_date_in_the_given_zone(
    settings: dict, source: object, expected: dt.date
) -> None:
    assert cell("order_date", date_entry(**settings), {"when": source}) == (expected, None)


def test_date_transform_makes_aware_utc_timestamps() -> None:
    entry = date_entry(timezone="Europe/Berlin")
    value, error = cell("source_updated_at", entry, {"when": "2024-01-05T10:00:00"})
    assert error is None
    assert value == dt.datetime(2024, 1, 5, 9, tzinfo=dt.UTC)
    assert value.utcoffset() == dt.timedelta(0)
    value, _ = cell("source_updated_at", date_entry(format="epoch_ms"), {"when": 1704448800000})
    assert value == dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC)
    value, _ = cell("source_updated_at", date_entry(format="%d.%m.%Y"), {"when": "05.01.2024"})
    assert value == dt.datetime(2024, 1, 5, tzinfo=dt.UTC)


def test_date_transform_reports_values_that_do_not_match() -> None:
    assert cell("order_date", date_entry(format="%d.%m.%Y"), {"when": "2024-01-05"}) == (
        None,
        '"2024-01-05" does not match the date format %d.%m.%Y',
    )
    assert cell("order_date", date_entry(), {"when": 20240105}) == (
        None,
        "20240105 is not an ISO date (YYYY-MM-DD)",
    )
    assert cell("order_date", date_entry(format="epoch"), {"when": "yesterday"})[1] == (
        '"yesterday" is not a number'
    )


def test_date_without_transform_parses_iso_text() -> None:
    assert cell("order_date", {"path": "d"}, {"d": "2024-01-05"}) == (dt.date(2024, 1, 5), None)
    assert cell("order_date", {"path": "d"}, {"d": "5 Jan"}) == (
        None,
        '"5 Jan" is not an ISO date (YYYY-MM-DD)',
    )


def test_decimal_transform_reads_decimal_commas() -> None:
    entry = {"path": "q", "transforms": [{"type": "decimal", "decimal_comma": True}]}
    assert cell("quantity", entry, {"q": "1.234,50"}) == (Decimal("1234.50"), None)
    assert cell("quantity", entry, {"q": 3}) == (Decimal(3), None)
    assert cell("quantity", entry, {"q": "zwölf"}) == (None, '"zwölf" is not a number')
    point = {"path": "q", "transforms": [{"type": "decimal"}]}
    assert cell("quantity", point, {"q": "1,234.50"}) == (Decimal("1234.50"), None)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("refund", Decimal(-2)), ("CREDIT_NOTE ", Decimal(-2)), ("sale", Decimal(2)), (None, 2)],
)
def test_multiply_when_in_flips_only_matching_records(kind: object, expected: Decimal) -> None:
    entry = {
        "path": "q",
        "transforms": [
            {
                "type": "multiply",
                "by": -1,
                "when": {"path": "kind", "in": ["refund", "credit_note"]},
            }
        ],
    }
    assert cell("quantity", entry, {"q": "2", "kind": kind}) == (expected, None)


def test_multiply_scales_and_negate_flips_on_equals() -> None:
    dozen = {"path": "q", "transforms": [{"type": "multiply", "by": 12}]}
    assert cell("quantity", dozen, {"q": "1.5"}) == (Decimal("18.0"), None)
    assert cell("quantity", dozen, {"q": "many"}) == (None, '"many" is not a number')
    negate = {
        "path": "q",
        "transforms": [{"type": "negate", "when": {"path": "type", "equals": "ACCRECCREDIT"}}],
    }
    assert cell("quantity", negate, {"q": 4, "type": "ACCRECCREDIT"}) == (Decimal(-4), None)
    assert cell("quantity", negate, {"q": 4, "type": "ACCREC"}) == (Decimal(4), None)
    # Zero stays zero, not "-0".
    value, _ = cell("quantity", {"path": "q", "transforms": [{"type": "negate"}]}, {"q": 0})
    assert str(value) == "0"


def test_when_equals_null_matches_a_missing_value_and_numbers_match_their_text() -> None:
    entry = {
        "path": "q",
        "transforms": [{"type": "negate", "when": {"path": "paid", "equals": None}}],
    }
    assert cell("quantity", entry, {"q": 1}) == (Decimal(-1), None)
    assert cell("quantity", entry, {"q": 1, "paid": ""}) == (Decimal(-1), None)
    assert cell("quantity", entry, {"q": 1, "paid": "yes"}) == (Decimal(1), None)
    numeric = {"path": "q", "transforms": [{"type": "negate", "when": {"path": "code", "in": [2]}}]}
    assert cell("quantity", numeric, {"q": 1, "code": "2"}) == (Decimal(-1), None)
    assert cell("quantity", numeric, {"q": 1, "code": {"nested": 2}}) == (Decimal(1), None)


def test_map_translates_values_and_names_the_unmapped_one() -> None:
    entry = {"path": "s", "transforms": [{"type": "map", "values": {"paid": "fulfilled"}}]}
    assert cell("status", entry, {"s": "paid"}) == ("fulfilled", None)
    assert cell("status", entry, {"s": " PAID "}) == ("fulfilled", None)
    assert cell("status", entry, {"s": "pending"}) == (None, '"pending" is not in the value map')
    assert cell("status", entry, {}) == (None, None)
    with_default = {
        "path": "s",
        "transforms": [{"type": "map", "values": {"paid": "fulfilled"}, "default": "open"}],
    }
    assert cell("status", with_default, {"s": "pending"}) == ("open", None)
    numbers = {"path": "c", "transforms": [{"type": "map", "values": {"1": "web", "2": None}}]}
    assert cell("channel", numbers, {"c": 1}) == ("web", None)
    assert cell("channel", numbers, {"c": 2}) == (None, None)


@pytest.mark.parametrize(
    ("transform", "source", "expected"),
    [
        ({"type": "strip"}, "  A-1  ", "A-1"),
        ({"type": "strip", "chars": "#"}, "#1001", "1001"),
        ({"type": "lower"}, "AbC", "abc"),
        ({"type": "upper"}, "abc", "ABC"),
        ({"type": "upper"}, 12.0, "12"),
        ({"type": "prefix", "value": "SHOP-"}, 1001, "SHOP-1001"),
        ({"type": "suffix", "value": "-EU"}, "A1", "A1-EU"),
        ({"type": "split", "separator": "|", "index": 1}, "A1|blue|XL", "blue"),
        ({"type": "split", "separator": "|", "index": -1}, "A1|blue|XL", "XL"),
        ({"type": "split", "separator": "|"}, "A1", "A1"),
    ],
)
def test_text_transforms(transform: dict, source: object, expected: str) -> None:
    entry = {"path": "v", "transforms": [transform]}
    assert cell("customer_id", entry, {"v": source}) == (expected, None)


def test_split_past_the_last_part_is_missing() -> None:
    entry = {"path": "v", "transforms": [{"type": "split", "separator": "|", "index": 3}]}
    assert cell("customer_id", entry, {"v": "A|B"}) == (None, None)
    assert cell("sku", entry, {"v": "A|B"}) == (None, "missing")


def test_transforms_run_in_order() -> None:
    entry = {
        "path": "v",
        "transforms": [
            {"type": "split", "separator": "/", "index": -1},
            {"type": "upper"},
            {"type": "prefix", "value": "x-"},
        ],
    }
    assert cell("sku", entry, {"v": "shop/abc"}) == ("x-ABC", None)


def test_default_stands_in_for_missing_null_and_blank_values_before_transforms() -> None:
    entry = {"path": "loc", "default": "main", "transforms": [{"type": "upper"}]}
    assert cell("location", entry, {}) == ("MAIN", None)
    assert cell("location", entry, {"loc": None}) == ("MAIN", None)
    assert cell("location", entry, {"loc": "  "}) == ("MAIN", None)
    assert cell("location", entry, {"loc": "dc"}) == ("DC", None)
    assert cell("quantity", {"path": "q", "default": 1}, {}) == (Decimal(1), None)


def test_const_and_concat_sources() -> None:
    assert cell("channel", {"const": "web"}, {}) == ("web", None)
    assert cell("unit_price", {"const": 9.5}, {}) == (Decimal("9.5"), None)
    concat = {"concat": ["title", "variant", "size"], "separator": " - "}
    assert cell("product_name", concat, {"title": "Shirt", "size": "XL"}) == (
        "Shirt - XL",
        None,
    )
    assert cell("product_name", concat, {}) == (None, None)
    assert cell("product_name", {"concat": ["a", "b"]}, {"a": 1, "b": 2}) == ("12", None)
    assert cell("product_name", concat, {"title": ["x"]}) == (
        None,
        "expected a single value, got a list",
    )


def test_coercion_to_canonical_types() -> None:
    assert cell("order_id", {"path": "v"}, {"v": 1001}) == ("1001", None)
    assert cell("order_id", {"path": "v"}, {"v": 1001.0}) == ("1001", None)
    assert cell("order_id", {"path": "v"}, {"v": "x" * 129}) == (
        None,
        '"' + "x" * 39 + '…" is longer than 128 characters',
    )
    assert cell("currency", {"path": "v"}, {"v": "eur"}) == ("EUR", None)
    assert cell("currency", {"path": "v"}, {"v": "Euro"}) == (
        None,
        '"Euro" is not a three-letter currency code such as EUR',
    )
    assert cell("status", {"path": "v"}, {"v": "Refunded"}) == ("refunded", None)
    assert cell("status", {"path": "v"}, {"v": "paid"})[1] == (
        '"paid" is not a status (cancelled, fulfilled, open, refunded); '
        "translate it with a map transform"
    )
    assert cell("unit_price", {"path": "v"}, {"v": "12.50"}) == (Decimal("12.50"), None)
    assert cell("unit_price", {"path": "v"}, {"v": "12,50"})[1] == (
        '"12,50" is not a number (for a decimal comma set "decimal_comma": true)'
    )
    assert cell("sku", {"path": "v"}, {"v": {"code": "A"}}) == (
        None,
        "expected a single value, got an object",
    )
    assert cell("location", {"path": "v"}, {}) == ("default", None)
