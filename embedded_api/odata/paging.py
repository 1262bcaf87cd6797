"""Server-driven paging: page size, keyset continuation and the ``$skiptoken``.

A page ends after at most ``page_size`` rows; the next one starts after the
last row's sort values (its ``$orderby`` properties and then the key), so every
page is an index range read however deep the pull is, and the server holds one
page at a time. OData sorts nulls first in ascending order and last in
descending order; the SQL and the continuation predicate say so explicitly,
since SQLite and PostgreSQL disagree by default.

Limitation: only the key is indexed on every set, so a pull ordered by another
property ($orderby=OrderDate) sorts the matching rows again for every page;
BI tools pull in key order unless a user sorts, and that order stays cheap.
On SQLite the key's index drives the read because the organisation's scope is
declared likely to hold (see ``views._scope``): in a store shared by several
organisations, one that owns a small part of a set has the others' rows
stepped over on the way to each of its pages.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, false, literal, or_, true
from sqlalchemy.sql.elements import UnaryExpression

from embedded_api.odata.entities import Edm, Property
from embedded_api.odata.errors import BadRequest

# Also the most a client gets per page: a page is held in memory while it is
# written, and 5,000 rows keep a server pulling a million rows near 20 MB above
# its idle size (20,000-row pages cost about 60 MB more).
DEFAULT_PAGE_SIZE = 5_000
_MAXPAGESIZE = re.compile(r"^\s*(?:odata\.)?maxpagesize\s*=\s*\"?(\d+)\"?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Ordering:
    """One sort key: a property and its direction."""

    prop: Property
    descending: bool = False

    def clause(self) -> UnaryExpression[Any]:
        column = self.prop.column
        if self.descending:
            return column.desc().nulls_last()
        return column.asc().nulls_first()


def page_size(prefer: str | None) -> tuple[int, bool]:
    """Rows per page and whether the client's ``odata.maxpagesize`` was applied.

    A client may ask for smaller pages, not larger ones.
    """
    for preference in (prefer or "").split(","):
        match = _MAXPAGESIZE.match(preference)
        if match:
            wanted = int(match.group(1))
            if 1 <= wanted <= DEFAULT_PAGE_SIZE:
                return wanted, True
            return DEFAULT_PAGE_SIZE, False
    return DEFAULT_PAGE_SIZE, False


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        # Enum members (StrEnum) travel as their stored value.
        return str(value)
    return value


def _decode_value(prop: Property, value: Any) -> Any:
    if value is None:
        return None
    edm = prop.edm
    if edm is Edm.DATE:
        return dt.date.fromisoformat(value)
    if edm is Edm.DATETIMEOFFSET:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive date-time")
        return parsed
    if edm is Edm.DECIMAL:
        return Decimal(value)
    expected: dict[Edm, type | tuple[type, ...]] = {
        Edm.STRING: str,
        Edm.BOOLEAN: bool,
        Edm.INT32: int,
        Edm.INT64: int,
        Edm.DOUBLE: (int, float),
    }
    if not isinstance(value, expected[edm]) or (isinstance(value, bool) and edm is not Edm.BOOLEAN):
        raise ValueError(f"{prop.name} is not {edm}")
    return float(value) if edm is Edm.DOUBLE else value


@dataclass(frozen=True)
class Continuation:
    """Where the next page starts, and the total count measured on the first page."""

    values: tuple[Any, ...]
    count: int | None = None


def fingerprint(*parts: str | None) -> str:
    """A short digest of what a token is only valid for (entity set, filter, order)."""
    text = "\x1f".join(part or "" for part in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def encode_token(
    orderings: Sequence[Ordering], row: Any, query_print: str, count: int | None
) -> str:
    """The ``$skiptoken`` that continues after ``row``."""
    payload: dict[str, Any] = {
        "q": query_print,
        "v": [_encode_value(row[o.prop.name]) for o in orderings],
    }
    if count is not None:
        payload["n"] = count
    raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, orderings: Sequence[Ordering], query_print: str) -> Continuation:
    """The continuation in ``token``, or BadRequest when it is damaged or from another query."""
    invalid = BadRequest(
        "The $skiptoken is not valid for this request; start again from the first page.",
        target="$skiptoken",
    )
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        if not isinstance(payload, dict) or payload.get("q") != query_print:
            raise invalid
        values = payload["v"]
        if not isinstance(values, list) or len(values) != len(orderings):
            raise invalid
        decoded = tuple(_decode_value(o.prop, v) for o, v in zip(orderings, values, strict=True))
        count = payload.get("n")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise invalid
    except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, InvalidOperation):
        raise invalid from None
    return Continuation(decoded, count)


def _bound(prop: Property, value: Any) -> ColumnElement[Any]:
    return literal(value, prop.bind_type)


def _after(ordering: Ordering, value: Any) -> ColumnElement[bool]:
    """Rows that sort strictly after ``value`` on this one key."""
    column = ordering.prop.column
    if ordering.descending:
        # Nulls come last: after a null there is nothing; after a value, smaller ones and nulls.
        if value is None:
            return false()
        less = column < _bound(ordering.prop, value)
        return or_(less, column.is_(None)) if ordering.prop.nullable else less
    # Nulls come first: after a null, every non-null; after a value, greater ones.
    if value is None:
        return column.is_not(None)
    return column > _bound(ordering.prop, value)


def _same(ordering: Ordering, value: Any) -> ColumnElement[bool]:
    column = ordering.prop.column
    if value is None:
        return column.is_(None)
    return column == _bound(ordering.prop, value)


def after(orderings: Sequence[Ordering], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in the order of ``orderings`` (the last one is the unique key)."""
    if len(orderings) == 1:
        return _after(orderings[0], values[0])
    branches = []
    for index, ordering in enumerate(orderings):
        ties = [_same(o, v) for o, v in zip(orderings[:index], values[:index], strict=True)]
        branches.append(and_(*ties, _after(ordering, values[index])))
    return or_(*branches) if branches else true()
