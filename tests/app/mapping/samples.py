"""Source records shaped like the vendors' documented payloads, and a one-cell helper."""

from __future__ import annotations

from typing import Any

from app.mapping import apply_mapping, validate_mapping


def shopify_order(**overrides: Any) -> dict[str, Any]:
    """An order as Shopify's REST Admin API and order webhooks send it (trimmed)."""
    order: dict[str, Any] = {
        "id": 450789469,
        "name": "#1001",
        "order_number": 1001,
        "created_at": "2024-03-31T23:30:00+00:00",
        "updated_at": "2024-04-01T08:15:00-04:00",
        "currency": "EUR",
        "financial_status": "paid",
        "source_name": "web",
        "location_id": None,
        "customer": {"id": 207119551, "email": "bob.norman@mail.example.com"},
        "line_items": [
            {
                "id": 466157049,
                "sku": "IPOD2008GREEN",
                "title": "IPod Nano - 8gb",
                "variant_title": "green",
                "quantity": 1,
                "price": "199.00",
            },
            {
                "id": 518995019,
                "sku": "IPOD2008RED",
                "title": "IPod Nano - 8gb",
                "variant_title": "red",
                "quantity": 2,
                "price": "199.00",
            },
            {
                "id": 703073504,
                "sku": " IPOD2008BLACK ",
                "title": "IPod Nano - 8gb",
                "variant_title": None,
                "quantity": 3,
                "price": "189.50",
            },
        ],
    }
    order.update(overrides)
    return order


SHOPIFY_MAPPING: dict[str, Any] = {
    "columns": {
        "order_id": {"path": "id"},
        "line_id": {"path": "line_items[].id"},
        "order_date": {
            "path": "created_at",
            "transforms": [{"type": "date", "format": "iso", "timezone": "Europe/Berlin"}],
        },
        "sku": {"path": "line_items[].sku", "transforms": [{"type": "strip"}]},
        "quantity": {
            "path": "line_items[].quantity",
            "transforms": [
                {"type": "decimal"},
                {
                    "type": "multiply",
                    "by": -1,
                    "when": {"path": "kind", "in": ["refund", "credit_note"]},
                },
            ],
        },
        "currency": {"const": "EUR"},
        "product_name": {
            "concat": ["line_items[].title", "line_items[].variant_title"],
            "separator": " - ",
        },
        "unit_price": {"path": "line_items[].price"},
        "customer_id": {"path": "customer.id"},
        "channel": {"path": "source_name"},
        "status": {
            "path": "financial_status",
            "transforms": [
                {
                    "type": "map",
                    "values": {"paid": "fulfilled", "voided": "cancelled"},
                    "default": "open",
                }
            ],
        },
        "location": {"path": "location_id", "default": "default"},
        "source_updated_at": {"path": "updated_at"},
    }
}

# Constants for the required columns, so a test can map just the column it looks at.
REQUIRED_CONSTANTS: dict[str, Any] = {
    "order_id": {"const": "SO-1"},
    "line_id": {"const": "1"},
    "order_date": {"const": "2024-01-05"},
    "sku": {"const": "SKU-1"},
    "quantity": {"const": 1},
}


def cell(column: str, entry: dict[str, Any], record: Any) -> tuple[Any, str | None]:
    """Map one column of one flat record: its value and its error."""
    mapping = validate_mapping({"columns": {**REQUIRED_CONSTANTS, column: entry}})
    [row] = apply_mapping(mapping, record)
    return row.values.get(column), row.errors.get(column)
