"""Shopify orders as flat line records, alike from a GraphQL pull and a REST webhook.

One record per line item, and one per refunded line item with the refunded
quantity negated, so that returns net out in the series. Both shapes of an
order give the same record for the same line (same keys, same values), so a
line pulled and later delivered by webhook is updated, never doubled.

The record's members, all plain values:

- ``order_id``, ``line_id``: numeric ids as text; a refund line is
  ``refund-<refund line item id>``.
- ``kind``: ``sale`` or ``refund``.
- ``order_date``, ``source_updated_at``: the order's ``created_at`` and
  ``updated_at`` in UTC (``2024-05-01T09:30:00Z``). GraphQL answers in UTC and
  REST in the shop's offset; UTC on both keeps one date per line.
- ``sku``: the SKU, else ``variant-<variant id>``, else ``custom-<name>``
  (a custom item has no variant), so that no line is dropped.
- ``product_name``, ``quantity``, ``unit_price`` and ``currency`` (the
  shop's money, the order's original unit price, as plain decimal text),
  ``variant_id``,
  ``customer_id``, ``channel`` (the order's source name: ``web``, ``pos``...).
- ``status``: ``cancelled`` for every line of a cancelled order, refund lines
  included; else ``refunded`` for refund lines, ``fulfilled`` for a line with
  nothing left to fulfil that a successful fulfilment shipped, else ``open``.
- ``location``, ``location_id``: where a successful fulfilment shipped the line
  from (the latest one); empty when none did. A refund line takes its line's
  location, so that the return nets out in the same series.

Known limit: a GraphQL order whose fulfilments all left from one location does
not say which lines each fulfilment held (the preset fetches that only for
orders shipped from several locations). A line of such an order counts as
shipped when part of it is no longer waiting to be fulfilled, which also
holds for a line refunded before shipping while the rest of the order shipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

Record = dict[str, Any]
SUCCESS = "success"


@dataclass(frozen=True)
class _Fulfilment:
    successful: bool
    created: str
    location: str
    location_id: str
    # The ids of the lines it holds; None when the payload does not say.
    lines: frozenset[str] | None


def numeric_id(value: Any) -> str:
    """The numeric id of a GraphQL global id (``gid://shopify/Order/12``) or a REST id."""
    if value is None:
        return ""
    text = str(value).strip()
    if text.startswith("gid://"):
        text = text.split("?", 1)[0].rsplit("/", 1)[-1]
    return text


def utc_text(value: Any) -> Any:
    """An ISO 8601 time with an offset as UTC (``...Z``); other values unchanged."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"


def _amount(value: Any) -> Any:
    """A money amount as plain decimal text (``"12.50"`` and ``"12.5"`` alike: ``"12.5"``)."""
    if value is None or isinstance(value, bool):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    return format(number.normalize(), "f")


def _sku(sku: Any, variant_id: str, name: Any, line_id: str) -> str:
    text = str(sku or "").strip()
    if text:
        return text
    if variant_id:
        return f"variant-{variant_id}"
    name_text = " ".join(str(name or "").split())
    return f"custom-{name_text}" if name_text else f"custom-line-{line_id}"


def _nodes(connection: Any) -> list[Mapping[str, Any]]:
    """The items of a GraphQL connection (``nodes`` or ``edges``) or of a plain list."""
    if isinstance(connection, list):
        return [item for item in connection if isinstance(item, Mapping)]
    if not isinstance(connection, Mapping):
        return []
    if isinstance(connection.get("nodes"), list):
        return [item for item in connection["nodes"] if isinstance(item, Mapping)]
    edges = connection.get("edges") or []
    return [edge["node"] for edge in edges if isinstance(edge, Mapping) and edge.get("node")]


def _where(
    line_id: str, shipped: bool, fulfilments: list[_Fulfilment]
) -> tuple[_Fulfilment | None, bool]:
    """The latest successful fulfilment that shipped the line, and whether one is known."""
    holding = [
        f
        for f in fulfilments
        if f.successful and (line_id in f.lines if f.lines is not None else shipped)
    ]
    if not holding:
        return None, False
    return max(holding, key=lambda f: f.created), True


def _status(cancelled: bool, refund: bool, fulfilled: bool) -> str:
    if cancelled:
        return "cancelled"
    if refund:
        return "refunded"
    return "fulfilled" if fulfilled else "open"


@dataclass(frozen=True)
class _Line:
    """A line item in the terms both shapes share."""

    line_id: str
    sku: str
    product_name: str
    quantity: Any
    unit_price: Any
    currency: Any
    variant_id: str
    # Units still waiting to be fulfilled.
    unfulfilled: int | None


def _records(
    order: Mapping[str, Any],
    lines: Iterable[_Line],
    refunds: Iterable[tuple[str, str, Any, _Line | None]],
    fulfilments: list[_Fulfilment],
) -> list[Record]:
    cancelled = bool(order["cancelled_at"])
    base = {
        "order_id": order["order_id"],
        "order_date": utc_text(order["created_at"]),
        "customer_id": order["customer_id"],
        "channel": order["channel"],
        "source_updated_at": utc_text(order["updated_at"]),
    }
    out: list[Record] = []
    located: dict[str, tuple[str, str]] = {}
    for line in lines:
        shipped = line.unfulfilled is not None and line.unfulfilled < _int(line.quantity)
        fulfilment, known = _where(line.line_id, shipped, fulfilments)
        place = (fulfilment.location, fulfilment.location_id) if fulfilment else ("", "")
        located[line.line_id] = place
        fulfilled = known and line.unfulfilled == 0
        out.append(
            _record(base, line, line.line_id, "sale", line.quantity, place, cancelled, fulfilled)
        )
    for refund_line_id, line_id, quantity, line in refunds:
        source = line or _Line(line_id, f"custom-line-{line_id}", "", 0, None, None, "", None)
        place = located.get(line_id, ("", ""))
        negated = -_int(quantity)
        out.append(
            _record(base, source, refund_line_id, "refund", negated, place, cancelled, False)
        )
    return out


def _record(  # noqa: PLR0917 - one call site, every argument a column's source
    base: Mapping[str, Any],
    line: _Line,
    line_id: str,
    kind: str,
    quantity: Any,
    place: tuple[str, str],
    cancelled: bool,
    fulfilled: bool,
) -> Record:
    return {
        **base,
        "line_id": line_id,
        "kind": kind,
        "sku": line.sku,
        "product_name": line.product_name,
        "quantity": quantity,
        "unit_price": line.unit_price,
        "currency": line.currency,
        "variant_id": line.variant_id,
        "location": place[0],
        "location_id": place[1],
        "status": _status(cancelled, kind == "refund", fulfilled),
    }


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _refund_line_id(refund_line_item_id: Any, refund_id: Any, line_id: str) -> str:
    own = numeric_id(refund_line_item_id)
    return f"refund-{own}" if own else f"refund-{numeric_id(refund_id)}-{line_id}"


# -- GraphQL --------------------------------------------------------------------


def lines_from_graphql(order: Mapping[str, Any]) -> list[Record]:
    """The line records of an order in the Admin GraphQL shape the preset queries.

    ``lineItems`` may be a connection (``nodes`` or ``edges``) or a list;
    ``refunds[].refundLineItems`` and ``fulfillments[].fulfillmentLineItems``
    are read when present.
    """
    order_id = str(order.get("legacyResourceId") or numeric_id(order.get("id")))
    lines = [_graphql_line(node) for node in _nodes(order.get("lineItems"))]
    by_id = {line.line_id: line for line in lines}
    refunds = []
    for refund in order.get("refunds") or []:
        for item in _nodes(refund.get("refundLineItems")):
            refunded = item.get("lineItem") or {}
            line_id = numeric_id(refunded.get("id"))
            line = by_id.get(line_id) or (_graphql_line(refunded) if refunded else None)
            refund_line_id = _refund_line_id(item.get("id"), refund.get("id"), line_id)
            refunds.append((refund_line_id, line_id, item.get("quantity"), line))
    fulfilments = [_graphql_fulfilment(f) for f in order.get("fulfillments") or []]
    summary = {
        "order_id": order_id,
        "created_at": order.get("createdAt"),
        "updated_at": order.get("updatedAt"),
        "cancelled_at": order.get("cancelledAt"),
        "customer_id": numeric_id((order.get("customer") or {}).get("legacyResourceId")),
        "channel": order.get("sourceName") or "",
    }
    return _records(summary, lines, refunds, fulfilments)


def _graphql_line(node: Mapping[str, Any]) -> _Line:
    line_id = numeric_id(node.get("id"))
    variant_id = numeric_id((node.get("variant") or {}).get("legacyResourceId"))
    money = ((node.get("originalUnitPriceSet") or {}).get("shopMoney")) or {}
    unfulfilled = node.get("unfulfilledQuantity")
    return _Line(
        line_id=line_id,
        sku=_sku(node.get("sku"), variant_id, node.get("name"), line_id),
        product_name=node.get("name") or "",
        quantity=node.get("quantity"),
        unit_price=_amount(money.get("amount")),
        currency=money.get("currencyCode"),
        variant_id=variant_id,
        unfulfilled=_int(unfulfilled) if unfulfilled is not None else None,
    )


def _graphql_fulfilment(node: Mapping[str, Any]) -> _Fulfilment:
    location = node.get("location") or {}
    held = node.get("fulfillmentLineItems")
    lines = (
        frozenset(numeric_id((item.get("lineItem") or {}).get("id")) for item in _nodes(held))
        if held is not None
        else None
    )
    return _Fulfilment(
        successful=str(node.get("status") or "").lower() == SUCCESS,
        created=utc_text(node.get("createdAt")) or "",
        location=location.get("name") or "",
        location_id=numeric_id(location.get("legacyResourceId")),
        lines=lines,
    )


# -- REST (webhook bodies) ------------------------------------------------------


def lines_from_rest(
    order: Mapping[str, Any], locations: Mapping[str, str] | None = None
) -> list[Record]:
    """The line records of an order in the REST shape that order webhooks deliver.

    REST fulfilments name their location by id only: ``locations`` maps
    location ids (as text) to names, as :func:`app.connectors.shopify.location_names`
    returns them. An id it does not hold leaves ``location`` empty, with the
    id in ``location_id``.
    """
    names = locations or {}
    currency = order.get("currency")
    lines = [_rest_line(item, currency) for item in order.get("line_items") or []]
    by_id = {line.line_id: line for line in lines}
    refunds = []
    for refund in order.get("refunds") or []:
        for item in refund.get("refund_line_items") or []:
            line_id = numeric_id(
                item.get("line_item_id") or (item.get("line_item") or {}).get("id")
            )
            nested = item.get("line_item")
            line = by_id.get(line_id) or (_rest_line(nested, currency) if nested else None)
            refund_line_id = _refund_line_id(item.get("id"), refund.get("id"), line_id)
            refunds.append((refund_line_id, line_id, item.get("quantity"), line))
    fulfilments = [_rest_fulfilment(f, names) for f in order.get("fulfillments") or []]
    summary = {
        "order_id": numeric_id(order.get("id")),
        "created_at": order.get("created_at"),
        "updated_at": order.get("updated_at"),
        "cancelled_at": order.get("cancelled_at"),
        "customer_id": numeric_id((order.get("customer") or {}).get("id")),
        "channel": order.get("source_name") or "",
    }
    return _records(summary, lines, refunds, fulfilments)


def _rest_line(item: Mapping[str, Any], currency: Any) -> _Line:
    line_id = numeric_id(item.get("id"))
    variant_id = numeric_id(item.get("variant_id"))
    money = ((item.get("price_set") or {}).get("shop_money")) or {}
    unfulfilled = item.get("fulfillable_quantity")
    return _Line(
        line_id=line_id,
        sku=_sku(item.get("sku"), variant_id, item.get("name"), line_id),
        product_name=item.get("name") or "",
        quantity=item.get("quantity"),
        unit_price=_amount(money.get("amount", item.get("price"))),
        currency=money.get("currency_code", currency),
        variant_id=variant_id,
        unfulfilled=_int(unfulfilled) if unfulfilled is not None else None,
    )


def _rest_fulfilment(item: Mapping[str, Any], names: Mapping[str, str]) -> _Fulfilment:
    location_id = numeric_id(item.get("location_id"))
    return _Fulfilment(
        successful=str(item.get("status") or "").lower() == SUCCESS,
        created=utc_text(item.get("created_at")) or "",
        location=names.get(location_id, ""),
        location_id=location_id,
        lines=frozenset(numeric_id(line.get("id")) for line in item.get("line_items") or []),
    )
