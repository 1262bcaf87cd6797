"""Sales invoices and credit notes as Xero serves them, turned into flat demand lines.

Each line item becomes one record named like the canonical columns, so the
default mapping is a plain copy (``resources/mappings/xero.json``). The choices:

- Only sales documents are read: ``ACCREC`` invoices and ``ACCRECCREDIT``
  credit notes. Bills and supplier credits are purchases, not demand.
- ``AUTHORISED`` and ``PAID`` documents are sales (``open`` and ``fulfilled``;
  credit notes ``refunded`` with negative quantities). ``DRAFT`` and
  ``SUBMITTED`` ones are not sales yet and give no lines; once approved they
  change, and the next sync reads them.
- A ``VOIDED`` document gives its lines again with status ``cancelled``,
  which replaces what was stored and keeps them out of the series; the reader
  also marks the whole document deleted (:mod:`app.sync.deletions`), which
  cancels stored lines that Xero no longer lists on it. A ``DELETED``
  document was a draft (Xero deletes nothing else), so it gives only that
  mark. A status Xero adds later is passed through as it is, so that the
  mapping rejects the lines by name instead of counting them unseen.
- ``sku`` is the line's ``ItemCode``. A line without one (a service or a
  free-text line) keeps no made-up code: the mapping rejects it as missing a
  sku, so it shows among the sync's rejections; its text is in
  ``description`` for an operator who wants to map it. A line with neither a
  quantity nor an amount is a comment, not a sale, and is only counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from app.connectors.base import Record
from app.connectors.xero.dates import XeroDateError, calendar_date, instant

log = logging.getLogger(__name__)

# Statuses of documents that are not sales yet.
NOT_YET_SALES = frozenset({"DRAFT", "SUBMITTED"})
# Statuses that take a document's lines out of demand.
CANCELLING = frozenset({"VOIDED", "DELETED"})
# The canonical product_name holds at most this many characters.
PRODUCT_NAME_LENGTH = 300


@dataclass(frozen=True)
class DocumentKind:
    """One Accounting API list the preset reads, with what differs between them."""

    name: str
    path: str
    id_field: str
    number_field: str
    type_code: str
    # Prefix of order_id: invoices and credit notes have separate id spaces.
    order_prefix: str
    sign: int
    sales_statuses: Mapping[str, str]
    # Query parameters of every request for this kind.
    params: Mapping[str, str]
    # Whether the endpoint takes ``pageSize`` (CreditNotes pages are always 100).
    sized_pages: bool


INVOICES = DocumentKind(
    name="invoices",
    path="Invoices",
    id_field="InvoiceID",
    number_field="InvoiceNumber",
    type_code="ACCREC",
    order_prefix="",
    sign=1,
    sales_statuses={"AUTHORISED": "open", "PAID": "fulfilled"},
    # Deleted invoices are listed only when asked for by status; drafts are
    # not asked for at all.
    params={"where": 'Type=="ACCREC"', "Statuses": "AUTHORISED,PAID,VOIDED,DELETED"},
    sized_pages=True,
)
CREDIT_NOTES = DocumentKind(
    name="credit_notes",
    path="CreditNotes",
    id_field="CreditNoteID",
    number_field="CreditNoteNumber",
    type_code="ACCRECCREDIT",
    order_prefix="CN-",
    sign=-1,
    sales_statuses={"AUTHORISED": "refunded", "PAID": "refunded"},
    params={"where": 'Type=="ACCRECCREDIT"'},
    sized_pages=False,
)
KINDS: tuple[DocumentKind, ...] = (INVOICES, CREDIT_NOTES)
BY_NAME: dict[str, DocumentKind] = {kind.name: kind for kind in KINDS}


@dataclass
class Tally:
    """What a pull read and left out, for its closing log line."""

    documents: int = 0
    lines: int = 0
    not_yet_sales: int = 0
    deleted: int = 0
    comment_lines: int = 0
    other_types: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(self.by_status.items())) or "none"
        return (
            f"{self.documents} documents ({statuses}), {self.lines} lines; left out: "
            f"{self.not_yet_sales} drafts or submitted, {self.deleted} deleted, "
            f"{self.comment_lines} comment lines, "
            f"{self.other_types} of another type"
        )


def _decimal(value: Any) -> Any:
    """A Xero number (JSON number or text) as a Decimal; anything else as it came."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | str):
        try:
            number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        except InvalidOperation:
            return value
        return number if number.is_finite() else value
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _date(document: Mapping[str, Any]) -> Any:
    """The document's calendar date from ``Date``, else ``DateString``; raw when unreadable."""
    for name in ("Date", "DateString"):
        value = document.get(name)
        if value in (None, ""):
            continue
        try:
            return calendar_date(value).isoformat()
        except XeroDateError:
            return value  # the mapping rejects it and quotes it
    return None


