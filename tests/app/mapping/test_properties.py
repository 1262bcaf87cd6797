"""Properties of the mapping engine over generated records, numbers, paths and mappings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.canonical import BY_NAME, COLUMN_NAMES, COLUMNS, STATUSES, ColumnType
from app.mapping import (
    MappedRow,
    MappingError,
    apply_mapping,
    discover_fields,
    validate_mapping,
)
from app.mapping.paths import EXPAND, INDEX, KEY, format_path, parse_path, walk
from app.mapping.values import parse_decimal
from tests.app.mapping.samples import SHOPIFY_MAPPING

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values that sources send and that exercise the parsers' edges.
TRICKY = st.sampled_from(
    [
        "", " ", "2024-01-05", "2024-03-31T23:30:00Z", "05.01.2024", "1.234,50", "1,234.50",
        "abc", "paid", "refund", "EUR", "eur", "(12.00)", "12.50-", "NaN", "1e999999",
        "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "\x00", "#1001", "a|b|c",
        "1704448800", "-0", "١٢٣",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12)
    | TRICKY
)
KEYS = st.sampled_from(
    [
        "id", "sku", "qty", "quantity", "created_at", "updated_at", "kind", "line_items",
        "lots", "price", "title", "variant_title", "financial_status", "source_name",
        "location_id", "customer", "currency", "Order ID",
    ]
) | st.text(max_size=4)  # fmt: skip
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)
RECORDS = st.dictionaries(KEYS, JSON_LIKE, max_size=10) | JSON_LIKE

KITCHEN_SINK: dict[str, Any] = {
    "columns": {
        "order_id": {"path": "id", "transforms": [{"type": "strip", "chars": "#"}]},
        "line_id": {"concat": ["line_items[].id", "line_items[].lots[].id"], "separator": "/"},
        "order_date": {
            "path": "created_at",
            "default": "2024-01-01",
            "transforms": [{"type": "date", "timezone": "Pacific/Kiritimati"}],
        },
        "sku": {
            "path": "line_items[].sku",
            "transforms": [{"type": "split", "separator": "|", "index": -1}, {"type": "upper"}],
        },
        "quantity": {
            "path": "line_items[].lots[].qty",
            "transforms": [
                {"type": "decimal", "decimal_comma": True},
                {
                    "type": "multiply",
                    "by": 0.5,
                    "when": {"path": "kind", "in": ["refund", 1, None]},
                },
                {"type": "negate", "when": {"path": "line_items[].returned", "equals": True}},
            ],
        },
        "unit_price": {
            "path": "line_items[].price",
            "transforms": [{"type": "multiply", "by": 100}],
        },
        "product_name": {
            "path": "line_items[].title",
            "transforms": [{"type": "prefix", "value": "P "}],
        },
        "currency": {"path": "currency", "transforms": [{"type": "lower"}]},
        "location": {"path": "location_id", "transforms": [{"type": "suffix", "value": "-DC"}]},
        "customer_id": {"path": "customer.id"},
        "channel": {
            "path": "source_name",
            "transforms": [{"type": "map", "values": {"web": "online"}}],
        },
        "status": {
            "path": "financial_status",
            "transforms": [{"type": "map", "values": {"paid": "fulfilled"}, "default": "open"}],
        },
        "source_updated_at": {
            "path": "updated_at",
            "transforms": [{"type": "date", "format": "epoch_ms"}],
        },
    }
}
FLAT = {"columns": {name: {"path": name} for name in COLUMN_NAMES}}
MAPPINGS = [validate_mapping(spec) for spec in (SHOPIFY_MAPPING, KITCHEN_SINK, FLAT)]


def assert_typed(row: MappedRow) -> None:
    """Every value has its column's canonical type; no column is both a value and an error."""
    assert not set(row.values) & set(row.errors)
    for name, value in row.values.items():
        column = BY_NAME[name]
        if column.type is ColumnType.TEXT:
            assert isinstance(value, str)
            assert value
            assert value == value.strip()
            assert column.max_length is None or len(value) <= column.max_length
        elif column.type is ColumnType.DATE:
            assert type(value) is dt.date
        elif column.type is ColumnType.DECIMAL:
            assert isinstance(value, Decimal)
            assert value.is_finite()
            assert abs(value) < 10**14
        else:
            assert isinstance(value, dt.datetime)
            assert value.utcoffset() == dt.timedelta(0)
    if "status" in row.values:
        assert row.values["status"] in STATUSES
    for message in row.errors.values():
        assert isinstance(message, str)
        assert message


