"""Applying a checked mapping to source records."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.mapping.errors import CellError
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
    expanded = mapping.expand(record)
    if len(expanded) > 1:
        return _rows(mapping, record, expanded)
    return [_row(rules, record, items) for items in expanded]


def _rows(mapping: Mapping, record: Any, expanded: list[tuple[Any, ...]]) -> list[MappedRow]:
    """The rows of a record that expands to several, computing shared cells once.

    A template holds the cells that read no expanded item, in column order,
    with a placeholder for each per-item cell; a row copies it and fills or
    drops the placeholders, so its values keep the column order. A row with
    any error is built cell by cell instead, which orders its errors the same
    way (the cells are pure functions of the record, so nothing changes).
    """
    rules = mapping.rules
    template = _template(mapping, record, expanded[0])
    if template is None:
        return [_row(rules, record, items) for items in expanded]
    item_rules = mapping.item_rules
    rows: list[MappedRow] = []
    for items in expanded:
        values = template.copy()
        for name, compute, required, fallback in item_rules:
            try:
                value = compute(record, items)
            except CellError:
                break
            if value is not None:
                values[name] = value
            elif required:
                break
            elif fallback is not None:
                values[name] = fallback
            else:
                del values[name]
        else:
            rows.append(MappedRow(values))
            continue
        rows.append(_row(rules, record, items))
    return rows


def _template(mapping: Mapping, record: Any, items: tuple[Any, ...]) -> dict[str, Any] | None:
    """The cells shared by a record's rows, placeholders for the others; None on any error."""
    per_item = mapping.per_item
    template: dict[str, Any] = {}
    for name, compute, required, fallback in mapping.rules:
        if name in per_item:
            template[name] = None
            continue
        try:
            value = compute(record, items)
        except CellError:
            return None
        if value is not None:
            template[name] = value
        elif required:
            return None
        elif fallback is not None:
            template[name] = fallback
    return template


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