def _updated(document: Mapping[str, Any]) -> Any:
    value = document.get("UpdatedDateUTC")
    if value in (None, ""):
        return None
    try:
        return instant(value).isoformat()
    except XeroDateError:
        return value


def updated_at(document: Mapping[str, Any]) -> Any:
    """The document's ``UpdatedDateUTC`` as an aware datetime; None when unreadable."""
    try:
        return instant(document.get("UpdatedDateUTC"))
    except XeroDateError:
        return None


def _is_comment(line: Mapping[str, Any]) -> bool:
    # Xero allows "a line item with just a description (no unit amount or quantity)".
    return all(line.get(name) in (None, "") for name in ("Quantity", "UnitAmount", "ItemCode"))


def _product_name(line: Mapping[str, Any]) -> str | None:
    item = line.get("Item")
    name = _text(item.get("Name")) if isinstance(item, Mapping) else None
    name = name or _text(line.get("Description"))
    if name is not None and len(name) > PRODUCT_NAME_LENGTH:
        name = name[: PRODUCT_NAME_LENGTH - 1] + "…"
    return name


def _tracking(line: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in line.get("Tracking") or ():
        if isinstance(entry, Mapping) and _text(entry.get("Name")):
            found[str(entry["Name"]).strip()] = _text(entry.get("Option")) or ""
    return found


def demand_status(kind: DocumentKind, status: str) -> str | None:
    """The canonical status of a document's lines; None when it gives no lines."""
    if status in NOT_YET_SALES or status == "DELETED":
        return None
    if status in CANCELLING:
        return "cancelled"
    return kind.sales_statuses.get(status, status)


def lines_of(document: Mapping[str, Any], kind: DocumentKind, tally: Tally) -> list[Record]:
    """The demand lines of one invoice or credit note (see the module docstring)."""
    tally.documents += 1
    status = str(document.get("Status") or "").strip().upper()
    tally.by_status[status or "none"] = tally.by_status.get(status or "none", 0) + 1
    if str(document.get("Type") or kind.type_code).upper() != kind.type_code:
        tally.other_types += 1
        return []
    canonical = demand_status(kind, status)
    if canonical is None:
        if status == "DELETED":
            tally.deleted += 1
        else:
            tally.not_yet_sales += 1
        return []
    contact = document.get("Contact")
    header: Record = {
        "order_id": f"{kind.order_prefix}{document.get(kind.id_field)}"
        if document.get(kind.id_field)
        else None,
        "order_date": _date(document),
        "currency": _text(document.get("CurrencyCode")),
        "customer_id": _text(contact.get("ContactID")) if isinstance(contact, Mapping) else None,
        "status": canonical,
        "source_updated_at": _updated(document),
        "document_type": kind.type_code,
        "document_number": _text(document.get(kind.number_field)),
        "xero_status": status or None,
    }
    records: list[Record] = []
    for line in document.get("LineItems") or ():
        if not isinstance(line, Mapping):
            continue
        if _is_comment(line):
            tally.comment_lines += 1
            continue
        quantity = _decimal(line.get("Quantity"))
        if isinstance(quantity, Decimal):
            quantity = str(quantity * kind.sign)
        unit_price = _decimal(line.get("UnitAmount"))
        records.append(
            {
                **header,
                "line_id": _text(line.get("LineItemID")),
                "sku": _text(line.get("ItemCode")),
                "quantity": quantity,
                "product_name": _product_name(line),
                "unit_price": str(unit_price) if isinstance(unit_price, Decimal) else unit_price,
                "description": _text(line.get("Description")),
                "account_code": _text(line.get("AccountCode")),
                "tracking": _tracking(line),
            }
        )
    tally.lines += len(records)
    return records
