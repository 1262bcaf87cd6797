"""Reading source values as text, numbers, dates and timestamps.

Every function here takes whatever a record holds (JSON scalars, objects and
lists, or the ``datetime`` values of a spreadsheet) and either returns the
typed value or raises :class:`CellError` with a message fit for the operator.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from dateutil.parser import isoparse

from app.mapping.errors import CellError, show

# Amounts are stored as NUMERIC(18, 4): 14 digits before the point. Digits past
# the fourth decimal place are kept here and rounded by the store, not flagged.
MAX_DECIMAL = Decimal(10) ** 14
_MAX_WHOLE = 10**14
# Epoch values beyond this many seconds (year ~33658) are not timestamps.
MAX_EPOCH_SECONDS = Decimal(10) ** 12

_PLAIN_POINT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_PLAIN_COMMA = re.compile(r"[+-]?[0-9]+(?:,[0-9]+)?")
# Digits with optional thousands groups and fraction; {g} and {d} are the separators.
_NUMBER = r"(?:[0-9]{{1,3}}(?:{g}[0-9]{{3}})+|[0-9]+)(?:{d}[0-9]*)?|{d}[0-9]+"
_POINT_BODY = re.compile(_NUMBER.format(g=",", d=r"\.") + r"|[0-9]+(?:\.[0-9]*)?[eE][+-]?[0-9]+")
_COMMA_BODY = re.compile(_NUMBER.format(g=r"\.", d=","))
# What separates thousands besides the mode's own mark: spaces and apostrophes (1'234.50).
_GROUP_MARKS = re.compile(r"[ \u00a0\u202f\u2009'\u2019]")
_CURRENCY_CODE = re.compile(r"^[A-Za-z]{3}(?![A-Za-z])|(?<![A-Za-z])[A-Za-z]{3}$")
_MINUS = "-\u2212"


def to_text(value: object) -> str | None:
    """A scalar as trimmed text; None for missing or empty. Whole floats lose their ``.0``."""
    if isinstance(value, str):
        text = value.strip()
    elif value is None:
        return None
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        # str() of a huge int is slow and refused past 4,300 digits; no column is that long.
        if value.bit_length() > 1500:
            raise CellError("the number is too long for text")
        text = str(value)
    elif isinstance(value, float):
        text = _float_text(value)
    elif isinstance(value, Decimal):
        text = _decimal_text(value)
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    elif isinstance(value, (dict, list)):
        raise CellError(f"expected a single value, got {show(value)}")
    else:
        text = str(value).strip()
    if "\x00" in text:
        raise CellError(f"{show(text)} contains a NUL character")
    return text or None


def _float_text(value: float) -> str:
    if not math.isfinite(value):
        raise CellError(f"{value} is not a number")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        raise CellError(f"{value} is not a number")
    if -30 < value.adjusted() < 30:
        return format(value, "f")
    return str(value)


def is_empty(value: object) -> bool:
    """Missing for the purpose of ``default``: null, or text that is only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


def to_decimal(value: object, *, decimal_comma: bool = False) -> Decimal | None:
    """A number as a Decimal; text is parsed as by :func:`parse_decimal`."""
    if isinstance(value, str):
        return parse_decimal(value, decimal_comma=decimal_comma)
    if type(value) is int and -_MAX_WHOLE < value < _MAX_WHOLE:
        return Decimal(value)  # the common case, in range without a Decimal comparison
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellError(f"{show(value)} is not a number")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        _float_text(value)  # refuses nan and infinity
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise CellError(f"{value} is not a number")
        number = value
    else:
        raise CellError(f"{show(value)} is not a number")
    return _in_range(number, value)


def _in_range(number: Decimal, source: object) -> Decimal:
    if number.copy_abs() >= MAX_DECIMAL:
        raise CellError(f"{show(source)} is too large (at most 14 digits before the point)")
    return number


def parse_decimal(text: str, *, decimal_comma: bool = False) -> Decimal | None:
    """Parse ``1234.5``, ``1,234.50``, ``-€12``, ``(12.00)``, ``12.50-`` or ``EUR 3``.

    With ``decimal_comma`` the marks swap roles: ``1.234,50``. Thousands groups
    must have three digits, so ``1,5`` is refused in point mode rather than read
    as 15. Empty text is missing (None).
    """
    stripped = text.strip()
    if not stripped:
        return None
    if decimal_comma:
        if _PLAIN_COMMA.fullmatch(stripped):
            return _in_range(Decimal(stripped.replace(",", ".")), text)
    elif _PLAIN_POINT.fullmatch(stripped):
        number = Decimal(stripped)
        # Up to 14 characters hold at most 14 digits before the point.
        return number if len(stripped) <= 14 else _in_range(number, text)
    negative, body = _sign_and_body(stripped, text)
    body = _GROUP_MARKS.sub("." if decimal_comma else ",", body)
    pattern = _COMMA_BODY if decimal_comma else _POINT_BODY
    if not pattern.fullmatch(body):
        hint = ""
        if not decimal_comma and _COMMA_BODY.fullmatch(body):
            hint = ' (for a decimal comma set "decimal_comma": true)'
        elif decimal_comma and _POINT_BODY.fullmatch(body):
            hint = " (decimal comma expected, as in 1.234,50)"
        raise CellError(f"{show(text)} is not a number{hint}")
    body = body.replace(".", "").replace(",", ".") if decimal_comma else body.replace(",", "")
    if body.startswith("."):
        body = "0" + body
    try:
        number = Decimal(body)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        raise CellError(f"{show(text)} is not a number") from None
    return _in_range(-number if negative else number, text)


