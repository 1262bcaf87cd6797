"""Source paths: the path syntax, parsed once, and reading records with it.

A path is a list of segments: a key of an object, an index into a list, or
``[]``, which expands a list into one row per item. See the package docstring
for the syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.mapping.errors import CellError, show

KEY = "key"
INDEX = "index"
EXPAND = "expand"

Segment = tuple[str, Any]
Getter = Callable[[Any, tuple[Any, ...]], Any]

MAX_PATH_LENGTH = 500
_STOP = frozenset('.[]"')
_INDEX = re.compile(r"(-?[0-9]+)\]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_DECODER = json.JSONDecoder()


class PathSyntaxError(ValueError):
    """A path that does not follow the syntax; the message says where."""


@dataclass(frozen=True)
class Path:
    """A parsed path; ``str()`` gives its canonical spelling."""

    segments: tuple[Segment, ...]

    def __str__(self) -> str:
        return format_path(self.segments)

    @property
    def depth(self) -> int:
        """How many lists the path expands."""
        return sum(1 for kind, _ in self.segments if kind == EXPAND)

    @property
    def prefix(self) -> tuple[Segment, ...]:
        """The segments up to and including the last ``[]`` (empty without one)."""
        for position in range(len(self.segments) - 1, -1, -1):
            if self.segments[position][0] == EXPAND:
                return self.segments[: position + 1]
        return ()

    @property
    def tail(self) -> tuple[Segment, ...]:
        """The segments after the last ``[]``: read from the expanded item."""
        return self.segments[len(self.prefix) :]


def parse_path(text: object) -> Path:
    """Parse a path such as ``line_items[].sku`` or ``["Unit Price"]``.

    Raises:
        PathSyntaxError: the text is not a path; the message says why.
    """
    if not isinstance(text, str):
        raise PathSyntaxError("must be text")
    if not text.strip():
        raise PathSyntaxError("is empty")
    if len(text) > MAX_PATH_LENGTH:
        raise PathSyntaxError(f"is longer than {MAX_PATH_LENGTH} characters")
    segments: list[Segment] = []
    position = 0
    after_dot = False
    while position < len(text):
        char = text[position]
        if char == "[":
            if after_dot:
                raise PathSyntaxError(
                    f"'.' before '[' at position {position + 1}: write items[0], not items.[0]"
                )
            position, segment = _bracket(text, position)
        elif char == ".":
            if not segments or after_dot:
                raise PathSyntaxError(f"empty key at position {position + 1}")
            after_dot = True
            position += 1
            continue
        elif char in _STOP:
            raise PathSyntaxError(
                f"unexpected {char!r} at position {position + 1}; "
                'write keys with such characters as ["..."]'
            )
        else:
            if segments and not after_dot:
                raise PathSyntaxError(f"expected '.' or '[' at position {position + 1}")
            position, segment = _plain(text, position)
        segments.append(segment)
        after_dot = False
    if after_dot:
        raise PathSyntaxError("ends with '.'")
    return Path(tuple(segments))


def _plain(text: str, position: int) -> tuple[int, Segment]:
    """Read the unquoted key that starts at ``position``; returns the next position."""
    end = position
    while end < len(text) and text[end] not in _STOP:
        end += 1
    key = text[position:end]
    if key != key.strip():
        raise PathSyntaxError(f'key "{key}" has spaces at its ends; write it as ["{key}"]')
    if key.isascii() and key.isdigit():
        return end, (INDEX, int(key))
    return end, (KEY, key)


def _bracket(text: str, position: int) -> tuple[int, Segment]:
    """Read the bracket that starts at ``position``; returns the next position."""
    after = position + 1
    if text.startswith("]", after):
        return after + 1, (EXPAND, None)
    if text.startswith('"', after):
        try:
            key, close = _DECODER.raw_decode(text, after)
        except json.JSONDecodeError:
            raise PathSyntaxError(f"unterminated quoted key at position {after + 1}") from None
        if not text.startswith("]", close):
            raise PathSyntaxError(f"expected ']' after the quoted key at position {close + 1}")
        return close + 1, (KEY, key)
    match = _INDEX.match(text, after)
    if match is None:
        raise PathSyntaxError(
            f"bad brackets at position {position + 1}: "
            'use [] to expand a list, [0] for one item, ["a key"] for a key'
        )
    return match.end(), (INDEX, int(match.group(1)))


def format_key(key: str) -> str:
    """One key as a path segment: plain when it is an identifier, else quoted."""
    if _IDENTIFIER.fullmatch(key):
        return key
    return "[" + json.dumps(key, ensure_ascii=False) + "]"


def format_path(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """The canonical spelling of ``segments``; parsing it gives them back."""
    parts: list[str] = []
    for kind, value in segments:
        if kind == KEY:
            key = format_key(value)
            parts.append(("." if parts and not key.startswith("[") else "") + key)
        elif kind == INDEX:
            parts.append(f"[{value}]")
        else:
            parts.append("[]")
    return "".join(parts)


def walk(node: Any, segments: tuple[Segment, ...]) -> Any:
    """The value at ``segments`` under ``node``, or None when any step is missing."""
    for kind, key in segments:
        if node is None:
            return None
        if kind == KEY:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        elif isinstance(node, list):
            if not -len(node) <= key < len(node):
                return None
            node = node[key]
        elif isinstance(node, dict):
            # A numeric segment also reads objects keyed by numbers ({"0": ...}).
            node = node.get(str(key))
        else:
            return None
    return node


class NotAList:
    """Stands in for the item of an expansion whose value was not a list.

    It yields one row whose expanded columns carry the message, so the record
    is reported instead of vanishing.
    """

    __slots__ = ("message",)

    def __init__(self, where: tuple[Segment, ...], value: Any) -> None:
        self.message = f"{format_path(where)} is {show(value)}, not a list"


def levels(prefix: tuple[Segment, ...]) -> tuple[tuple[Segment, ...], ...]:
    """The segments that lead to each ``[]`` of an expansion prefix, from the previous one."""
    out: list[tuple[Segment, ...]] = []
    start = 0
    for position, (kind, _) in enumerate(prefix):
        if kind == EXPAND:
            out.append(prefix[start:position])
            start = position + 1
    return tuple(out)


def expand(root: Any, prefix: tuple[Segment, ...]) -> list[tuple[Any, ...]]:
    """One tuple per row: the item chosen at each ``[]`` of ``prefix``, outermost first.

    A missing, null or empty list gives no row. An object where a list was
    expected counts as a list of one (XML converted to JSON often does that).
    """
    rows: list[tuple[Any, ...]] = [()]
    consumed = 0
    for steps in levels(prefix):
        consumed += len(steps) + 1
        grown: list[tuple[Any, ...]] = []
        for row in rows:
            node = row[-1] if row else root
            if type(node) is NotAList:
                grown.append((*row, node))
                continue
            value = walk(node, steps)
            if value is None:
                continue
            if isinstance(value, list):
                grown.extend((*row, item) for item in value)
            elif isinstance(value, dict):
                grown.append((*row, value))
            else:
                grown.append((*row, NotAList(prefix[: consumed - 1], value)))
        rows = grown
    return rows


Expander = Callable[[Any], list[tuple[Any, ...]]]


def make_expander(prefix: tuple[Segment, ...]) -> Expander:
    """``expand`` bound to ``prefix``, with a quicker path for one list under one key."""
    steps = levels(prefix)
    if len(steps) != 1 or len(steps[0]) != 1 or steps[0][0][0] != KEY:
        return lambda root: expand(root, prefix)
    key = steps[0][0][1]

    def expand_key(root: Any) -> list[tuple[Any, ...]]:
        value = root.get(key) if isinstance(root, dict) else None
        if isinstance(value, list):
            return [(item,) for item in value]
        # Missing, an object standing for a list of one, or not a list at all.
        return expand(root, prefix)

    return expand_key


def key_access(path: Path) -> tuple[int, str] | None:
    """``(slot, key)`` when ``path`` reads one key of the record (slot -1) or of an item.

    The getter of such a path is ``node.get(key)`` on a dict; callers may do
    that themselves and call the getter for anything else.
    """
    tail = path.tail
    if len(tail) != 1 or tail[0][0] != KEY:
        return None
    return path.depth - 1, tail[0][1]


def make_getter(path: Path) -> Getter:
    """A function ``(record, items) -> value`` reading ``path``; ``items`` comes from expand."""
    tail = path.tail
    depth = path.depth
    if depth == 0:
        if len(tail) == 1 and tail[0][0] == KEY:
            key = tail[0][1]

            def get_key(root: Any, items: tuple[Any, ...]) -> Any:
                return root.get(key) if isinstance(root, dict) else None

            return get_key

        def get_path(root: Any, items: tuple[Any, ...]) -> Any:
            return walk(root, tail)

        return get_path

    slot = depth - 1
    if len(tail) == 1 and tail[0][0] == KEY:
        item_key = tail[0][1]

        def get_item_key(root: Any, items: tuple[Any, ...]) -> Any:
            node = items[slot]
            if isinstance(node, dict):
                return node.get(item_key)
            if type(node) is NotAList:
                raise CellError(node.message)
            return None

        return get_item_key

    def get_item(root: Any, items: tuple[Any, ...]) -> Any:
        node = items[slot]
        if type(node) is NotAList:
            raise CellError(node.message)
        return walk(node, tail)

    return get_item
