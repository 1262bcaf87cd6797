"""The ``transforms`` of a column: checked once, then run on every value.

Each transform takes ``(value, record, items)`` (``items`` are the elements an
expansion chose, for ``when`` conditions) and returns the new value. A missing
value (None) passes through every transform untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.canonical import Column, ColumnType
from app.mapping.errors import CellError, SpecProblem, show
from app.mapping.paths import Getter
from app.mapping.values import (
    from_epoch,
    local_date,
    parse_iso,
    to_decimal,
    to_text,
    utc_timestamp,
)

Transform = Callable[[Any, Any, tuple[Any, ...]], Any]
# Reads a path for a ``when`` condition and records it for the expansion check.
PathReader = Callable[[object], Getter]
Condition = Callable[[Any, tuple[Any, ...]], bool]

_SCALARS = (str, int, float, bool)
_NO_DEFAULT = object()
_NO_MATCH = object()


def compile_transforms(specs: object, column: Column, read_path: PathReader) -> list[Transform]:
    """Check a column's ``transforms`` list and build the functions that run it."""
    if not isinstance(specs, list):
        raise SpecProblem('"transforms" must be a list')
    out = []
    for number, spec in enumerate(specs, start=1):
        try:
            out.append(compile_transform(spec, column, read_path))
        except SpecProblem as exc:
            kind = spec.get("type") if isinstance(spec, dict) else None
            known = isinstance(kind, str) and kind in _BUILDERS
            label = f"transform {number}" + (f" ({kind})" if known else "")
            raise SpecProblem(f"{label}: {exc}") from None
    return out


def compile_transform(spec: object, column: Column, read_path: PathReader) -> Transform:
    """One transform from its JSON settings."""
    if not isinstance(spec, dict):
        raise SpecProblem('must be an object with a "type"')
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in _BUILDERS:
        known = ", ".join(sorted(_BUILDERS))
        raise SpecProblem(f"unknown type {show(kind)}; known types: {known}")
    allowed, build = _BUILDERS[kind]
    unknown = sorted(set(spec) - allowed - {"type"})
    if unknown:
        raise SpecProblem(f"unknown setting {', '.join(map(show, unknown))}")
    return build(spec, column, read_path)


