"""validate_mapping: every problem is named against its column, and nothing is half-accepted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.mapping import Mapping, MappingError, validate_mapping
from app.services.errors import InvalidInput
from tests.app.mapping.samples import REQUIRED_CONSTANTS, SHOPIFY_MAPPING


def problems_of(columns: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(MappingError) as caught:
        validate_mapping({"columns": {**REQUIRED_CONSTANTS, **columns}})
    return caught.value.problems


def problem(column: str, entry: Any) -> str:
    found = problems_of({column: entry})
    assert list(found) == [column]
    return found[column]


def test_the_documented_example_validates_and_round_trips_as_json() -> None:
    mapping = validate_mapping(SHOPIFY_MAPPING)
    assert isinstance(mapping, Mapping)
    assert mapping.as_dict() == SHOPIFY_MAPPING
    assert mapping.expansion == "line_items[]"
    assert mapping.columns[:5] == ("order_id", "line_id", "order_date", "sku", "quantity")
    assert validate_mapping(mapping) is mapping


def test_the_mapping_keeps_its_own_copy_of_the_document() -> None:
    spec = copy.deepcopy(SHOPIFY_MAPPING)
    mapping = validate_mapping(spec)
    spec["columns"]["sku"]["path"] = "changed"
    assert mapping.as_dict()["columns"]["sku"]["path"] == "line_items[].sku"


def test_every_missing_required_column_is_named() -> None:
    with pytest.raises(MappingError) as caught:
        validate_mapping({"columns": {"sku": {"path": "sku"}}})
    assert caught.value.problems == dict.fromkeys(
        ("order_id", "line_id", "order_date", "quantity"),
        "is required: map it to a source path or a constant",
    )
    assert str(caught.value).startswith("order_id: is required")
    assert isinstance(caught.value, InvalidInput)


@pytest.mark.parametrize(
    ("spec", "key", "message"),
    [
        ([], "mapping", 'must be a JSON object with "columns"'),
        ({"columns": []}, "columns", "must be an object from canonical column to source"),
        ({}, "columns", "must be an object"),
        ({"columns": {}, "version": 2}, "mapping", 'unknown setting "version"'),
        ({"columns": {"sku": {"const": float("nan")}}}, "mapping", "is not plain JSON"),
        ({"columns": {"sku": {"const": object()}}}, "mapping", "is not plain JSON"),
    ],
)
def test_document_level_problems(spec: Any, key: str, message: str) -> None:
    with pytest.raises(MappingError) as caught:
        validate_mapping(spec)
    assert message in caught.value.problems[key]


def test_unknown_columns_are_refused_with_the_known_ones_listed() -> None:
    found = problems_of({"qty": {"path": "qty"}})
    assert found["qty"].startswith("is not a canonical column; the columns are order_id, line_id")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("sku", 'must be an object such as {"path": "..."}'),
        ({}, 'needs exactly one of "path", "const" and "concat"'),
        ({"path": "a", "const": "b"}, 'needs exactly one of "path", "const" and "concat"'),
        ({"path": "a", "pth": "b"}, 'unknown setting "pth"'),
        ({"path": "a", "separator": "-"}, '"separator" belongs with "concat"'),
        ({"path": "a..b"}, 'path "a..b" empty key at position 3'),
        ({"path": 7}, "path 7 must be text"),
        ({"const": None}, '"const" must be a single value'),
        ({"const": ["A"]}, '"const" must be a single value'),
        ({"concat": "a"}, '"concat" must be a non-empty list of paths'),
        ({"concat": []}, '"concat" must be a non-empty list of paths'),
        ({"concat": ["a", "b["]}, 'concat path 2 "b[" bad brackets'),
        ({"concat": ["a"], "separator": 1}, '"separator" must be text'),
        ({"path": "a", "default": {"x": 1}}, '"default" must be a single value'),
        ({"path": "a", "transforms": {"type": "strip"}}, '"transforms" must be a list'),
        ({"path": "a", "transforms": ["strip"]}, 'transform 1: must be an object with a "type"'),
    ],
)
def test_column_entry_problems(entry: Any, message: str) -> None:
    assert message in problem("sku", entry)


@pytest.mark.parametrize(
    ("column", "transform", "message"),
    [
        ("sku", {"type": "trim"}, 'transform 2: unknown type "trim"; known types: date, decimal'),
        ("sku", {"kind": "strip"}, "transform 2: unknown type null"),
        ("sku", {"type": "upper", "value": 1}, 'transform 2 (upper): unknown setting "value"'),
        ("sku", {"type": "date"}, "transform 2 (date): suits only date and timestamp columns"),
        ("order_date", {"type": "date", "timezone": "Mars/Olympus"}, 'unknown time zone "Mars/'),
        ("order_date", {"type": "date", "timezone": ""}, '"timezone" must be an IANA time zone'),
        ("order_date", {"type": "date", "format": "dd.mm.yyyy"}, "nor a strptime format"),
        ("order_date", {"type": "date", "format": "%Q"}, "is not a usable strptime format"),
        ("order_date", {"type": "date", "format": 5}, '"format" must be "iso"'),
        ("quantity", {"type": "decimal", "decimal_comma": "yes"}, '"decimal_comma" must be true'),
        ("quantity", {"type": "multiply"}, 'needs "by"'),
        ("quantity", {"type": "multiply", "by": "x"}, '"by" must be a number'),
        ("quantity", {"type": "multiply", "by": True}, '"by" must be a number'),
        ("quantity", {"type": "multiply", "by": "Infinity"}, '"by" must be a finite number'),
        ("quantity", {"type": "multiply", "by": 1e12}, '"by" must be between'),
        ("quantity", {"type": "negate", "when": "refund"}, '"when" must be an object'),
        ("quantity", {"type": "negate", "when": {"equals": 1}}, '"when" needs a "path"'),
        (
            "quantity",
            {"type": "negate", "when": {"path": "k", "equals": 1, "in": [1]}},
            '"when" needs exactly one of "in"',
        ),
        ("quantity", {"type": "negate", "when": {"path": "k", "in": []}}, '"in" must be a non-emp'),
        ("quantity", {"type": "negate", "when": {"path": "k", "in": [[1]]}}, "compares with text"),
        ("quantity", {"type": "negate", "when": {"path": "k", "is": 1}}, 'unknown setting "is"'),
        ("quantity", {"type": "negate", "when": {"path": "k.", "equals": 1}}, 'path "k." ends'),
        ("status", {"type": "map"}, 'needs "values"'),
        ("status", {"type": "map", "values": {"a": ["b"]}}, 'maps "a" to a list'),
        ("status", {"type": "map", "values": {"a": "open"}, "default": []}, '"default" must be'),
        ("sku", {"type": "strip", "chars": ""}, '"chars" must be non-empty text'),
        ("sku", {"type": "prefix"}, 'needs "value"'),
        ("sku", {"type": "suffix", "value": 3}, 'needs "value"'),
        ("sku", {"type": "split", "separator": ""}, 'needs "separator"'),
        ("sku", {"type": "split", "separator": "-", "index": "1"}, '"index" must be a whole'),
        ("sku", {"type": "split", "separator": "-", "index": True}, '"index" must be a whole'),
    ],
)
def test_transform_problems_name_the_transform(column: str, transform: Any, message: str) -> None:
    found = problem(column, {"path": "v", "transforms": [{"type": "strip"}, transform]})
    assert message in found
    assert found.startswith("transform 2")


def test_constants_are_checked_once_at_validation() -> None:
    assert problem("currency", {"const": "Euro"}) == (
        'constant "Euro": "Euro" is not a three-letter currency code such as EUR'
    )
    assert "is not a status" in problem("status", {"const": "paid"})
    assert "is not a number" in problem("quantity", {"const": "one"})
    assert problem("line_id", {"const": "  "}) == "the constant is empty"
    # With transforms the constant may become valid: checked per row instead.
    validate_mapping(
        {
            "columns": {
                **REQUIRED_CONSTANTS,
                "status": {
                    "const": "paid",
                    "transforms": [{"type": "map", "values": {"paid": "fulfilled"}}],
                },
            }
        }
    )


def test_unrelated_expansions_are_refused_naming_both() -> None:
    found = problems_of(
        {
            "sku": {"path": "lines[].sku"},
            "quantity": {"path": "lines[].qty"},
            "unit_price": {"path": "payments[].amount"},
        }
    )
    assert found == {
        "unit_price": "payments[].amount expands payments[], which is unrelated to lines[] "
        "expanded by sku; a mapping expands one list (and lists inside it)"
    }


def test_a_when_path_takes_part_in_the_expansion_check() -> None:
    found = problem(
        "quantity",
        {
            "path": "lines[].qty",
            "transforms": [{"type": "negate", "when": {"path": "refunds[].kind", "equals": "x"}}],
        },
    )
    assert found.startswith('transform 1 (negate): "when": refunds[].kind expands refunds[]')


@pytest.mark.parametrize(
    ("paths", "ok"),
    [
        (["lines[].sku", "lines[].lots[].qty", "id"], True),
        (["lines[].lots[].qty", "lines[].sku", "lines.0.sku"], True),
        (["lines[].lots[].qty", "lines[].serials[].id"], False),
        (["lines[0].lots[].qty", "lines[].sku"], False),
        (["lines[].sku", "items[].sku"], False),
    ],
)
def test_nested_expansions_must_form_one_chain(paths: list[str], ok: bool) -> None:
    names = ["sku", "line_id", "customer_id"]
    spec = {
        "columns": {
            **REQUIRED_CONSTANTS,
            **{name: {"path": path} for name, path in zip(names, paths, strict=False)},
        }
    }
    if ok:
        validate_mapping(spec)
    else:
        with pytest.raises(MappingError, match="which is unrelated to"):
            validate_mapping(spec)


def test_several_problems_are_reported_together() -> None:
    found = problems_of(
        {
            "sku": {"path": ""},
            "quantity": {"path": "q", "transforms": [{"type": "nope"}]},
            "colour": {"path": "c"},
        }
    )
    assert set(found) == {"sku", "quantity", "colour"}
