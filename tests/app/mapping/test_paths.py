"""The path syntax, reading values with paths, and list expansion."""

from __future__ import annotations

import pytest

from app.mapping.errors import CellError
from app.mapping.paths import (
    EXPAND,
    INDEX,
    KEY,
    NotAList,
    PathSyntaxError,
    expand,
    format_path,
    make_getter,
    parse_path,
    walk,
)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("id", ((KEY, "id"),)),
        ("customer.id", ((KEY, "customer"), (KEY, "id"))),
        ("items.0.sku", ((KEY, "items"), (INDEX, 0), (KEY, "sku"))),
        ("items[0].sku", ((KEY, "items"), (INDEX, 0), (KEY, "sku"))),
        ("items[-1]", ((KEY, "items"), (INDEX, -1))),
        ('["Unit Price"]', ((KEY, "Unit Price"),)),
        ("Unit Price", ((KEY, "Unit Price"),)),
        ('order["ship.to"].city', ((KEY, "order"), (KEY, "ship.to"), (KEY, "city"))),
        ('["say \\"hi\\" [now]"]', ((KEY, 'say "hi" [now]'),)),
        ('["0"]', ((KEY, "0"),)),
        ("line_items[].sku", ((KEY, "line_items"), (EXPAND, None), (KEY, "sku"))),
        ("matrix[][]", ((KEY, "matrix"), (EXPAND, None), (EXPAND, None))),
        ("[].a", ((EXPAND, None), (KEY, "a"))),
    ],
)
def test_parse_path_reads_each_form(text: str, segments: tuple) -> None:
    assert parse_path(text).segments == segments


def test_nested_expansion_has_a_prefix_per_list() -> None:
    path = parse_path("lines[].lots[].qty")
    assert path.depth == 2
    assert str(path) == "lines[].lots[].qty"
    assert path.prefix == (
        (KEY, "lines"),
        (EXPAND, None),
        (KEY, "lots"),
        (EXPAND, None),
    )
    assert path.tail == ((KEY, "qty"),)
    assert parse_path("customer.id").prefix == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("a..b", "empty key at position 3"),
        (".a", "empty key at position 1"),
        ("a.", "ends with '.'"),
        ("a[", "bad brackets at position 2"),
        ("a[x]", "bad brackets"),
        ('a"b', "unexpected '\"' at position 2"),
        ("a]", "unexpected ']'"),
        ("a.[0]", "write items[0], not items.[0]"),
        ("a[]b", "expected '.' or '[' at position 4"),
        (" a", "has spaces at its ends"),
        ('["open', "unterminated quoted key"),
        ('["a"x', "expected ']' after the quoted key"),
        ("a" * 501, "longer than 500 characters"),
        (42, "must be text"),
    ],
)
def test_parse_path_refuses_bad_syntax_saying_where(text: object, message: str) -> None:
    with pytest.raises(PathSyntaxError) as caught:
        parse_path(text)
    assert message in str(caught.value)


def test_format_path_quotes_only_what_needs_it() -> None:
    segments = parse_path('order["ship.to"].lines[]["Unit Price"][2].sku_code').segments
    assert format_path(segments) == 'order["ship.to"].lines[]["Unit Price"][2].sku_code'
    assert format_path(((KEY, "Order ID"),)) == '["Order ID"]'
    assert format_path(((KEY, "0"),)) == '["0"]'
    assert parse_path(format_path(segments)).segments == segments


RECORD = {
    "customer": {"id": 7, "tags": ["a", "b"]},
    "items": [{"sku": "A"}, {"sku": "B"}],
    "by_number": {"0": "zero"},
    "text": "plain",
}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("customer.id", 7),
        ("customer.tags.1", "b"),
        ("customer.tags[-1]", "b"),
        ("items[1].sku", "B"),
        ("by_number.0", "zero"),
        ("missing", None),
        ("customer.missing.deeper", None),
        ("items[5].sku", None),
        ("text.inner", None),
        ('["by_number"]["0"]', "zero"),
        ("items.sku", None),
    ],
)
def test_walk_reads_values_and_gives_none_for_missing(text: str, value: object) -> None:
    assert walk(RECORD, parse_path(text).segments) == value
    assert make_getter(parse_path(text))(RECORD, ()) == value


def test_getter_of_a_flat_path_reads_non_objects_as_missing() -> None:
    get = make_getter(parse_path("sku"))
    assert get({"sku": "A"}, ()) == "A"
    for record in (None, "sku", ["sku"], 3):
        assert get(record, ()) is None


def test_expand_gives_one_row_per_item_and_nested_rows_per_inner_item() -> None:
    record = {"lines": [{"lots": [1, 2]}, {"lots": []}, {"lots": [3]}, {}]}
    prefix = parse_path("lines[].lots[]").prefix
    rows = expand(record, prefix)
    assert [row[1] for row in rows] == [1, 2, 3]
    assert rows[0][0] is record["lines"][0]
    assert rows[2][0] is record["lines"][2]


@pytest.mark.parametrize("value", [[], None])
def test_expand_of_an_empty_or_null_list_gives_no_rows(value: object) -> None:
    prefix = parse_path("lines[]").prefix
    assert expand({"lines": value}, prefix) == []
    assert expand({}, prefix) == []
    assert expand("not a record", prefix) == []


def test_expand_reads_a_lone_object_as_a_list_of_one() -> None:
    # XML turned into JSON gives an object where there was only one element.
    line = {"sku": "A"}
    assert expand({"lines": line}, parse_path("lines[]").prefix) == [(line,)]


def test_expand_of_a_scalar_gives_a_row_that_says_so() -> None:
    rows = expand({"lines": "oops"}, parse_path("lines[].lots[]").prefix)
    assert len(rows) == 1
    marker = rows[0][-1]
    assert isinstance(marker, NotAList)
    assert marker.message == 'lines is "oops", not a list'
    with pytest.raises(CellError, match="not a list"):
        make_getter(parse_path("lines[].sku"))({"lines": "oops"}, rows[0])
