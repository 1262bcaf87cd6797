"""Proposing a mapping from the fields of a sample, by their names.

Names are compared without case or separators (``Order ID``, ``order_id`` and
``orderId`` are all ``orderid``). A field is matched on its last key joined to
the one before it (``customer.id`` is ``customerid``), then on its last key
alone. A bare ``id`` is the order's on the record and the line's inside an
expanded list. When no line id is found, the SKU's path stands in for it:
within one order a SKU usually appears on one line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from app.canonical import BY_NAME, STATUSES
from app.mapping.errors import CellError
from app.mapping.paths import EXPAND, KEY, Path, PathSyntaxError, parse_path
from app.mapping.values import parse_decimal, parse_iso

# Names per column, best first; all normalised (lower case, letters and digits only).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": (
        "orderid", "ordernumber", "orderno", "ordernum", "order", "salesorderid",
        "salesordernumber", "salesorder", "invoiceid", "invoicenumber", "invoiceno", "invoice",
        "documentnumber", "documentid", "documentno", "docnumber", "transactionid", "txnid",
        "receiptnumber", "receiptid",
    ),
    "line_id": (
        "lineid", "linenumber", "lineno", "linenum", "lineitemid", "line", "position",
        "positionnumber", "itemline", "sequence", "seq",
    ),
    "order_date": (
        "orderdate", "date", "createdat", "orderedat", "placedat", "invoicedate", "txndate",
        "transactiondate", "documentdate", "postingdate", "saledate", "createddate",
        "datecreated", "created", "issuedate", "processedat",
    ),
    "sku": (
        "sku", "itemcode", "productcode", "itemsku", "productsku", "itemnumber", "itemno",
        "articlenumber", "articleno", "partnumber", "partno", "material", "itemid", "productid",
        "article", "item", "product",
    ),
    "quantity": (
        "quantity", "qty", "units", "qtyordered", "quantityordered", "orderedquantity",
        "orderqty", "unitssold", "qtysold",
    ),
    "product_name": (
        "productname", "itemname", "producttitle", "title", "name", "productdescription",
        "itemdescription", "description",
    ),
    "unit_price": (
        "unitprice", "price", "unitamount", "priceeach", "itemprice", "netprice", "salesprice",
        "rate",
    ),
    "currency": ("currency", "currencycode", "currencyid", "curr", "cur"),
    "location": (
        "location", "locationid", "locationname", "locationcode", "warehouse", "warehouseid",
        "warehousecode", "store", "storeid", "storecode", "site", "siteid", "branch", "plant",
    ),
    "customer_id": (
        "customerid", "customernumber", "customerno", "customer", "clientid", "client",
        "accountid", "buyerid", "contactid", "customerref",
    ),
    "channel": ("channel", "saleschannel", "channelname", "sourcename", "source", "marketplace"),
    "status": ("status", "orderstatus", "financialstatus", "state", "fulfillmentstatus"),
    "source_updated_at": (
        "updatedat", "lastmodified", "modifiedat", "lastupdatedtime", "lastupdated",
        "lastmodifieddate", "datemodified", "updateddate", "modifiedon", "updated", "modified",
    ),
}  # fmt: skip
# Columns of the line rather than of the order: they prefer fields inside the expanded list.
LINE_COLUMNS = ("sku", "quantity", "line_id", "product_name", "unit_price")
# Assignment order: a field goes to the first column that wants it.
ORDER = (
    "order_id", "sku", "quantity", "line_id", "order_date", "unit_price", "product_name",
    "currency", "customer_id", "location", "channel", "status", "source_updated_at",
)  # fmt: skip
DATE_FORMATS = (
    "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y", "%Y%m%d",
    "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p",
)  # fmt: skip
# Common source statuses; a value not listed stays an error the preview shows.
STATUS_WORDS = {
    "open": "open", "new": "open", "pending": "open", "draft": "open", "processing": "open",
    "authorized": "open", "unfulfilled": "open", "partial": "open", "partially_paid": "open",
    "fulfilled": "fulfilled", "paid": "fulfilled", "complete": "fulfilled",
    "completed": "fulfilled", "closed": "fulfilled", "shipped": "fulfilled",
    "delivered": "fulfilled", "invoiced": "fulfilled", "posted": "fulfilled",
    "cancelled": "cancelled", "canceled": "cancelled", "voided": "cancelled",
    "void": "cancelled", "deleted": "cancelled",
    "refunded": "refunded", "returned": "refunded", "credited": "refunded",
}  # fmt: skip
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise(name: str) -> str:
    """A field name without case or separators: ``Order ID`` → ``orderid``."""
    return _NON_ALNUM.sub("", name.casefold())


class _Candidate:
    __slots__ = ("example", "joined", "last", "order", "path", "prefix", "text")

    def __init__(self, order: int, text: str, path: Path, example: Any) -> None:
        self.order, self.text, self.path, self.example = order, text, path, example
        self.prefix = path.prefix
        keys = [value for kind, value in path.tail if kind == KEY]
        self.last = normalise(keys[-1]) if keys else ""
        self.joined = normalise("".join(keys[-2:])) if len(keys) >= 2 else self.last

    def rank(self, column: str) -> tuple[int, int] | None:
        """How well this field's name fits ``column`` (lower is better), or None."""
        names = SYNONYMS[column]
        if self.joined in names:
            return (names.index(self.joined), 0)
        if self.last in names:
            return (names.index(self.last), 1)
        if self.last == "id" and self.joined == "id":
            wanted = "line_id" if self.prefix else "order_id"
            if column == wanted:
                return (len(names), 1)
        return None