def _date(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    if column.type not in (ColumnType.DATE, ColumnType.TIMESTAMP):
        raise SpecProblem("suits only date and timestamp columns")
    fmt = spec.get("format", "iso")
    if not isinstance(fmt, str) or not fmt:
        raise SpecProblem('"format" must be "iso", "epoch", "epoch_ms" or a strptime format')
    zone = _zone(spec.get("timezone"))
    read = _date_reader(fmt)
    if column.type is ColumnType.DATE:

        def to_date(value: Any, record: Any, items: tuple[Any, ...]) -> Any:
            return None if value is None else local_date(read(value), zone)

        return to_date

    def to_timestamp(value: Any, record: Any, items: tuple[Any, ...]) -> Any:
        return None if value is None else utc_timestamp(read(value), zone)

    return to_timestamp


def _zone(name: object) -> ZoneInfo | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise SpecProblem('"timezone" must be an IANA time zone name such as "Europe/Berlin"')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecProblem(f"unknown time zone {show(name)}") from None


def _date_reader(fmt: str) -> Callable[[Any], dt.date]:
    if fmt in ("epoch", "epoch_ms"):
        milliseconds = fmt == "epoch_ms"

        def read_epoch(value: Any) -> dt.date:
            if isinstance(value, dt.date):
                return value
            return from_epoch(value, milliseconds=milliseconds)

        return read_epoch
    if fmt == "iso":

        def read_iso(value: Any) -> dt.date:
            if isinstance(value, dt.date):
                return value
            if not isinstance(value, str):
                raise CellError(f"{show(value)} is not an ISO date (YYYY-MM-DD)")
            return parse_iso(value)

        return read_iso
    if "%" not in fmt:
        raise SpecProblem(
            f'"format" {show(fmt)} is neither "iso", "epoch", "epoch_ms" nor a strptime '
            "format such as %d.%m.%Y"
        )
    sample = dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    try:
        dt.datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError:
        raise SpecProblem(f'"format" {show(fmt)} is not a usable strptime format') from None

    def read_format(value: Any) -> dt.date:
        if isinstance(value, dt.date):
            return value
        text = to_text(value)
        try:
            return dt.datetime.strptime(text or "", fmt)  # the zone is applied after
        except ValueError:
            raise CellError(f"{show(value)} does not match the date format {fmt}") from None

    return read_format


def _decimal(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    comma = spec.get("decimal_comma", False)
    if not isinstance(comma, bool):
        raise SpecProblem('"decimal_comma" must be true or false')

    def to_number(value: Any, record: Any, items: tuple[Any, ...]) -> Any:
        return to_decimal(value, decimal_comma=comma)

    return to_number


def _multiply(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    if "by" not in spec:
        raise SpecProblem('needs "by", the factor')
    return _scale(_factor(spec["by"]), _condition(spec.get("when"), read_path))


def _negate(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    return _scale(Decimal(-1), _condition(spec.get("when"), read_path))


def _factor(by: object) -> Decimal:
    if isinstance(by, bool) or not isinstance(by, (int, float, str)):
        raise SpecProblem('"by" must be a number')
    try:
        factor = Decimal(repr(by) if isinstance(by, float) else str(by).strip())
    except InvalidOperation:
        raise SpecProblem('"by" must be a number') from None
    if not factor.is_finite():
        raise SpecProblem('"by" must be a finite number')
    if factor and not -12 <= factor.adjusted() < 9:
        raise SpecProblem('"by" must be between 0.000000000001 and 999,999,999')
    return factor


def _scale(factor: Decimal, when: Condition | None) -> Transform:
    def scale(value: Any, record: Any, items: tuple[Any, ...]) -> Any:
        if value is None or (when is not None and not when(record, items)):
            return value
        number = to_decimal(value)
        if number is None:
            return None
        product = number * factor
        # Decimal keeps a signed zero (0 * -1 is -0); a quantity of "-0" reads oddly.
        return product if product else product.copy_abs()

    return scale


def _condition(spec: object, read_path: PathReader) -> Condition | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise SpecProblem('"when" must be an object such as {"path": "kind", "equals": "refund"}')
    unknown = sorted(set(spec) - {"path", "in", "equals"})
    if unknown:
        raise SpecProblem(f'"when" has unknown setting {", ".join(map(show, unknown))}')
    if "path" not in spec:
        raise SpecProblem('"when" needs a "path"')
    if ("in" in spec) == ("equals" in spec):
        raise SpecProblem('"when" needs exactly one of "in" (a list) and "equals" (a value)')
    if "in" in spec:
        options = spec["in"]
        if not isinstance(options, list) or not options:
            raise SpecProblem('"when": "in" must be a non-empty list of values')
    else:
        options = [spec["equals"]]
    if any(option is not None and not isinstance(option, _SCALARS) for option in options):
        raise SpecProblem('"when" compares with text, numbers, true/false or null only')
    wanted = frozenset(_comparable(option) for option in options)
    try:
        read = read_path(spec["path"])
    except SpecProblem as exc:
        raise SpecProblem(f'"when": {exc}') from None
    except ValueError as exc:
        raise SpecProblem(f'"when": path {show(spec["path"])} {exc}') from None

    def holds(record: Any, items: tuple[Any, ...]) -> bool:
        return _comparable(read(record, items)) in wanted

    return holds


def _comparable(value: object) -> object:
    """Values as compared by ``when``: as text, ignoring case and surrounding spaces."""
    try:
        text = to_text(value)
    except CellError:
        return _NO_MATCH
    return None if text is None else text.casefold()


def _map(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    values = spec.get("values")
    if not isinstance(values, dict) or not values:
        raise SpecProblem('needs "values", an object from source value to canonical value')
    for key, target in values.items():
        if not isinstance(key, str):
            raise SpecProblem('"values" keys must be text')
        if target is not None and not isinstance(target, _SCALARS):
            raise SpecProblem(f'"values" maps {show(key)} to {show(target)}; use a single value')
    default = spec.get("default", _NO_DEFAULT)
    if default is not _NO_DEFAULT and default is not None and not isinstance(default, _SCALARS):
        raise SpecProblem('"default" must be a single value')
    exact = {key.strip(): target for key, target in values.items()}
    folded: dict[str, Any] = {}
    for key, target in exact.items():
        folded.setdefault(key.casefold(), target)

    def translate(value: Any, record: Any, items: tuple[Any, ...]) -> Any:
        text = to_text(value)
        if text is None:
            return None
        if text in exact:
            return exact[text]
        found = folded.get(text.casefold(), _NO_MATCH)
        if found is not _NO_MATCH:
            return found
        if default is _NO_DEFAULT:
            raise CellError(f"{show(value)} is not in the value map")
        return default

    return translate


def _text_step(operation: Callable[[str], str | None]) -> Transform:
    def step(value: Any, record: Any, items: tuple[Any, ...]) -> Any:
        text = to_text(value)
        return None if text is None else operation(text)

    return step


def _strip(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    chars = spec.get("chars")
    if chars is None:
        return _text_step(str.strip)
    if not isinstance(chars, str) or not chars:
        raise SpecProblem('"chars" must be non-empty text, the characters to strip')
    return _text_step(lambda text: text.strip(chars).strip() or None)


def _lower(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    return _text_step(str.lower)


def _upper(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    return _text_step(str.upper)


def _affix_value(spec: dict[str, Any]) -> str:
    value = spec.get("value")
    if not isinstance(value, str) or not value:
        raise SpecProblem('needs "value", non-empty text')
    return value


def _prefix(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    value = _affix_value(spec)
    return _text_step(lambda text: value + text)


def _suffix(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    value = _affix_value(spec)
    return _text_step(lambda text: text + value)


def _split(spec: dict[str, Any], column: Column, read_path: PathReader) -> Transform:
    separator = spec.get("separator")
    if not isinstance(separator, str) or not separator:
        raise SpecProblem('needs "separator", non-empty text')
    index = spec.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int):
        raise SpecProblem('"index" must be a whole number (0 is the first part, -1 the last)')

    def part(text: str) -> str | None:
        # A part that is not there is missing, as an absent field would be.
        parts = text.split(separator)
        if not -len(parts) <= index < len(parts):
            return None
        return parts[index].strip() or None

    return _text_step(part)


_Builder = Callable[[dict[str, Any], Column, PathReader], Transform]
_BUILDERS: dict[str, tuple[frozenset[str], _Builder]] = {
    "date": (frozenset({"format", "timezone"}), _date),
    "decimal": (frozenset({"decimal_comma"}), _decimal),
    "multiply": (frozenset({"by", "when"}), _multiply),
    "negate": (frozenset({"when"}), _negate),
    "map": (frozenset({"values", "default"}), _map),
    "strip": (frozenset({"chars"}), _strip),
    "lower": (frozenset(), _lower),
    "upper": (frozenset(), _upper),
    "prefix": (frozenset({"value"}), _prefix),
    "suffix": (frozenset({"value"}), _suffix),
    "split": (frozenset({"separator", "index"}), _split),
}
TRANSFORM_TYPES: tuple[str, ...] = tuple(_BUILDERS)
