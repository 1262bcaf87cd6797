"""OData JSON for rows: a page is encoded in one call, fixed column by column where needed.

Rows arrive as tuples of driver values in the order of the selected
properties. Most values are already what OData JSON wants (numbers, text, ISO
dates), so a page becomes a list of msgspec structs, one struct type per
selection, and msgspec writes it in C. Some columns need a fix first, done a
column at a time: driver values in another form (see ``driver_values``; aware
UTC date-times are written with ``Z``), doubles and decimals that are NaN or
infinite, which become the strings ``"NaN"``, ``"INF"`` and ``"-INF"`` (JSON has
no such numbers), and with ``IEEE754Compatible=true`` Int64 and Decimal values,
which become strings. Decimals are written exactly as the store holds them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from itertools import starmap
from typing import Any

import msgspec

from embedded_api.odata import driver_values
from embedded_api.odata.driver_values import ColumnFix
from embedded_api.odata.entities import Edm, Property

_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _spelled(value: Any) -> Any:
    """A double or decimal as JSON can hold it: itself, or how OData spells NaN and infinity."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        finite, nan = value.is_finite(), value.is_nan()
    else:
        finite, nan = math.isfinite(value), math.isnan(value)
    if finite:
        return value
    if nan:
        return "NaN"
    return "INF" if value > 0 else "-INF"


def _spell_non_finite(column: Sequence[Any]) -> Sequence[Any]:
    # One sum tells whether the whole column is finite (NaN and infinity carry
    # through a sum); only a column that is not is looked at value by value.
    try:
        try:
            total = sum(column)
        except TypeError:  # nulls in the column
            total = sum(value for value in column if value is not None)
        if math.isfinite(total):
            return column
    except (ArithmeticError, ValueError):
        pass  # infinities of both signs in a decimal column, signalling NaN
    return [_spelled(value) for value in column]


def _as_text(column: Sequence[Any]) -> Sequence[Any]:
    return [value if value is None or isinstance(value, str) else str(value) for value in column]


def _spell_then_text(column: Sequence[Any]) -> Sequence[Any]:
    return _as_text(_spell_non_finite(column))


def _json_fix(edm: Edm, ieee754_compatible: bool) -> ColumnFix | None:
    if edm is Edm.DOUBLE:
        return _spell_non_finite
    if edm is Edm.DECIMAL:
        return _spell_then_text if ieee754_compatible else _spell_non_finite
    if edm is Edm.INT64 and ieee754_compatible:
        return _as_text
    return None


def _column_fix(prop: Property, dialect: str, ieee754_compatible: bool) -> ColumnFix | None:
    fixes = [
        fix
        for fix in (
            driver_values.column_fix(prop, dialect),
            _json_fix(prop.edm, ieee754_compatible),
        )
        if fix is not None
    ]
    if len(fixes) < 2:
        return fixes[0] if fixes else None
    first, then = fixes
    return lambda column: then(first(column))


@functools.lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    # Rows hold no references back to themselves, so the GC need not track them.
    return msgspec.defstruct("Row", names, gc=False)


class PageWriter:
    """Writes rows of one selection, read through ``dialect``'s driver, as OData JSON.

    A row is a tuple whose first values are those of ``props``, in that order;
    values after them (sort keys the client did not select) are left out.
    """

    def __init__(
        self,
        props: Sequence[Property],
        dialect: str,
        *,
        ieee754_compatible: bool = False,
    ) -> None:
        self.names = tuple(p.name for p in props)
        self._row = _row_type(self.names)
        self._fixes = [
            (index, fix)
            for index, prop in enumerate(props)
            if (fix := _column_fix(prop, dialect, ieee754_compatible)) is not None
        ]

    def _structs(self, rows: Sequence[Sequence[Any]]) -> list[msgspec.Struct]:
        if not rows:
            return []
        width = len(self.names)
        fixed: dict[int, Sequence[Any]] = {}
        for index, fix in self._fixes:
            column = [row[index] for row in rows]
            result = fix(column)
            if result is not column:
                fixed[index] = result
        fitting: Iterable[Sequence[Any]] = rows
        # Rows are rebuilt only when a column changed or carries extra sort keys.
        if fixed or len(rows[0]) != width:
            columns: list[Sequence[Any]] = list(zip(*rows, strict=True))[:width]
            for index, values in fixed.items():
                columns[index] = values
            fitting = zip(*columns, strict=True)
        return list(starmap(self._row, fitting))

    def collection(self, control: Mapping[str, Any], rows: Sequence[Sequence[Any]]) -> bytes:
        """A collection response: control information first, then ``value``."""
        return _ENCODER.encode({**control, "value": self._structs(rows)})

    def entity(self, control: Mapping[str, Any], row: Sequence[Any]) -> bytes:
        """A single entity, its properties following its control information."""
        (fixed,) = self._structs([row])
        return _ENCODER.encode({**control, **msgspec.structs.asdict(fixed)})
