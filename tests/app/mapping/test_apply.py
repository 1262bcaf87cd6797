"""apply_mapping on whole records: expansion, broadcasting, per-cell errors, preview."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.mapping import MappedRow, MappingError, apply_mapping, preview_rows, validate_mapping
from tests.app.mapping.samples import REQUIRED_CONSTANTS, SHOPIFY_MAPPING, shopify_order


def test_an_order_with_three_line_items_gives_three_rows_sharing_the_order_fields() -> None:
    rows = apply_mapping(validate_mapping(SHOPIFY_MAPPING), shopify_order())
    assert [row.errors for row in rows] == [{}, {}, {}]
    assert rows[0].values == {
        "order_id": "450789469",
        "line_id": "466157049",
        # 23:30 UTC on 31 March is already 1 April in Berlin.
        "order_date": dt.date(2024, 4, 1),
        "sku": "IPOD2008GREEN",
        "quantity": Decimal(1),
        "product_name": "IPod Nano - 8gb - green",
        "unit_price": Decimal("199.00"),
        "currency": "EUR",
        "location": "default",
        "customer_id": "207119551",
        "channel": "web",
        "status": "fulfilled",
        "source_updated_at": dt.datetime(2024, 4, 1, 12, 15, tzinfo=dt.UTC),
    }
    assert [row.values["sku"] for row in rows] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    assert [row.values["quantity"] for row in rows] == [1, 2, 3]
    assert {row.values["order_id"] for row in rows} == {"450789469"}
    assert {row.values["order_date"] for row in rows} == {dt.date(2024, 4, 1)}
    # A missing variant leaves the title alone, without a dangling separator.
    assert rows[2].values["product_name"] == "IPod Nano - 8gb"
    assert all(row.valid for row in rows)


def test_credit_notes_are_flipped_negative_by_when() -> None:
    mapping = validate_mapping(SHOPIFY_MAPPING)
    sale = apply_mapping(mapping, shopify_order(kind="sale"))
    refund = apply_mapping(mapping, shopify_order(kind="refund"))
    credit = apply_mapping(mapping, shopify_order(kind="credit_note"))
    assert [row.values["quantity"] for row in sale] == [1, 2, 3]
    assert [row.values["quantity"] for row in refund] == [-1, -2, -3]
    assert [row.values["quantity"] for row in credit] == [-1, -2, -3]


def test_a_when_path_inside_the_list_is_read_per_item() -> None:
    mapping = validate_mapping(
        {
            "columns": {
                **REQUIRED_CONSTANTS,
                "line_id": {"path": "lines[].n"},
                "quantity": {
                    "path": "lines[].qty",
                    "transforms": [
                        {"type": "negate", "when": {"path": "lines[].returned", "equals": True}}
                    ],
                },
            }
        }
    )
    record = {"lines": [{"n": 1, "qty": 2}, {"n": 2, "qty": 5, "returned": True}]}
    assert [row.values["quantity"] for row in apply_mapping(mapping, record)] == [2, -5]


def test_unmapped_status_is_a_cell_error_naming_the_value() -> None:
    spec = {
        "columns": {
            **REQUIRED_CONSTANTS,
            "status": {
                "path": "s",
                "transforms": [{"type": "map", "values": {"paid": "fulfilled"}}],
            },
        }
    }
    [row] = apply_mapping(validate_mapping(spec), {"s": "chargeback"})
    assert row.errors == {"status": '"chargeback" is not in the value map'}
    assert not row.valid
    assert row.values["sku"] == "SKU-1"


def test_bad_cells_are_reported_per_column_and_the_rest_still_resolves() -> None:
    order = shopify_order(created_at=None)
    order["line_items"][1]["quantity"] = "abc"
    order["line_items"][2]["sku"] = ["not", "one"]
    rows = apply_mapping(validate_mapping(SHOPIFY_MAPPING), order)
    assert [row.errors for row in rows] == [
        {"order_date": "missing"},
        {"order_date": "missing", "quantity": '"abc" is not a number'},
        {"order_date": "missing", "sku": "expected a single value, got a list"},
    ]
    assert rows[1].describe_errors() == 'order_date: missing; quantity: "abc" is not a number'
    assert rows[1].values["line_id"] == "518995019"


@pytest.mark.parametrize("items", [[], None, "absent"])
def test_an_empty_or_missing_list_gives_no_rows(items: object) -> None:
    order = shopify_order(line_items=items)
    if items == "absent":
        del order["line_items"]
    assert apply_mapping(validate_mapping(SHOPIFY_MAPPING), order) == []


def test_a_scalar_where_the_list_should_be_gives_one_row_with_errors() -> None:
    [row] = apply_mapping(validate_mapping(SHOPIFY_MAPPING), shopify_order(line_items="n/a"))
    assert row.errors == dict.fromkeys(
        ("line_id", "sku", "quantity", "product_name", "unit_price"),
        'line_items is "n/a", not a list',
    )
    assert row.values["order_id"] == "450789469"


def test_a_null_item_gives_a_row_of_missing_line_cells() -> None:
    order = shopify_order()
    order["line_items"].append(None)
    rows = apply_mapping(validate_mapping(SHOPIFY_MAPPING), order)
    assert len(rows) == 4
    assert rows[3].errors == {"line_id": "missing", "sku": "missing", "quantity": "missing"}


@pytest.mark.parametrize("record", [None, "text", 42, ["a"], {"unrelated": {"x": 1}}])
def test_records_that_are_not_orders_give_errors_not_exceptions(record: object) -> None:
    flat = {"columns": {name: {"path": name} for name in REQUIRED_CONSTANTS}}
    [row] = apply_mapping(validate_mapping(flat), record)
    assert row.errors == dict.fromkeys(REQUIRED_CONSTANTS, "missing")
    assert row.values == {"location": "default"}
    assert apply_mapping(validate_mapping(SHOPIFY_MAPPING), record) == []


def test_nested_expansion_gives_a_row_per_inner_item_with_outer_fields_repeated() -> None:
    mapping = validate_mapping(
        {
            "columns": {
                "order_id": {"path": "number"},
                "line_id": {"concat": ["lines[].no", "lines[].lots[].lot"], "separator": "/"},
                "order_date": {"path": "date"},
                "sku": {"path": "lines[].item"},
                "quantity": {"path": "lines[].lots[].qty"},
                "location": {"path": "lines[].lots[].warehouse", "default": "main"},
            }
        }
    )
    record = {
        "number": "SO-7",
        "date": "2024-02-29",
        "lines": [
            {
                "no": 10,
                "item": "A",
                "lots": [{"lot": "L1", "qty": 2}, {"lot": "L2", "qty": "3", "warehouse": "B"}],
            },
            {"no": 20, "item": "B", "lots": []},
            {"no": 30, "item": "C", "lots": {"lot": "L9", "qty": 1}},
        ],
    }
    rows = apply_mapping(mapping, record)
    assert [
        (r.values["line_id"], r.values["sku"], r.values["quantity"], r.values["location"])
        for r in rows
    ] == [
        ("10/L1", "A", 2, "main"),
        ("10/L2", "A", 3, "B"),
        ("30/L9", "C", 1, "main"),
    ]
    assert {r.values["order_date"] for r in rows} == {dt.date(2024, 2, 29)}


def test_a_csv_row_of_strings_with_spaced_headers() -> None:
    mapping = validate_mapping(
        {
            "columns": {
                "order_id": {"path": '["Order No."]'},
                "line_id": {"path": "Line"},
                "order_date": {
                    "path": "Date",
                    "transforms": [{"type": "date", "format": "%d.%m.%Y"}],
                },
                "sku": {"path": '["Item Code"]'},
                "quantity": {
                    "path": "Qty",
                    "transforms": [{"type": "decimal", "decimal_comma": True}],
                },
                "unit_price": {
                    "path": "Unit Price",
                    "transforms": [{"type": "decimal", "decimal_comma": True}],
                },
            }
        }
    )
    record = {
        "Order No.": "4711",
        "Line": "1",
        "Date": "31.12.2023",
        "Item Code": "A-1",
        "Qty": "1.000,5",
        "Unit Price": "€ 2,99",
    }
    [row] = apply_mapping(mapping, record)
    assert row.errors == {}
    assert row.values["order_date"] == dt.date(2023, 12, 31)
    assert row.values["quantity"] == Decimal("1000.5")
    assert row.values["unit_price"] == Decimal("2.99")


def test_preview_rows_stops_at_the_limit_and_says_which_record_each_row_is_from() -> None:
    records = [shopify_order(id=n) for n in range(5)]
    rows = preview_rows(validate_mapping(SHOPIFY_MAPPING), records, limit=7)
    assert len(rows) == 7
    assert [row.record for row in rows] == [0, 0, 0, 1, 1, 1, 2]
    assert all(isinstance(row, MappedRow) for row in rows)
    assert preview_rows(SHOPIFY_MAPPING, records, limit=0) == []
    # A document is validated first; a bad one says what is wrong.
    with pytest.raises(MappingError, match="sku: is required"):
        preview_rows({"columns": {}}, records, limit=3)


def test_one_compiled_mapping_serves_many_records() -> None:
    columns = (
        "order_id",
        "line_id",
        "order_date",
        "sku",
        "quantity",
        "unit_price",
        "currency",
        "location",
    )
    mapping = validate_mapping({"columns": {name: {"path": name} for name in columns}})
    records = [
        {
            "order_id": f"SO-{n}",
            "line_id": str(n % 4 + 1),
            "order_date": f"2024-01-{n % 28 + 1:02d}",
            "sku": f"SKU-{n % 300}",
            "quantity": str(n % 7 + 1),
            "unit_price": "12.50",
            "currency": "EUR",
            "location": "north",
        }
        for n in range(20_000)
    ]
    # Throughput is measured by bench/sync.py; here only that a compiled
    # mapping serves many records alike.
    rows = [row for record in records for row in apply_mapping(mapping, record)]
    assert len(rows) == 20_000
    assert all(row.valid for row in rows)
