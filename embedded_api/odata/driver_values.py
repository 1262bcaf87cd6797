"""Values as the store's driver returns them, brought into the form the feed works with.

A page is read straight from the driver's cursor: SQLAlchemy's per-value result
processing costs more than the read itself on a page of a thousand rows. What
that processing would have done is done here instead, only where a value's
form differs, and a column at a time:

- SQLite keeps dates and date-times as text and decimals and booleans as
  numbers. A date's text is already its JSON form; date-times (naive UTC text)
  become aware datetimes, decimals become ``Decimal`` with the column's scale
  (as SQLAlchemy's ``Numeric`` would make them), booleans become ``bool``.
- PostgreSQL's driver (psycopg) returns dates, decimals and booleans as Python
  does; only date-times, stored without a zone, are marked UTC.

:func:`value` converts one value fully (into what SQLAlchemy would have
returned), for the few places that compare or parse it, such as ``$skiptoken``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from embedded_api.odata.entities import Edm, Property

ColumnFix = Callable[[Sequence[Any]], Sequence[Any]]

# SQLAlchemy's scale for a Numeric column that declares none.
_DEFAULT_SCALE = 10


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _utc_column(column: Sequence[Any]) -> Sequence[Any]:
    return [_utc(value) for value in column]


def _decimal_column(scale: int | None) -> ColumnFix:
    template = f"%.{_DEFAULT_SCALE if scale is None else scale}f"

    def fix(column: Sequence[Any]) -> Sequence[Any]:
        return [
            value
            if value is None or isinstance(value, Decimal)
            else Decimal(value if isinstance(value, str) else template % value)
            for value in column
        ]

    return fix


def _boolean_column(column: Sequence[Any]) -> Sequence[Any]:
    return [value if value is None else bool(value) for value in column]


def column_fix(prop: Property, dialect: str) -> ColumnFix | None:
    """What brings a column of ``prop``'s driver values into writable form (None: nothing)."""
    if prop.edm is Edm.DATETIMEOFFSET:
        return _utc_column
    if dialect != "sqlite":
        return None
    if prop.edm is Edm.DECIMAL:
        return _decimal_column(prop.scale)
    if prop.edm is Edm.BOOLEAN:
        return _boolean_column
    return None


def value(prop: Property, raw: Any, dialect: str) -> Any:
    """One driver value as SQLAlchemy would have returned it."""
    if raw is None:
        return None
    if prop.edm is Edm.DATE and isinstance(raw, str):
        return dt.date.fromisoformat(raw)
    fix = column_fix(prop, dialect)
    return raw if fix is None else fix([raw])[0]
