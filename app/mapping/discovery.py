"""Listing the fields of sample records, for the mapping wizard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.mapping.paths import EXPAND, KEY, Segment, format_path
from app.mapping.values import is_empty

MAX_FIELDS = 500
# Items of one list looked at per record: enough to see the keys items have.
ITEMS_PER_LIST = 50
MAX_DEPTH = 32
EXAMPLE_LENGTH = 80


@dataclass(frozen=True)
class FieldInfo:
    """A source path seen in the sample, one of its values, and how often it had one.

    ``share`` is the fraction of sampled records with a non-empty value there
    (for a path under ``[]``: in at least one item).
    """

    path: str
    example: Any
    share: float

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "example": self.example, "share": self.share}


class _Seen:
    __slots__ = ("count", "example")

    def __init__(self) -> None:
        self.example: Any = None
        self.count = 0


def discover_fields(records: Iterable[Any], limit: int = MAX_FIELDS) -> list[FieldInfo]:
    """The leaf paths of ``records`` (``line_items[].sku``), in the order first seen.

    At most ``limit`` paths are listed; lists are expanded with ``[]`` and
    their first items inspected.
    """
    collector = _Collector(limit)
    total = 0
    for record in records:
        total += 1
        collector.present = set()
        collector.visit(record, (), 0)
        for path in collector.present:
            collector.seen[path].count += 1
    return [
        FieldInfo(path, stats.example, round(stats.count / total, 4) if total else 0.0)
        for path, stats in collector.seen.items()
    ]


class _Collector:
    """Walks records, keeping each leaf path's first example and how many records had it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: dict[str, _Seen] = {}
        self.names: dict[tuple[Segment, ...], str] = {}
        # Paths with a value in the current record.
        self.present: set[str] = set()

    def visit(self, node: Any, segments: tuple[Segment, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str):
                    self.visit(value, (*segments, (KEY, key)), depth + 1)
            return
        if isinstance(node, list):
            inner = (*segments, (EXPAND, None))
            if not node:
                self.leaf(None, inner)
            for item in node[:ITEMS_PER_LIST]:
                self.visit(item, inner, depth + 1)
            return
        if segments:
            self.leaf(node, segments)

    def leaf(self, value: Any, segments: tuple[Segment, ...]) -> None:
        path = self.names.get(segments)
        if path is None:
            path = self.names[segments] = format_path(segments)
        stats = self.seen.get(path)
        if stats is None:
            if len(self.seen) >= self.limit:
                return
            stats = self.seen[path] = _Seen()
        if is_empty(value):
            return
        self.present.add(path)
        if stats.example is None:
            if isinstance(value, str) and len(value) > EXAMPLE_LENGTH:
                value = value[: EXAMPLE_LENGTH - 1] + "…"
            stats.example = value
