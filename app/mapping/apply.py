"""Applying a checked mapping to source records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.mapping.errors import CellError
from app.mapping.paths import expand
from app.mapping.spec import Mapping, validate_mapping


@dataclass(slots=True)
class MappedRow:
    """One canonical row: the typed ``values`` that resolved and the ``errors`` of the rest.

    ``errors`` maps a column to a plain message (``"missing"``, ``'"abc" is not
    a number'``). ``record`` is the position of the source record in the
    batch, where the caller knows it (:func:`preview_rows` sets it).
    """

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    record: int | None = None

    @property
    def valid(self) -> bool:
        """True when every column resolved."""
        return not self.errors

    def describe_errors(self) -> str:
        """The errors on one line: ``quantity: "abc" is not a number; order_date: missing``."""
        return "; ".join(f"{column}: {message}" for column, message in self.errors.items())


def apply_mapping(mapping: Mapping, record: Any) -> list[MappedRow]:
    """The rows of one record: one, or one per expanded item (none for an empty list).

    Bad data never raises: every cell that cannot be read becomes an entry of
    its row's ``errors``.
    """
    rules = mapping.rules
    if not mapping.prefix:
        return [_row(rules, record, ())]
    return [_row(rules, record, items) for items in expand(record, mapping.prefix)]


def _row(rules: tuple[Any, ...], record: Any, items: tuple[Any, ...]) -> MappedRow:
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, compute, required, fallback in rules:
        try:
            value = compute(record, items)
        except CellError as exc:
            errors[name] = exc.message
            continue
        if value is not None:
            values[name] = value
        elif required:
            errors[name] = "missing"
        elif fallback is not None:
            values[name] = fallback
    return MappedRow(values, errors)


def preview_rows(
    mapping: Mapping | dict[str, Any], records: Iterable[Any], limit: int = 50
) -> list[MappedRow]:
    """Up to ``limit`` mapped rows of ``records``, errors included, each with its record's index.

    Raises:
        MappingError: ``mapping`` is a document that does not validate.
    """
    compiled = validate_mapping(mapping)
    rows: list[MappedRow] = []
    if limit <= 0:
        return rows
    for index, record in enumerate(records):
        for row in apply_mapping(compiled, record):
            row.record = index
            rows.append(row)
            if len(rows) >= limit:
                return rows
    return rows