def _sign_and_body(stripped: str, original: str) -> tuple[bool, str]:
    """Split off a sign, accounting parentheses, currency symbols and codes."""
    body = stripped
    signs = 0
    negative = False
    if body.startswith("(") and body.endswith(")"):
        body, negative, signs = body[1:-1], True, 1
    for _ in range(3):
        body = _CURRENCY_CODE.sub("", body).strip()
        body = _strip_symbols(body)
        if not body:
            break
        if body[0] in _MINUS or body[0] == "+":
            negative, signs = negative or body[0] in _MINUS, signs + 1
            body = body[1:].strip()
        elif body[-1] in _MINUS:
            negative, signs = True, signs + 1
            body = body[:-1].strip()
        else:
            break
    if signs > 1 or not body:
        raise CellError(f"{show(original)} is not a number")
    return negative, body


def _strip_symbols(text: str) -> str:
    """Drop currency symbols ($, €, £...) at either end."""
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start]) == "Sc":
        start += 1
    while end > start and unicodedata.category(text[end - 1]) == "Sc":
        end -= 1
    return text[start:end].strip()


def parse_iso(text: str) -> dt.date | dt.datetime:
    """An ISO 8601 date (``2024-01-05``) or date and time, with or without offset."""
    stripped = text.strip()
    if len(stripped) <= 10:
        try:
            return dt.date.fromisoformat(stripped)
        except ValueError:
            pass
    try:
        return dt.datetime.fromisoformat(stripped)
    except ValueError:
        pass
    try:
        # Wider ISO 8601 than the standard library: week dates, 24:00, long fractions.
        return isoparse(stripped)
    except (ValueError, OverflowError):
        raise CellError(f"{show(text)} is not an ISO date (YYYY-MM-DD)") from None


def local_date(value: dt.date, zone: ZoneInfo | None) -> dt.date:
    """The calendar date of ``value``: in ``zone`` when given and it has an offset."""
    if not isinstance(value, dt.datetime):
        return value
    if zone is not None and value.tzinfo is not None:
        try:
            value = value.astimezone(zone)
        except (OverflowError, ValueError):
            raise CellError(f"{show(value.isoformat())} is out of range") from None
    return value.date()


def utc_timestamp(value: dt.date, zone: ZoneInfo | None) -> dt.datetime:
    """An aware UTC datetime; naive values and bare dates are read in ``zone`` (UTC if None)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone or dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise CellError(f"{show(value.isoformat())} is out of range") from None


def to_date(value: object) -> dt.date | None:
    """A date from a date, a datetime (its own calendar date) or ISO text."""
    if isinstance(value, str):
        return local_date(parse_iso(value), None) if value.strip() else None
    if value is None:
        return None
    if isinstance(value, dt.date):
        return local_date(value, None)
    raise CellError(f"{show(value)} is not a date; add a date transform to read it")


def to_timestamp(value: object) -> dt.datetime | None:
    """An aware UTC datetime from a datetime, a date or ISO text; naive means UTC."""
    if isinstance(value, str):
        return utc_timestamp(parse_iso(value), None) if value.strip() else None
    if value is None:
        return None
    if isinstance(value, dt.date):
        return utc_timestamp(value, None)
    raise CellError(f"{show(value)} is not a timestamp; add a date transform to read it")


def from_epoch(value: object, *, milliseconds: bool) -> dt.datetime:
    """An aware UTC datetime from seconds (or milliseconds) since 1970-01-01 UTC."""
    number = value if isinstance(value, Decimal) else to_decimal(value)
    if number is None:  # pragma: no cover - callers pass no empty values
        raise CellError("missing")
    seconds = number / 1000 if milliseconds else number
    if seconds.copy_abs() > MAX_EPOCH_SECONDS:
        raise CellError(f"{show(value)} is out of range for an epoch timestamp")
    try:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            microseconds=int(seconds * 1_000_000)
        )
    except OverflowError:
        raise CellError(f"{show(value)} is out of range for an epoch timestamp") from None
