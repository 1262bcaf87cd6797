"""What the Odoo preset reads from each model, and how a line becomes a record.

Every record has the line's own fields as Odoo sends them, with many2one
values ``[id, "name"]`` split into ``field`` (the id) and ``field_name``, and
``False`` (Odoo's empty value) as null except on boolean fields. On top of
those, keys that are the same for both models, so one default mapping serves
both:

- ``document``: the order or invoice, ``{"id", "name", "date", "warehouse"}``
  plus its custom ``x_`` fields;
- ``sku`` and ``product_name``: the product's internal reference (its id, as
  text, for a product without one) and name;
- ``quantity``: the demand, negative on credit notes (``out_refund``);
- ``currency`` (the ISO code), ``customer_id``, and ``status`` (``open``,
  ``fulfilled``, ``cancelled``, ``refunded``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# Field types read into records; one2many, many2many and binary fields are not.
SCALAR_TYPES = frozenset(
    {
        "char",
        "text",
        "html",
        "selection",
        "integer",
        "float",
        "monetary",
        "date",
        "datetime",
        "boolean",
        "many2one",
    }
)
WIZARD_TYPES = {
    "char": "string",
    "text": "string",
    "html": "string",
    "selection": "string",
    "integer": "integer",
    "float": "decimal",
    "monetary": "decimal",
    "date": "date",
    "datetime": "datetime",
    "boolean": "boolean",
    "many2one": "integer",
}


@dataclass(frozen=True)
class ModelSpec:
    """One kind of demand line: its model, filter, fields and parent document."""

    key: str
    model: str
    domain: tuple[tuple[str, str, Any], ...]
    fields: tuple[str, ...]
    quantity_field: str
    customer_field: str
    parent_field: str
    parent_model: str
    parent_date: str
    parent_fields: tuple[str, ...]


SALE_LINES = ModelSpec(
    key="sale_order_lines",
    model="sale.order.line",
    # Confirmed orders and cancelled ones (a confirmed order cancelled later must be
    # seen to be cancelled); quotations are not demand. Sections and notes are not lines.
    domain=(("state", "in", ["sale", "done", "cancel"]), ("display_type", "=", False)),
    fields=(
        "order_id",
        "product_id",
        "name",
        "product_uom_qty",
        "qty_delivered",
        "price_unit",
        "currency_id",
        "order_partner_id",
        "company_id",
        "state",
        "write_date",
    ),
    quantity_field="product_uom_qty",
    customer_field="order_partner_id",
    parent_field="order_id",
    parent_model="sale.order",
    parent_date="date_order",
    parent_fields=("name", "date_order", "warehouse_id"),
)
INVOICE_LINES = ModelSpec(
    key="invoice_lines",
    model="account.move.line",
    domain=(("move_type", "in", ["out_invoice", "out_refund"]), ("display_type", "=", "product")),
    fields=(
        "move_id",
        "product_id",
        "name",
        "quantity",
        "price_unit",
        "currency_id",
        "partner_id",
        "company_id",
        "parent_state",
        "move_type",
        "write_date",
    ),
    quantity_field="quantity",
    customer_field="partner_id",
    parent_field="move_id",
    parent_model="account.move",
    parent_date="invoice_date",
    parent_fields=("name", "invoice_date", "invoice_origin"),
)
SPECS = {spec.key: spec for spec in (SALE_LINES, INVOICE_LINES)}


def flatten(values: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """Odoo's read values as plain ones: many2one split, False as null where it means empty."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        kind = types.get(name)
        if kind == "many2one":
            pair = value if isinstance(value, list | tuple) and len(value) == 2 else None
            out[name] = pair[0] if pair else None
            out[f"{name}_name"] = pair[1] if pair else None
        elif value is False and kind != "boolean":
            out[name] = None
        else:
            out[name] = value
    return out


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def demand_quantity(spec: ModelSpec, line: Mapping[str, Any]) -> str | None:
    quantity = _number(line.get(spec.quantity_field))
    if quantity is None:
        return None
    if line.get("move_type") == "out_refund":
        quantity = -quantity
    return str(quantity if quantity else abs(quantity))


def demand_status(spec: ModelSpec, line: Mapping[str, Any]) -> str:
    if spec is SALE_LINES:
        if line.get("state") == "cancel":
            return "cancelled"
        ordered, delivered = (
            _number(line.get("product_uom_qty")),
            _number(line.get("qty_delivered")),
        )
        done = ordered is not None and delivered is not None and 0 < ordered <= delivered
        return "fulfilled" if done else "open"
    state = line.get("parent_state")
    if state == "cancel":
        return "cancelled"
    if state != "posted":
        return "open"
    return "refunded" if line.get("move_type") == "out_refund" else "fulfilled"


def document(
    spec: ModelSpec, parent: Mapping[str, Any] | None, types: Mapping[str, str]
) -> dict[str, Any]:
    """The order or invoice of a line, under names shared by both models."""
    flat = flatten(parent or {}, types)
    out: dict[str, Any] = {
        "id": flat.get("id"),
        "name": flat.get("name"),
        "date": flat.get(spec.parent_date),
        "warehouse": flat.get("warehouse_id_name"),
    }
    out.update({key: value for key, value in flat.items() if key.startswith("x_")})
    return out


@dataclass(frozen=True)
class Schema:
    """What ``fields_get`` said of a line model and its document model, for one pull."""

    line_types: Mapping[str, str]
    parent_types: Mapping[str, str]
    line_fields: tuple[str, ...]
    parent_fields: tuple[str, ...]

    @classmethod
    def of(
        cls,
        spec: ModelSpec,
        lines: Mapping[str, Mapping[str, Any]],
        parents: Mapping[str, Mapping[str, Any]],
    ) -> Schema:
        return cls(
            line_types={name: str(info.get("type")) for name, info in lines.items()},
            parent_types={name: str(info.get("type")) for name, info in parents.items()},
            line_fields=(*present(spec.fields, lines), *custom_fields(lines)),
            parent_fields=(*present(spec.parent_fields, parents), *custom_fields(parents)),
        )


def to_record(
    spec: ModelSpec,
    line: Mapping[str, Any],
    schema: Schema,
    parents: Mapping[int, Mapping[str, Any]],
    products: Mapping[int, Mapping[str, Any]],
) -> dict[str, Any]:
    """One line with its document and product, as described in the module docstring."""
    record = flatten(line, schema.line_types)
    parent_id = record.get(spec.parent_field)
    product = products.get(record.get("product_id") or 0) or {}
    record["document"] = document(spec, parents.get(parent_id or 0), schema.parent_types)
    product_id = record.get("product_id")
    record["sku"] = product.get("default_code") or (str(product_id) if product_id else None)
    record["product_name"] = product.get("name") or record.get("product_id_name")
    record["quantity"] = demand_quantity(spec, line)
    record["currency"] = record.get("currency_id_name")
    record["customer_id"] = record.get(spec.customer_field)
    record["status"] = demand_status(spec, line)
    return record


def custom_fields(described: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The instance's own fields (``x_``) that a record can hold."""
    return sorted(
        name
        for name, info in described.items()
        if name.startswith("x_") and info.get("type") in SCALAR_TYPES
    )


def present(names: Iterable[str], described: Mapping[str, Any]) -> list[str]:
    """``names`` that the model has (an addon such as sale_stock may be missing)."""
    return [name for name in names if name in described]