def suggest_mapping(fields: Iterable[Any]) -> dict[str, Any]:
    """A mapping document proposing a source path for each column whose name is recognised.

    ``fields`` are :class:`FieldInfo` (from ``discover_fields``) or path strings.
    The proposal may leave required columns out; validation says which.
    """
    candidates = _candidates(fields)
    prefix = _line_prefix(candidates)
    usable = [c for c in candidates if prefix[: len(c.prefix)] == c.prefix]
    taken: set[str] = set()
    chosen: dict[str, _Candidate] = {}
    for column in ORDER:
        best = _best(column, usable, taken, prefix)
        if best is not None:
            chosen[column] = best
            taken.add(best.text)
    if "line_id" not in chosen and "sku" in chosen:
        chosen["line_id"] = chosen["sku"]
    columns: dict[str, Any] = {}
    for name in BY_NAME:
        if name in chosen:
            columns[name] = _column(name, chosen[name])
    return {"columns": columns}


def _candidates(fields: Iterable[Any]) -> list[_Candidate]:
    out = []
    for order, item in enumerate(fields):
        text = item if isinstance(item, str) else getattr(item, "path", None)
        try:
            path = parse_path(text)
        except PathSyntaxError:
            continue
        if path.segments and path.segments[-1][0] == EXPAND:
            continue  # a list of scalars, or an empty one: nothing to name
        out.append(_Candidate(order, str(path), path, getattr(item, "example", None)))
    return out


def _line_prefix(candidates: list[_Candidate]) -> tuple[Any, ...]:
    """The expansion of the best quantity or SKU field: the list whose items are lines."""
    ranked = [
        ((*rank, -len(candidate.prefix), candidate.order), candidate.prefix)
        for column in ("quantity", "sku")
        for candidate in candidates
        if (rank := candidate.rank(column)) is not None
    ]
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else ()


def _best(
    column: str, usable: list[_Candidate], taken: set[str], prefix: tuple[Any, ...]
) -> _Candidate | None:
    ranked = []
    for candidate in usable:
        if candidate.text in taken:
            continue
        rank = candidate.rank(column)
        if rank is None:
            continue
        if column in LINE_COLUMNS:
            key = (candidate.prefix != prefix, *rank, candidate.order)
        else:
            key = (*rank, len(candidate.prefix), candidate.order)
        ranked.append((key, candidate))
    return min(ranked, key=lambda pair: pair[0])[1] if ranked else None


def _column(name: str, candidate: _Candidate) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": candidate.text}
    example = candidate.example
    kind = BY_NAME[name].type.value
    if kind == "decimal" and isinstance(example, str) and _comma_only(example):
        entry["transforms"] = [{"type": "decimal", "decimal_comma": True}]
    elif name == "status" and not (isinstance(example, str) and example in STATUSES):
        entry["transforms"] = [{"type": "map", "values": dict(STATUS_WORDS)}]
    elif kind in ("date", "timestamp"):
        transform = _date_transform(example)
        if transform is not None:
            entry["transforms"] = [transform]
    return entry


def _comma_only(text: str) -> bool:
    """True for numbers written with a decimal comma (``12,50``, ``1.234,5``)."""
    try:
        parse_decimal(text)
    except CellError:
        try:
            parse_decimal(text, decimal_comma=True)
        except CellError:
            return False
        return True
    return False


def _epoch_transform(number: float) -> dict[str, Any] | None:
    """Epoch seconds or milliseconds, judged by size (1973 to 5138 either way)."""
    if 1e11 <= abs(number) < 1e14:
        return {"type": "date", "format": "epoch_ms"}
    if 1e8 <= abs(number) < 1e11:
        return {"type": "date", "format": "epoch"}
    return None


def _date_transform(example: Any) -> dict[str, Any] | None:
    """A date transform that reads ``example``, when plain ISO would not."""
    if isinstance(example, (int, float)) and not isinstance(example, bool):
        return _epoch_transform(example)
    if not isinstance(example, str):
        return None
    try:
        parse_iso(example)
    except CellError:
        pass
    else:
        return None
    for fmt in DATE_FORMATS:
        try:
            dt.datetime.strptime(example.strip(), fmt)
        except ValueError:
            continue
        return {"type": "date", "format": fmt}
    return None
