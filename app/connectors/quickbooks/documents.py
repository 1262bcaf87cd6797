"""Invoices and credit memos as flat records, one per sales line.

Only lines that sell an item count as demand: ``SalesItemLineDetail`` lines,
and the same lines inside a bundle (``GroupLineDetail.Line``). Subtotal,
discount and description lines carry no units and are left out; a document
discount lowers revenue, not the number of units sold.

A credit memo's lines are negative quantities (returns), with order ids
``CM-<Id>`` so that they never collide with an invoice of the same Id.

Voided documents stay in QuickBooks with every amount and quantity zeroed and
"Voided" put at the start of ``PrivateNote`` (Intuit, "Voiding Invoice
Objects", 2016). A document counts as voided when both hold: the note starts
with "Voided" and ``TotalAmt`` is zero. Its lines are kept with quantity 0 and
status ``cancelled``, so the lines stored before the void drop out of demand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from app.connectors.base import Record

INVOICE = "Invoice"
CREDIT_MEMO = "CreditMemo"
ENTITIES = (INVOICE, CREDIT_MEMO)

SALES_LINE = "SalesItemLineDetail"
GROUP_LINE = "GroupLineDetail"


def order_id(entity: str, document_id: Any) -> str:
    """The canonical order id of a document: the Invoice Id, or ``CM-<Id>``."""
    return f"CM-{document_id}" if entity == CREDIT_MEMO else str(document_id)


def updated_at(document: Mapping[str, Any]) -> str | None:
    """``MetaData.LastUpdatedTime`` as the source wrote it."""
    meta = document.get("MetaData")
    value = meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None
    return str(value) if value else None


def is_voided(document: Mapping[str, Any]) -> bool:
    note = str(document.get("PrivateNote") or "")
    return note.startswith("Voided") and _number(document.get("TotalAmt")) == 0


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _ref(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    ref = document.get(name)
    return ref if isinstance(ref, Mapping) else {}


def _status(entity: str, voided: bool) -> str:
    if voided:
        return "cancelled"
    return "refunded" if entity == CREDIT_MEMO else "fulfilled"


def _line_id(line: Mapping[str, Any], position: int) -> str:
    # Sales lines carry an Id in every answer seen; LineNum and then the
    # position keep a line without one distinct rather than dropping it.
    for key in ("Id", "LineNum"):
        if line.get(key) not in (None, ""):
            return str(line[key])
    return f"#{position}"


def document_records(entity: str, document: Mapping[str, Any]) -> list[Record]:
    """The flat records of one Invoice or CreditMemo, one per sales line."""
    voided = is_voided(document)
    sign = -1 if entity == CREDIT_MEMO else 1
    customer = _ref(document, "CustomerRef")
    department = _ref(document, "DepartmentRef")
    shared = {
        "order_id": order_id(entity, document.get("Id")),
        "document_type": entity,
        "document_id": str(document.get("Id")),
        "doc_number": document.get("DocNumber"),
        "order_date": document.get("TxnDate"),
        "currency": _ref(document, "CurrencyRef").get("value"),
        "customer_id": customer.get("value"),
        "customer_name": customer.get("name"),
        "location": department.get("name") or department.get("value"),
        "status": _status(entity, voided),
        "voided": voided,
        "source_updated_at": updated_at(document),
    }
    records = []
    for line_id, line, bundle in _sales_lines(document.get("Line")):
        detail = line.get(SALES_LINE)
        detail = detail if isinstance(detail, Mapping) else {}
        item = _ref(detail, "ItemRef")
        quantity = _number(detail.get("Qty"))
        amount = _number(line.get("Amount"))
        if voided:
            quantity, amount = Decimal(0), Decimal(0)
        records.append(
            {
                **shared,
                "line_id": line_id,
                "sku": item.get("name") or item.get("value"),
                "item_id": item.get("value"),
                "product_name": line.get("Description") or item.get("name"),
                "bundle": bundle,
                "quantity": None if quantity is None else sign * quantity,
                "unit_price": _number(detail.get("UnitPrice")),
                "amount": None if amount is None else sign * amount,
            }
        )
    return records


def _sales_lines(lines: Any) -> Iterator[tuple[str, Mapping[str, Any], str | None]]:
    """(line id, line, bundle name) of every sales line, bundles' inner lines included."""
    if not isinstance(lines, list):
        return
    for position, line in enumerate(lines, start=1):
        if not isinstance(line, Mapping):
            continue
        kind = line.get("DetailType")
        if kind == SALES_LINE:
            yield _line_id(line, position), line, None
        elif kind == GROUP_LINE:
            group = line.get(GROUP_LINE)
            group = group if isinstance(group, Mapping) else {}
            outer = _line_id(line, position)
            bundle = _ref(group, "GroupItemRef")
            name = bundle.get("name") or bundle.get("value")
            inner = group.get("Line")
            for index, part in enumerate(inner if isinstance(inner, list) else [], start=1):
                if isinstance(part, Mapping) and part.get("DetailType") == SALES_LINE:
                    yield f"{outer}.{_line_id(part, index)}", part, name
