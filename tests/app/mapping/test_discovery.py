"""discover_fields and suggest_mapping: what the mapping wizard starts from."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.mapping import FieldInfo, apply_mapping, discover_fields, suggest_mapping, validate_mapping
from app.mapping.suggest import normalise
from tests.app.mapping.samples import shopify_order


def test_fields_are_listed_as_paths_in_the_order_first_seen() -> None:
    fields = discover_fields([shopify_order()])
    assert [field.path for field in fields] == [
        "id",
        "name",
        "order_number",
        "created_at",
        "updated_at",
        "currency",
        "financial_status",
        "source_name",
        "location_id",
        "customer.id",
        "customer.email",
        "line_items[].id",
        "line_items[].sku",
        "line_items[].title",
        "line_items[].variant_title",
        "line_items[].quantity",
        "line_items[].price",
    ]
    by_path = {field.path: field for field in fields}
    assert by_path["line_items[].sku"].example == "IPOD2008GREEN"
    assert by_path["customer.id"].example == 207119551
    # Seen, but never with a value.
    assert by_path["location_id"] == FieldInfo("location_id", None, 0.0)
    assert by_path["line_items[].variant_title"].share == 1.0


def test_share_counts_records_with_a_value_and_later_fields_come_last() -> None:
    records = [
        {"sku": "A", "qty": 1},
        {"sku": "B", "qty": None, "note": "gift"},
        {"sku": "", "qty": 2},
        {"sku": "D", "qty": 3, "tags": ["x", "y"], "empty": []},
    ]
    fields = discover_fields(records)
    assert [(f.path, f.share) for f in fields] == [
        ("sku", 0.75),
        ("qty", 0.75),
        ("note", 0.25),
        ("tags[]", 0.25),
        ("empty[]", 0.0),
    ]
    assert fields[3].example == "x"


def test_awkward_keys_are_quoted_so_the_paths_map_back_to_their_values() -> None:
    record = {"Order ID": "7", "ship.to": {"city": "Bonn"}, "0": "zero", "Unit-Price": "2.50"}
    fields = discover_fields([record])
    assert [f.path for f in fields] == ['["Order ID"]', '["ship.to"].city', '["0"]', "Unit-Price"]
    for field in fields:
        spec = {
            "columns": {
                "order_id": {"const": "1"},
                "line_id": {"const": "1"},
                "order_date": {"const": "2024-01-01"},
                "sku": {"const": "A"},
                "quantity": {"const": 1},
                "customer_id": {"path": field.path},
            }
        }
        [row] = apply_mapping(validate_mapping(spec), record)
        assert row.values["customer_id"] == field.example


def test_discovery_is_bounded() -> None:
    wide = {f"field_{n}": n for n in range(50)}
    assert len(discover_fields([wide], limit=10)) == 10
    long = discover_fields([{"text": "x" * 500}])[0].example
    assert len(long) == 80
    assert long.endswith("…")
    assert discover_fields([]) == []
    assert discover_fields(["scalar", None, 3]) == []
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["d"] = {}
        node = node["d"]
    node["leaf"] = 1
    assert discover_fields([deep]) == []


def test_normalise_ignores_case_and_separators() -> None:
    assert {normalise(name) for name in ("Order ID", "order_id", "orderId", "ORDER-ID")} == {
        "orderid"
    }


def test_suggestion_for_a_shopify_order_maps_lines_and_order_fields() -> None:
    suggestion = suggest_mapping(discover_fields([shopify_order()]))
    columns = suggestion["columns"]
    assert {name: entry["path"] for name, entry in columns.items()} == {
        "order_id": "order_number",
        "line_id": "line_items[].id",
        "order_date": "created_at",
        "sku": "line_items[].sku",
        "quantity": "line_items[].quantity",
        "product_name": "line_items[].title",
        "unit_price": "line_items[].price",
        "currency": "currency",
        "location": "location_id",
        "customer_id": "customer.id",
        "channel": "source_name",
        "status": "financial_status",
        "source_updated_at": "updated_at",
    }
    # "paid" is no canonical status: the suggestion translates the usual words.
    assert columns["status"]["transforms"][0]["values"]["paid"] == "fulfilled"
    rows = apply_mapping(validate_mapping(suggestion), shopify_order())
    assert len(rows) == 3
    assert all(row.valid for row in rows), [row.errors for row in rows]
    assert rows[0].values["status"] == "fulfilled"


def test_a_bare_id_is_the_order_at_the_top_and_the_line_inside_the_list() -> None:
    suggestion = suggest_mapping(["id", "date", "lines[].id", "lines[].item_code", "lines[].qty"])
    assert {name: entry["path"] for name, entry in suggestion["columns"].items()} == {
        "order_id": "id",
        "line_id": "lines[].id",
        "order_date": "date",
        "sku": "lines[].item_code",
        "quantity": "lines[].qty",
    }


def test_suggestion_for_a_european_csv_guesses_formats_from_the_examples() -> None:
    rows = [
        {
            "Order Number": "4711",
            "Order Date": "31.12.2023",
            "Item Code": "A-1",
            "Product Name": "Mug",
            "Qty": "2",
            "Unit Price": "2,99",
            "Currency": "eur",
            "Warehouse": "Bonn",
            "Last Modified": 1704448800123,
        }
    ]
    suggestion = suggest_mapping(discover_fields(rows))
    columns = suggestion["columns"]
    assert columns["order_date"] == {
        "path": '["Order Date"]',
        "transforms": [{"type": "date", "format": "%d.%m.%Y"}],
    }
    assert columns["unit_price"]["transforms"] == [{"type": "decimal", "decimal_comma": True}]
    assert "transforms" not in columns["quantity"]
    assert columns["source_updated_at"]["transforms"] == [{"type": "date", "format": "epoch_ms"}]
    # No line number in the file: the SKU identifies the line within its order.
    assert columns["line_id"] == {"path": '["Item Code"]'}
    [row] = apply_mapping(validate_mapping(suggestion), rows[0])
    assert row.errors == {}
    assert row.values["order_date"] == dt.date(2023, 12, 31)
    assert row.values["unit_price"] == Decimal("2.99")
    assert row.values["currency"] == "EUR"
    assert row.values["location"] == "Bonn"
    assert row.values["source_updated_at"] == dt.datetime(
        2024, 1, 5, 10, 0, 0, 123000, tzinfo=dt.UTC
    )


def test_suggestion_leaves_out_fields_of_another_list_and_unknown_names() -> None:
    suggestion = suggest_mapping(
        [
            "DocNumber",
            "items[].sku",
            "items[].quantity",
            "payments[].date",
            "payments[].currency",
            "colour",
        ]
    )
    columns = suggestion["columns"]
    assert set(columns) == {"order_id", "line_id", "sku", "quantity"}
    assert columns["order_id"] == {"path": "DocNumber"}
    assert columns["line_id"] == columns["sku"] == {"path": "items[].sku"}
    validate_mapping({"columns": {**columns, "order_date": {"const": "2024-01-01"}}})


def test_suggestion_from_nothing_is_an_empty_mapping() -> None:
    assert suggest_mapping([]) == {"columns": {}}
    assert suggest_mapping(["bad[", "tags[]"]) == {"columns": {}}
