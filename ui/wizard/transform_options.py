"""The mapping format's transforms as the wizard offers them: titles, options, descriptions.

Data only (no Qt), so the editor is generated from it and the descriptions are
tested without widgets. The options are those of :mod:`app.mapping.transforms`;
the engine checks them, the wizard only helps write them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.canonical import Column, ColumnType


@dataclass(frozen=True)
class Option:
    """One setting of a transform.

    ``kind``: ``text``, ``number``, ``integer``, ``bool``, ``date_format``,
    ``zone``, ``when`` (a condition on another field) or ``pairs`` (a value map).
    """

    key: str
    label: str
    kind: str
    help: str = ""
    required: bool = False


TITLES = {
    "date": "Read a date",
    "decimal": "Read a number",
    "multiply": "Multiply",
    "negate": "Make negative",
    "map": "Translate values",
    "strip": "Trim",
    "lower": "Lower case",
    "upper": "Upper case",
    "prefix": "Add a prefix",
    "suffix": "Add a suffix",
    "split": "Take one part",
}

WHEN_HELP = "Only on rows where this field has one of the values (comma-separated)."

OPTIONS: dict[str, tuple[Option, ...]] = {
    "date": (
        Option(
            "format",
            "Format",
            "date_format",
            "iso (2024-05-31 or with a time), epoch (seconds), epoch_ms, or a strptime "
            "pattern such as %d.%m.%Y",
        ),
        Option(
            "timezone",
            "Time zone",
            "zone",
            "The zone of times without an offset; times with one are converted to it first.",
        ),
    ),
    "decimal": (Option("decimal_comma", "Decimal comma (1.234,50)", "bool"),),
    "multiply": (
        Option("by", "Multiply by", "number", required=True),
        Option("when", "Only when", "when", WHEN_HELP),
    ),
    "negate": (Option("when", "Only when", "when", WHEN_HELP),),
    "map": (
        Option(
            "values",
            "Values",
            "pairs",
            "One per line: source value = canonical value (paid = fulfilled).",
            required=True,
        ),
        Option("default", "Anything else becomes", "text", "Empty: anything else is an error."),
    ),
    "strip": (Option("chars", "Also remove", "text", "Characters to trim besides spaces."),),
    "lower": (),
    "upper": (),
    "prefix": (Option("value", "Prefix", "text", required=True),),
    "suffix": (Option("value", "Suffix", "text", required=True),),
    "split": (
        Option("separator", "Separator", "text", required=True),
        Option("index", "Part", "integer", "0 is the first part, -1 the last."),
    ),
}

DATE_FORMATS = ("iso", "epoch", "epoch_ms", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%Y%m%d")


def applicable(column: Column) -> list[str]:
    """The transforms that suit a column: dates for dates, numbers for decimals, text for all."""
    kinds = ["map", "strip", "lower", "upper", "prefix", "suffix", "split"]
    if column.type in (ColumnType.DATE, ColumnType.TIMESTAMP):
        kinds.insert(0, "date")
    if column.type is ColumnType.DECIMAL:
        kinds[:0] = ["decimal", "multiply", "negate"]
    return kinds


def _when_text(when: Any) -> str:
    if not isinstance(when, dict):
        return ""
    values = when.get("in", [when.get("equals")])
    listed = ", ".join(str(value) for value in values) if isinstance(values, list) else values
    return f" when {when.get('path')} is {listed}"


def _describe_date(spec: dict[str, Any]) -> str:
    zone = f", zone {spec['timezone']}" if spec.get("timezone") else ""
    return f" (format {spec.get('format', 'iso')}{zone})"


def _describe_map(spec: dict[str, Any]) -> str:
    values = spec.get("values") or {}
    shown = ", ".join(f"{k} → {v}" for k, v in list(values.items())[:3])
    more = "…" if len(values) > 3 else ""
    default = f"; else {spec['default']}" if "default" in spec else ""
    return f": {shown}{more}{default}"


_DETAILS: dict[str, Callable[[dict[str, Any]], str]] = {
    "date": _describe_date,
    "decimal": lambda spec: " (decimal comma)" if spec.get("decimal_comma") else "",
    "multiply": lambda spec: f" by {spec.get('by')}{_when_text(spec.get('when'))}",
    "negate": lambda spec: _when_text(spec.get("when")),
    "map": _describe_map,
    "prefix": lambda spec: f" “{spec.get('value', '')}”",
    "suffix": lambda spec: f" “{spec.get('value', '')}”",
    "split": lambda spec: (
        f" {spec.get('index', 0)} of the text split at “{spec.get('separator', '')}”"
    ),
    "strip": lambda spec: f" spaces and “{spec['chars']}”" if spec.get("chars") else "",
}


def describe(spec: dict[str, Any]) -> str:
    """One transform in words, as the list of a column's transforms shows it."""
    kind = str(spec.get("type", "?"))
    detail = _DETAILS.get(kind)
    return TITLES.get(kind, kind) + (detail(spec) if detail else "")


def pairs_to_text(values: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {'' if value is None else value}" for key, value in values.items())


def text_to_pairs(text: str) -> tuple[dict[str, str], list[str]]:
    """``source = canonical`` lines as a map, and the lines that are not in that form."""
    pairs: dict[str, str] = {}
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            bad.append(line.strip())
            continue
        pairs[key.strip()] = value.strip()
    return pairs, bad


def when_to_text(when: Any) -> tuple[str, str]:
    """A ``when`` condition as (path, comma-separated values)."""
    if not isinstance(when, dict):
        return "", ""
    values = when.get("in", [when.get("equals")])
    if not isinstance(values, list):
        values = [values]
    return str(when.get("path") or ""), ", ".join("" if v is None else str(v) for v in values)


def text_to_when(path: str, values: str) -> dict[str, Any] | None:
    """A ``when`` condition from a path and comma-separated values; None when no path."""
    if not path.strip():
        return None
    listed = [value.strip() for value in values.split(",") if value.strip()]
    return {"path": path.strip(), "in": listed}