@FAST
@given(record=RECORDS)
def test_no_record_makes_apply_mapping_raise(record: Any) -> None:
    for mapping in MAPPINGS:
        for row in apply_mapping(mapping, record):
            assert_typed(row)
            for name in BY_NAME:
                if BY_NAME[name].required:
                    assert name in row.values or name in row.errors


SHOPIFY_LIKE = st.fixed_dictionaries(
    {
        "id": SCALARS,
        "created_at": SCALARS,
        "kind": SCALARS,
        "currency": SCALARS,
        "updated_at": SCALARS,
        "line_items": st.lists(
            st.dictionaries(KEYS, JSON_LIKE, max_size=6)
            | st.fixed_dictionaries(
                {"id": SCALARS, "sku": SCALARS, "price": SCALARS, "lots": JSON_LIKE}
            ),
            max_size=4,
        )
        | JSON_LIKE,
    }
)


@FAST
@given(record=SHOPIFY_LIKE)
def test_no_order_shaped_record_makes_apply_mapping_raise(record: Any) -> None:
    for mapping in MAPPINGS:
        for row in apply_mapping(mapping, record):
            assert_typed(row)


AMOUNTS = st.decimals(
    min_value=Decimal("-9999999999999.9999"),
    max_value=Decimal("9999999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)


@FAST
@given(
    amount=AMOUNTS,
    grouped=st.booleans(),
    comma=st.booleans(),
    wrap=st.sampled_from([("", ""), ("€ ", ""), ("$", ""), ("", " EUR"), ("EUR ", "")]),
)
def test_decimals_written_with_comma_or_point_read_back_equal(
    amount: Decimal, grouped: bool, comma: bool, wrap: tuple[str, str]
) -> None:
    text = format(amount, ",f" if grouped else "f")
    if comma:
        text = text.translate(str.maketrans(",.", ".,"))
    negative = text.startswith("-")
    text = ("-" if negative else "") + wrap[0] + text.lstrip("-") + wrap[1]
    assert parse_decimal(text, decimal_comma=comma) == amount
    spec = {
        "columns": {
            **{name: {"const": "x"} for name in ("order_id", "line_id", "sku")},
            "order_date": {"const": "2024-01-01"},
            "quantity": {"path": "q", "transforms": [{"type": "decimal", "decimal_comma": comma}]},
        }
    }
    [row] = apply_mapping(validate_mapping(spec), {"q": text})
    assert row.values["quantity"] == amount


LINE = st.fixed_dictionaries({"sku": st.text(max_size=5), "qty": st.integers(-5, 50)})
LINES_MAPPING = validate_mapping(
    {
        "columns": {
            "order_id": {"path": "id"},
            "line_id": {"const": "1"},
            "order_date": {"const": "2024-01-01"},
            "sku": {"path": "lines[].sku"},
            "quantity": {"path": "lines[].qty"},
        }
    }
)
LOTS_MAPPING = validate_mapping(
    {
        "columns": {
            "order_id": {"path": "id"},
            "line_id": {"path": "lines[].lots[].n"},
            "order_date": {"const": "2024-01-01"},
            "sku": {"path": "lines[].sku"},
            "quantity": {"path": "lines[].lots[].qty"},
        }
    }
)


@FAST
@given(lines=st.lists(LINE, max_size=30), order_id=st.integers(1, 10**9))
def test_expansion_gives_one_row_per_list_item(lines: list[dict], order_id: int) -> None:
    rows = apply_mapping(LINES_MAPPING, {"id": order_id, "lines": lines})
    assert len(rows) == len(lines)
    assert [row.values.get("quantity") for row in rows] == [line["qty"] for line in lines]
    assert {row.values["order_id"] for row in rows} <= {str(order_id)}


@FAST
@given(lots_per_line=st.lists(st.integers(0, 6), max_size=8))
def test_nested_expansion_gives_one_row_per_inner_item(lots_per_line: list[int]) -> None:
    lines = [
        {"sku": f"S{i}", "lots": [{"n": j, "qty": j + 1} for j in range(count)]}
        for i, count in enumerate(lots_per_line)
    ]
    rows = apply_mapping(LOTS_MAPPING, {"id": 1, "lines": lines})
    assert len(rows) == sum(lots_per_line)
    expected = [(f"S{i}", str(j)) for i, count in enumerate(lots_per_line) for j in range(count)]
    assert [(row.values["sku"], row.values["line_id"]) for row in rows] == expected


def _text(column: str) -> st.SearchStrategy[str]:
    limit = BY_NAME[column].max_length or 300
    alphabet = st.characters(blacklist_categories=("Cs", "Cc"))
    return st.text(alphabet, min_size=1, max_size=limit).map(str.strip).filter(bool)


OFFSETS = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)


def _canonical_value(column: str) -> st.SearchStrategy[Any]:
    kind = BY_NAME[column].type
    if column == "currency":
        return st.from_regex(r"[A-Z]{3}", fullmatch=True)
    if column == "status":
        return st.sampled_from(sorted(STATUSES))
    if kind is ColumnType.DATE:
        return st.dates()
    if kind is ColumnType.DECIMAL:
        return AMOUNTS
    if kind is ColumnType.TIMESTAMP:
        return st.datetimes(
            min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=OFFSETS
        )
    return _text(column)


CANONICAL_ROWS = st.fixed_dictionaries(
    {column.name: _canonical_value(column.name) for column in COLUMNS if column.required},
    optional={
        column.name: _canonical_value(column.name) for column in COLUMNS if not column.required
    },
)


def _as_source(value: Any, as_text: bool) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return (
            str(value)
            if as_text
            else float(value)
            if value == value.quantize(Decimal(1))
            else str(value)
        )
    return value


@FAST
@given(row=CANONICAL_ROWS, as_text=st.booleans())
def test_a_flat_identity_mapping_round_trips_canonical_rows(
    row: dict[str, Any], as_text: bool
) -> None:
    record = {name: _as_source(value, as_text) for name, value in row.items()}
    [mapped] = apply_mapping(MAPPINGS[2], record)
    expected = dict(row)
    expected.setdefault("location", "default")
    if "source_updated_at" in expected:
        expected["source_updated_at"] = expected["source_updated_at"].astimezone(dt.UTC)
    assert mapped.errors == {}
    assert mapped.values == expected


SEGMENTS = st.lists(
    st.tuples(st.just(KEY), st.text(max_size=8))
    | st.tuples(st.just(INDEX), st.integers(-(10**6), 10**6))
    | st.tuples(st.just(EXPAND), st.none()),
    min_size=1,
    max_size=6,
)


@FAST
@given(segments=SEGMENTS)
def test_formatted_paths_parse_back_to_the_same_segments(segments: list) -> None:
    text = format_path(segments)
    path = parse_path(text)
    assert path.segments == tuple(segments)
    assert str(path) == text


NESTED = st.recursive(
    st.text(min_size=1, max_size=10).filter(str.strip) | st.integers() | st.booleans(),
    lambda inner: st.dictionaries(st.text(max_size=6), inner, min_size=1, max_size=4),
    max_leaves=10,
)


@settings(max_examples=50, deadline=None)
@given(record=st.dictionaries(st.text(max_size=6), NESTED, max_size=5))
def test_discovered_paths_read_back_the_values_they_were_found_at(record: dict) -> None:
    for field in discover_fields([record]):
        assert field.share == 1.0
        assert walk(record, parse_path(field.path).segments) == field.example


MAPPING_WORDS = st.sampled_from(
    [
        "path", "const", "concat", "separator", "default", "transforms", "type", "format",
        "timezone", "decimal_comma", "by", "when", "in", "equals", "values", "chars", "value",
        "index", "date", "decimal", "multiply", "negate", "map", "strip", "split", "upper",
        "Europe/Berlin", "%d.%m.%Y", "epoch", "lines[].sku", "a[", "b[].c", "x",
    ]
)  # fmt: skip
SPEC_VALUES = st.recursive(
    SCALARS | MAPPING_WORDS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(MAPPING_WORDS, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=100, deadline=None)
@given(
    columns=st.dictionaries(
        st.sampled_from([*COLUMN_NAMES, "bogus"]),
        st.dictionaries(MAPPING_WORDS, SPEC_VALUES, max_size=4) | SPEC_VALUES,
        max_size=6,
    )
)
def test_any_document_validates_or_raises_mapping_error(columns: dict) -> None:
    try:
        mapping = validate_mapping({"columns": columns})
    except MappingError as exc:
        problems = exc.problems
    else:
        problems = None
    if problems is not None:
        assert problems
        assert set(problems) <= {*columns, *COLUMN_NAMES, "mapping", "columns"}
        return
    for row in apply_mapping(mapping, {"lines": [{"sku": "A"}], "x": "1", "b": [{"c": 2}]}):
        assert_typed(row)
