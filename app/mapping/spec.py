"""Checking a mapping document and compiling it into a :class:`Mapping`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.canonical import BY_NAME, COLUMNS, DEFAULT_LOCATION, REQUIRED, ColumnType
from app.mapping.coerce import Coercer, coercer
from app.mapping.errors import CellError, MappingError, SpecProblem, show
from app.mapping.paths import (
    Getter,
    Path,
    Segment,
    format_path,
    key_access,
    make_expander,
    make_getter,
    parse_path,
)
from app.mapping.transforms import PathReader, Transform, compile_transforms
from app.mapping.values import is_empty, to_text

Compute = Callable[[Any, tuple[Any, ...]], Any]
# (column name, compute, required, value when missing)
Rule = tuple[str, Compute, bool, Any]

_COLUMN_KEYS = frozenset({"path", "const", "concat", "separator", "default", "transforms"})
_SOURCES = ("path", "const", "concat")
_SCALARS = (str, int, float, bool)
_NO_DEFAULT = object()
_NOT_SEEN = object()
# Results a column remembers at most (see _remembering).
_REMEMBERED = 2048
# Transforms whose result already has the column's canonical type, so that the
# coercion after them would return it unchanged: ``decimal`` gives a finite
# Decimal in range (or None), ``date`` a plain date or an aware UTC datetime.
_TYPED_BY: dict[ColumnType, frozenset[str]] = {
    ColumnType.DECIMAL: frozenset({"decimal"}),
    ColumnType.DATE: frozenset({"date"}),
    ColumnType.TIMESTAMP: frozenset({"date"}),
}


class Mapping:
    """A checked field mapping, compiled for applying to many records.

    Build it with :func:`validate_mapping`; ``as_dict()`` gives the JSON
    document back (what a connector stores).
    """

    __slots__ = ("_document", "expand", "item_rules", "per_item", "prefix", "rules")

    def __init__(
        self,
        document: dict[str, Any],
        rules: tuple[Rule, ...],
        prefix: tuple[Segment, ...],
        per_item: frozenset[str] | None = None,
    ) -> None:
        self._document = document
        self.rules = rules
        # The list (and lists inside it) that every record expands into rows.
        self.prefix = prefix
        self.expand = make_expander(prefix)
        # Columns that read the expanded items (None: take every one as such); the
        # others are the same on every row of a record, which computes them once.
        self.per_item = frozenset(name for name, *_ in rules) if per_item is None else per_item
        self.item_rules = tuple(rule for rule in rules if rule[0] in self.per_item)

    def as_dict(self) -> dict[str, Any]:
        """A copy of the mapping as plain JSON."""
        return json.loads(json.dumps(self._document))

    @property
    def columns(self) -> tuple[str, ...]:
        """The canonical columns the mapping fills, in canonical order."""
        return tuple(name for name in BY_NAME if name in self._document["columns"])

    @property
    def expansion(self) -> str | None:
        """The expanded list as a path (``line_items[]``), or None for one row per record."""
        return format_path(self.prefix) or None

    def __repr__(self) -> str:
        return f"<Mapping {', '.join(self.columns)} expanding {self.expansion}>"


class _Expansions:
    """Collects the expansions of every path and refuses unrelated ones."""

    def __init__(self) -> None:
        self.prefix: tuple[Segment, ...] = ()
        self.owner = ""
        # Columns with a path (source or condition) that reads an expanded item.
        self.per_item: set[str] = set()

    def reader(self, column: str) -> PathReader:
        def read(text: object) -> Getter:
            path = parse_path(text)
            self._check(path, column)
            if path.depth:
                self.per_item.add(column)
            return make_getter(path)

        return read

    def _check(self, path: Path, column: str) -> None:
        prefix = path.prefix
        if prefix[: len(self.prefix)] == self.prefix:
            if len(prefix) > len(self.prefix):
                self.prefix, self.owner = prefix, column
            return
        if self.prefix[: len(prefix)] == prefix:
            return
        raise SpecProblem(
            f"{path} expands {format_path(prefix)}, which is unrelated to "
            f"{format_path(self.prefix)} expanded by {self.owner}; a mapping expands one list "
            "(and lists inside it)"
        )


def validate_mapping(spec: object) -> Mapping:
    """Check a mapping document and compile it.

    Raises:
        MappingError: with one problem per column (see ``MappingError.problems``).
    """
    if isinstance(spec, Mapping):
        return spec
    document = _plain_json(spec)
    columns = document.get("columns")
    problems: dict[str, str] = {}
    unknown = sorted(set(document) - {"columns"})
    if unknown:
        problems["mapping"] = f"unknown setting {', '.join(map(show, unknown))}"
    if not isinstance(columns, dict):
        problems["columns"] = (
            'must be an object from canonical column to source, e.g. {"sku": {"path": "sku"}}'
        )
        raise _error(problems)
    expansions = _Expansions()
    built: dict[str, Rule] = {}
    for name, entry in columns.items():
        if name not in BY_NAME:
            problems[name] = "is not a canonical column; the columns are " + ", ".join(BY_NAME)
            continue
        try:
            built[name] = _rule(name, entry, expansions.reader(name))
        except SpecProblem as exc:
            problems[name] = str(exc)
    for name in sorted(REQUIRED - set(columns), key=list(BY_NAME).index):
        problems[name] = "is required: map it to a source path or a constant"
    if problems:
        raise _error(problems)
    if "location" not in built:
        built["location"] = ("location", _nothing, False, DEFAULT_LOCATION)
    rules = tuple(built[column.name] for column in COLUMNS if column.name in built)
    return Mapping(document, rules, expansions.prefix, frozenset(expansions.per_item))


def _plain_json(spec: object) -> dict[str, Any]:
    """A private copy of the document, which must be plain JSON to be stored."""
    if not isinstance(spec, dict):
        raise _error({"mapping": 'must be a JSON object with "columns"'})
    try:
        return json.loads(json.dumps(spec, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise _error({"mapping": f"is not plain JSON ({exc})"}) from None


def _error(problems: dict[str, str]) -> MappingError:
    return MappingError("; ".join(f"{name}: {text}" for name, text in problems.items()), problems)


def _nothing(record: Any, items: tuple[Any, ...]) -> None:
    return None


def _rule(name: str, entry: object, read: PathReader) -> Rule:
    column = BY_NAME[name]
    if not isinstance(entry, dict):
        raise SpecProblem('must be an object such as {"path": "..."}')
    unknown = sorted(set(entry) - _COLUMN_KEYS)
    if unknown:
        raise SpecProblem(f"unknown setting {', '.join(map(show, unknown))}")
    sources = [key for key in _SOURCES if key in entry]
    if len(sources) != 1:
        raise SpecProblem('needs exactly one of "path", "const" and "concat"')
    if "separator" in entry and "concat" not in entry:
        raise SpecProblem('"separator" belongs with "concat"')
    source = _source(entry, read)
    default = entry.get("default", _NO_DEFAULT)
    if default is None:
        default = _NO_DEFAULT
    elif default is not _NO_DEFAULT and not isinstance(default, _SCALARS):
        raise SpecProblem('"default" must be a single value (text, number or true/false)')
    specs = entry.get("transforms", [])
    transforms = compile_transforms(specs, column, read)
    coerce = coercer(column)
    if transforms and specs[-1]["type"] in _TYPED_BY.get(column.type, ()):
        coerce = _same
    pure = not any("when" in spec for spec in specs)
    access = key_access(parse_path(entry["path"])) if "path" in entry else None
    compute = _pipeline(source, default, transforms, coerce, pure=pure, access=access)
    if "const" in entry and not transforms:
        # A plain constant gives the same result for every record: check it now.
        try:
            value = compute(None, ())
        except CellError as exc:
            raise SpecProblem(f"constant {show(entry['const'])}: {exc.message}") from None
        if value is None and column.required:
            raise SpecProblem("the constant is empty")
    fallback = DEFAULT_LOCATION if name == "location" else None
    return (name, compute, column.required, fallback)


def _source(entry: dict[str, Any], read: PathReader) -> Compute:
    if "path" in entry:
        return _path(entry["path"], read, "path")
    if "const" in entry:
        value = entry["const"]
        if not isinstance(value, _SCALARS):
            raise SpecProblem('"const" must be a single value (text, number or true/false)')

        def constant(record: Any, items: tuple[Any, ...]) -> Any:
            return value

        return constant
    paths = entry["concat"]
    if not isinstance(paths, list) or not paths:
        raise SpecProblem('"concat" must be a non-empty list of paths')
    getters = [_path(text, read, f"concat path {number}") for number, text in enumerate(paths, 1)]
    separator = entry.get("separator", "")
    if not isinstance(separator, str):
        raise SpecProblem('"separator" must be text')

    def concat(record: Any, items: tuple[Any, ...]) -> Any:
        # Missing parts are left out, separator and all.
        parts = [to_text(get(record, items)) for get in getters]
        return separator.join(part for part in parts if part is not None) or None

    return concat


def _path(text: object, read: PathReader, label: str) -> Getter:
    try:
        return read(text)
    except SpecProblem:
        raise
    except ValueError as exc:
        raise SpecProblem(f"{label} {show(text)} {exc}") from None


def _same(value: Any) -> Any:
    return value


def _pipeline(
    source: Compute,
    default: Any,
    transforms: list[Transform],
    coerce: Coercer,
    *,
    pure: bool,
    access: tuple[int, str] | None = None,
) -> Compute:
    """Source, then ``default`` for empty values, then each transform, then coercion.

    ``pure``: the transforms read nothing but the value (no ``when``), so the
    result depends on the source value alone and may be remembered. ``access``:
    the source reads one key (see :func:`key_access`).
    """
    if pure:
        return _remembering(source, _finish(default, transforms, coerce), access)

    def steps(record: Any, items: tuple[Any, ...]) -> Any:
        value = source(record, items)
        if default is not _NO_DEFAULT and is_empty(value):
            value = default
        for step in transforms:
            value = step(value, record, items)
        return coerce(value)

    return steps


def _finish(default: Any, transforms: list[Transform], coerce: Coercer) -> Callable[[Any], Any]:
    """What a source value goes through when no transform reads the record."""
    if default is _NO_DEFAULT and not transforms:
        return coerce
    if default is _NO_DEFAULT and len(transforms) == 1:
        (only,) = transforms
        if coerce is _same:
            return lambda value: only(value, None, ())
        return lambda value: coerce(only(value, None, ()))

    def finish(value: Any) -> Any:
        if default is not _NO_DEFAULT and is_empty(value):
            value = default
        for step in transforms:
            value = step(value, None, ())
        return coerce(value)

    return finish


def _remembering(
    source: Compute, finish: Callable[[Any], Any], access: tuple[int, str] | None
) -> Compute:
    """``finish(source(...))``, remembering the results for text and whole numbers.

    Demand data repeats such values a lot (SKUs, currencies, quantities,
    prices). A column whose values mostly do not repeat (ids) stops remembering
    after its first :data:`_REMEMBERED` values. Results are immutable (text,
    numbers, dates), so a remembered one is as good as a new one; errors are
    not remembered. A source that reads one key of a dict reads it here.
    """
    results: dict[str | int, Any] = {}
    hits = 0
    remember = True
    slot, key = access if access is not None else (0, None)

    def cell(record: Any, items: tuple[Any, ...]) -> Any:
        nonlocal hits, remember
        if key is None:
            value = source(record, items)
        else:
            node = record if slot < 0 else items[slot]
            value = node.get(key) if type(node) is dict else source(record, items)
        kind = type(value)
        # Exact types only: True == 1 and 1.0 == 1, but their results differ.
        if not remember or (kind is not str and kind is not int):
            return finish(value)
        result = results.get(value, _NOT_SEEN)
        if result is not _NOT_SEEN:
            hits += 1
            return result
        result = finish(value)
        if len(results) >= _REMEMBERED:
            remember = hits >= _REMEMBERED  # at least one hit per value kept
            results.clear()
            hits = 0
        results[value] = result
        return result

    return cell
