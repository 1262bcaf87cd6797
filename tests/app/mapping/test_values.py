"""Reading source values as text, numbers, dates and timestamps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.mapping.errors import CellError
from app.mapping.values import (
    from_epoch,
    parse_decimal,
    parse_iso,
    to_date,
    to_decimal,
    to_text,
    to_timestamp,
)


@pytest.mark.parametrize(
    ("text", "comma", "expected"),
    [
        ("12", False, "12"),
        ("-12.5", False, "-12.5"),
        ("1,234.50", False, "1234.50"),
        ("1,234,567.5", False, "1234567.5"),
        ("1.234,50", True, "1234.50"),
        ("12,5", True, "12.5"),
        ("-0,75", True, "-0.75"),
        ("1 234,50", True, "1234.50"),
        ("1\u00a0234,50", True, "1234.50"),
        ("1'234.50", False, "1234.50"),
        ("$1,234.50", False, "1234.50"),
        ("€ 12,50", True, "12.50"),
        ("12,50 €", True, "12.50"),
        ("EUR 3", False, "3"),
        ("3.10 usd", False, "3.10"),
        ("-€12", False, "-12"),
        ("€-12", False, "-12"),
        ("(1,234.50)", False, "-1234.50"),
        ("12.50-", False, "-12.50"),
        ("\u22125", False, "-5"),
        ("+7", False, "7"),
        (".5", False, "0.5"),
        (",5", True, "0.5"),
        ("1e3", False, "1E+3"),
        ("  42  ", False, "42"),
    ],
)
def test_parse_decimal_reads_the_usual_spellings(text: str, comma: bool, expected: str) -> None:
    assert parse_decimal(text, decimal_comma=comma) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "comma", "message"),
    [
        ("abc", False, '"abc" is not a number'),
        ("1,5", False, 'for a decimal comma set "decimal_comma": true'),
        ("1.5", True, "decimal comma expected"),
        ("12 34", False, "is not a number"),
        ("1.2.3", False, "is not a number"),
        ("1,23,456", False, "is not a number"),
        ("--5", False, "is not a number"),
        ("(-5)", False, "is not a number"),
        ("5-5", False, "is not a number"),
        ("NaN", False, "is not a number"),
        ("Infinity", False, "is not a number"),
        ("€", False, "is not a number"),
        ("1_000", False, "is not a number"),
        ("1" * 15, False, "is too large"),
        ("1e20", False, "is too large"),
    ],
)
def test_parse_decimal_refuses_garbage_and_ambiguity(text: str, comma: bool, message: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_decimal(text, decimal_comma=comma)
    assert message in caught.value.message


def test_parse_decimal_treats_blank_text_as_missing() -> None:
    assert parse_decimal("   ") is None


def test_to_decimal_takes_json_numbers_exactly() -> None:
    assert to_decimal(3) == Decimal(3)
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal(Decimal("2.50")) == Decimal("2.50")
    assert to_decimal(None) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "true is not a number"),
        (float("nan"), "nan is not a number"),
        (float("inf"), "inf is not a number"),
        (Decimal("NaN"), "is not a number"),
        ({"amount": 1}, "an object is not a number"),
        ([1], "a list is not a number"),
        (10**14, "is too large"),
        pytest.param(10**5000, "a number of over 300 digits is too large", id="huge-int"),
    ],
)
def test_to_decimal_refuses_what_is_no_number(value: object, message: str) -> None:
    with pytest.raises(CellError) as caught:
        to_decimal(value)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (123, "123"),
        (12.0, "12"),
        (12.5, "12.5"),
        (1e21, "1e+21"),
        (True, "true"),
        (Decimal("12.50"), "12.50"),
        ("  padded  ", "padded"),
        ("", None),
        ("   ", None),
        (None, None),
        (dt.date(2024, 1, 5), "2024-01-05"),
    ],
)
def test_to_text(value: object, text: str | None) -> None:
    assert to_text(value) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, 2], "expected a single value, got a list"),
        ({"a": 1}, "expected a single value, got an object"),
        ("a\x00b", "contains a NUL character"),
        (float("nan"), "is not a number"),
        pytest.param(10**500, "too long", id="huge-int"),
    ],
)
def test_to_text_refuses_what_cannot_be_one_text(value: object, message: str) -> None:
    with pytest.raises(CellError) as caught:
        to_text(value)
    assert message in caught.value.message


def test_parse_iso_gives_dates_for_dates_and_datetimes_otherwise() -> None:
    assert parse_iso("2024-01-05") == dt.date(2024, 1, 5)
    assert parse_iso("2024-01-05T10:00:00Z") == dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC)
    assert parse_iso("2024-01-05 10:00") == dt.datetime(2024, 1, 5, 10)
    # More than microseconds (some APIs send nanoseconds): the wider ISO parser.
    long = parse_iso("2024-01-05T10:00:00.123456789+01:00")
    assert isinstance(long, dt.datetime)
    assert long.utcoffset() == dt.timedelta(hours=1)
    with pytest.raises(CellError, match="is not an ISO date"):
        parse_iso("05.01.2024")
    with pytest.raises(CellError, match="is not an ISO date"):
        parse_iso("2024-02-30")


def test_to_date_keeps_the_calendar_date_of_the_source_offset() -> None:
    assert to_date("2024-01-05T23:30:00-05:00") == dt.date(2024, 1, 5)
    assert to_date(dt.datetime(2024, 1, 5, 23, 30)) == dt.date(2024, 1, 5)
    assert to_date(dt.date(2024, 1, 5)) == dt.date(2024, 1, 5)
    assert to_date(" ") is None
    with pytest.raises(CellError, match="20240105 is not a date; add a date transform"):
        to_date(20240105)


def test_to_timestamp_is_aware_utc_and_reads_naive_values_as_utc() -> None:
    assert to_timestamp("2024-01-05T10:00:00+02:00") == dt.datetime(2024, 1, 5, 8, tzinfo=dt.UTC)
    naive = to_timestamp("2024-01-05T10:00:00")
    assert naive == dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC)
    assert naive.tzinfo is dt.UTC
    assert to_timestamp(dt.date(2024, 1, 5)) == dt.datetime(2024, 1, 5, tzinfo=dt.UTC)
    with pytest.raises(CellError, match="is not a timestamp"):
        to_timestamp(1704448800)
    with pytest.raises(CellError, match="out of range"):
        to_timestamp("0001-01-01T00:00:00+01:00")


def test_from_epoch_reads_seconds_and_milliseconds() -> None:
    expected = dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC)
    assert from_epoch(1704448800, milliseconds=False) == expected
    assert from_epoch("1704448800", milliseconds=False) == expected
    assert from_epoch(1704448800123, milliseconds=True) == expected.replace(microsecond=123000)
    with pytest.raises(CellError, match="out of range"):
        from_epoch(10**13, milliseconds=False)
    with pytest.raises(CellError, match="not a number"):
        from_epoch("soon", milliseconds=False)
