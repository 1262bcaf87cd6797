"""Xero's date values: ``/Date(1518685950940+0000)/`` and the ``DateString`` text.

The Accounting API writes times in the Microsoft JSON form: milliseconds since
1970-01-01 UTC, optionally followed by the offset of the time zone the value
was written in (``+1300``). The milliseconds are always UTC; the offset only
says where the wall clock was, so the calendar date a document carries is that
of the instant moved by its offset. ``DateString`` (``2016-12-16T00:00:00``,
sometimes with a space for the ``T``) is the same date as the organisation's
wall clock wrote it.
"""

from __future__ import annotations

import datetime as dt
import re

_MS_DATE = re.compile(r"/Date\((-?\d{1,15})(?:([+-])(\d{2})(\d{2}))?\)/")


class XeroDateError(ValueError):
    """A value is not a date in any of the forms Xero writes."""


def parse_ms_date(text: str) -> tuple[dt.datetime, dt.timedelta]:
    """The instant of a ``/Date(ms±hhmm)/`` value (aware, UTC) and its offset.

    Raises:
        XeroDateError: ``text`` is not in that form, or its offset is not a time zone.
    """
    found = _MS_DATE.fullmatch(text.strip())
    if found is None:
        raise XeroDateError(f"{text!r} is not a /Date(milliseconds±hhmm)/ value")
    millis, sign, hours, minutes = found.groups()
    offset = dt.timedelta()
    if sign is not None:
        offset = dt.timedelta(hours=int(hours), minutes=int(minutes))
        if offset >= dt.timedelta(hours=24) or int(minutes) >= 60:
            raise XeroDateError(f"{text!r} has an offset that is not a time zone")
        offset = -offset if sign == "-" else offset
    try:
        instant = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=int(millis))
    except OverflowError:
        raise XeroDateError(f"{text!r} is out of range") from None
    return instant, offset


def instant(value: object) -> dt.datetime:
    """An aware UTC datetime from a ``/Date(...)/`` value or ISO 8601 text (naive is UTC).

    Raises:
        XeroDateError: the value is neither.
    """
    if not isinstance(value, str) or not value.strip():
        raise XeroDateError(f"{value!r} is not a date")
    text = value.strip()
    if text.startswith("/Date("):
        return parse_ms_date(text)[0]
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise XeroDateError(f"{value!r} is not a /Date(...)/ value or ISO 8601 text") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def calendar_date(value: object) -> dt.date:
    """The calendar date of a ``/Date(...)/`` value where it was written, or of ISO text.

    A ``/Date(...)/`` value's instant is moved by its offset first, so
    ``/Date(1481803200000+1300)/`` (11:00 UTC on 15 December) is 16 December.
    ISO text (``DateString``) is read as written, without conversion.

    Raises:
        XeroDateError: the value is neither form.
    """
    if not isinstance(value, str) or not value.strip():
        raise XeroDateError(f"{value!r} is not a date")
    text = value.strip()
    if text.startswith("/Date("):
        moment, offset = parse_ms_date(text)
        return (moment + offset).date()
    try:
        return dt.datetime.fromisoformat(text.replace(" ", "T", 1).replace("Z", "+00:00")).date()
    except ValueError:
        raise XeroDateError(f"{value!r} is not a /Date(...)/ value or ISO 8601 text") from None
