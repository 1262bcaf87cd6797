"""Turning a column's final value into its canonical type (app.canonical)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from app.canonical import STATUSES, Column, ColumnType
from app.mapping.errors import CellError, show
from app.mapping.values import to_date, to_decimal, to_text, to_timestamp

Coercer = Callable[[Any], Any]

_CURRENCY = re.compile(r"[A-Z]{3}")
_STATUS_LIST = ", ".join(sorted(STATUSES))
# Whole numbers below this have at most 19 digits (20 characters with a sign).
_SHORT_INT = 10**19


def coercer(column: Column) -> Coercer:
    """The function that makes a value fit ``column``, or raises CellError; None stays None."""
    if column.type is ColumnType.DATE:
        return to_date
    if column.type is ColumnType.DECIMAL:
        return to_decimal
    if column.type is ColumnType.TIMESTAMP:
        return to_timestamp
    if column.name == "currency":
        return _currency
    if column.name == "status":
        return _status
    return _text(column.max_length)


def _text(limit: int | None) -> Coercer:
    bound = limit if limit is not None else sys.maxsize

    def text(value: Any) -> str | None:
        # The usual cells first: clean text, and whole numbers well short of any limit.
        kind = type(value)
        if kind is str:
            result = value.strip()
            if len(result) <= bound and "\x00" not in result:
                return result or None
        elif kind is int and -_SHORT_INT < value < _SHORT_INT and bound >= 20:
            return str(value)
        result = to_text(value)
        if limit is not None and result is not None and len(result) > limit:
            raise CellError(f"{show(result)} is longer than {limit} characters")
        return result

    return text


def _currency(value: Any) -> str | None:
    code = to_text(value)
    if code is None:
        return None
    code = code.upper()
    if not _CURRENCY.fullmatch(code):
        raise CellError(f"{show(value)} is not a three-letter currency code such as EUR")
    return code


def _status(value: Any) -> str | None:
    status = to_text(value)
    if status is None:
        return None
    status = status.lower()
    if status not in STATUSES:
        raise CellError(
            f"{show(value)} is not a status ({_STATUS_LIST}); translate it with a map transform"
        )
    return status
