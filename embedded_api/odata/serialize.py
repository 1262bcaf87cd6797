"""OData JSON for rows: one encoder per property, written page by page in chunks.

Each value is written as its EDM type's JSON form (decimals exactly, doubles
with ``NaN``/``INF`` as strings, dates as ISO text, date-times in UTC with
``Z``); with ``IEEE754Compatible=true`` Int64 and Decimal values are strings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from embedded_api.odata.entities import Edm, Property

Encoder = Callable[[Any], str]
# Rows per chunk handed to the server; keeps writes large and memory flat.
CHUNK_ROWS = 500


def _string(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _integer(value: Any) -> str:
    return str(int(value))


def _double(value: Any) -> str:
    number = float(value)
    if math.isfinite(number):
        return repr(number)
    if math.isnan(number):
        return '"NaN"'
    return '"INF"' if number > 0 else '"-INF"'


def _decimal(value: Any) -> str:
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite():
        return '"NaN"' if number.is_nan() else ('"INF"' if number > 0 else '"-INF"')
    return format(number, "f")


def _boolean(value: Any) -> str:
    return "true" if value else "false"


def _date(value: Any) -> str:
    return f'"{value.isoformat()}"'


def _datetime(value: dt.datetime) -> str:
    text = value.astimezone(dt.UTC).isoformat()
    return f'"{text.removesuffix("+00:00")}Z"'


def _quoted(encoder: Encoder) -> Encoder:
    return lambda value: f'"{encoder(value)}"'


_ENCODERS: Mapping[Edm, Encoder] = {
    Edm.STRING: _string,
    Edm.INT32: _integer,
    Edm.INT64: _integer,
    Edm.DOUBLE: _double,
    Edm.DECIMAL: _decimal,
    Edm.BOOLEAN: _boolean,
    Edm.DATE: _date,
    Edm.DATETIMEOFFSET: _datetime,
}


def encoder_for(prop: Property, *, ieee754_compatible: bool = False) -> Encoder:
    """The JSON encoder of one property's values."""
    encoder = _ENCODERS[prop.edm]
    if ieee754_compatible and prop.edm in (Edm.INT64, Edm.DECIMAL):
        return _quoted(encoder)
    return encoder


class RowWriter:
    """Writes rows (mappings by property name) as OData JSON objects."""

    def __init__(self, props: Sequence[Property], *, ieee754_compatible: bool = False) -> None:
        self._fields = [
            (
                f"{json.dumps(p.name)}:",
                p.name,
                encoder_for(p, ieee754_compatible=ieee754_compatible),
            )
            for p in props
        ]

    def row(self, row: Mapping[str, Any]) -> str:
        parts = []
        for prefix, name, encode in self._fields:
            value = row[name]
            parts.append(prefix + ("null" if value is None else encode(value)))
        return "{" + ",".join(parts) + "}"

    def members(self, row: Mapping[str, Any]) -> str:
        """The row's members without braces, to follow control information in one object."""
        return self.row(row)[1:-1]


def collection_body(
    control: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], writer: RowWriter
) -> Iterator[bytes]:
    """A collection response in chunks: control information first, then ``value``."""
    head = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in control.items())
    yield ("{" + head + (',"value":[' if head else '"value":[')).encode("utf-8")
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = ",".join(writer.row(row) for row in rows[start : start + CHUNK_ROWS])
        yield (("," if start else "") + chunk).encode("utf-8")
    yield b"]}"


def entity_body(control: Mapping[str, Any], row: Mapping[str, Any], writer: RowWriter) -> bytes:
    """A single entity with its control information."""
    head = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in control.items())
    members = writer.members(row)
    return ("{" + ",".join(part for part in (head, members) if part) + "}").encode("utf-8")
