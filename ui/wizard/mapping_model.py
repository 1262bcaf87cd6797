"""The mapping as a table: one row per canonical column, its source, transforms and problems."""

from __future__ import annotations

import copy
import json
from typing import Any

from app.canonical import COLUMNS, Column
from ui.qt import QAbstractTableModel, QFont, QModelIndex, QPersistentModelIndex, Qt
from ui.wizard.base import error_colour
from ui.wizard.calls import SourceChoice
from ui.wizard.transform_options import describe

Index = QModelIndex | QPersistentModelIndex

NOT_MAPPED = "(not mapped)"


def source_text(entry: dict[str, Any] | None) -> str:
    """Where a column comes from, in one line: a path, ``= value`` or ``a + b``."""
    if not entry:
        return NOT_MAPPED
    if "path" in entry:
        return str(entry["path"])
    if "const" in entry:
        return f"= {json.dumps(entry['const'], ensure_ascii=False)}"
    if "concat" in entry:
        parts = entry["concat"] if isinstance(entry["concat"], list) else [entry["concat"]]
        return " + ".join(str(part) for part in parts)
    return "?"


class MappingModel(QAbstractTableModel):
    """The mapping document being edited, with the problems the engine found per column."""

    HEADERS = ("Column", "Source", "Transforms", "Sample value", "Check")
    COLUMN, SOURCE, TRANSFORMS, SAMPLE, CHECK = range(5)

    def __init__(self) -> None:
        super().__init__()
        self._entries: dict[str, dict[str, Any]] = {}
        self._extra: dict[str, Any] = {}
        self._problems: dict[str, str] = {}
        self._examples: dict[str, Any] = {}

    # Qt's model interface

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        column = COLUMNS[index.row()]
        entry = self._entries.get(column.name)
        problem = self._problems.get(column.name)
        section = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self._text(section, column, entry, problem)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(section, column, entry, problem)
        if role == Qt.ItemDataRole.FontRole and section == self.COLUMN and column.required:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and section == self.CHECK and problem:
            return error_colour()
        return None

    def _tooltip(
        self, section: int, column: Column, entry: dict[str, Any] | None, problem: str | None
    ) -> str:
        if section == self.COLUMN:
            required = "required" if column.required else "optional"
            what = f"; {column.description}" if column.description else ""
            return f"{column.name}: {column.type.value}, {required}{what}"
        return self._text(section, column, entry, problem)

    def _text(
        self, section: int, column: Column, entry: dict[str, Any] | None, problem: str | None
    ) -> str:
        if section == self.COLUMN:
            return f"{column.name} *" if column.required else column.name
        if section == self.SOURCE:
            return source_text(entry)
        if section == self.TRANSFORMS:
            specs = (entry or {}).get("transforms") or []
            return "; ".join(describe(spec) for spec in specs if isinstance(spec, dict))
        if section == self.SAMPLE:
            return self._sample(entry)
        return problem or ("OK" if entry else "")

    def _sample(self, entry: dict[str, Any] | None) -> str:
        if not entry:
            return ""
        if "const" in entry:
            return str(entry["const"])
        example = self._examples.get(str(entry.get("path")))
        return "" if example is None else str(example)

    # Ours

    def set_mapping(self, mapping: dict[str, Any]) -> None:
        self.beginResetModel()
        document = copy.deepcopy(mapping)
        self._entries = dict(document.pop("columns", {}) or {})
        self._extra = document
        self.endResetModel()

    def mapping(self) -> dict[str, Any]:
        """The document as edited (unknown top-level keys kept, for the engine to report)."""
        ordered = {c.name: self._entries[c.name] for c in COLUMNS if c.name in self._entries}
        others = {k: v for k, v in self._entries.items() if k not in ordered}
        return {**copy.deepcopy(self._extra), "columns": copy.deepcopy({**ordered, **others})}

    def entry(self, name: str) -> dict[str, Any] | None:
        found = self._entries.get(name)
        return copy.deepcopy(found) if found is not None else None

    def set_entry(self, name: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            self._entries.pop(name, None)
        else:
            self._entries[name] = copy.deepcopy(entry)
        row = [c.name for c in COLUMNS].index(name)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))

    def set_problems(self, problems: dict[str, str]) -> None:
        self._problems = dict(problems)
        self._refresh_all()

    def set_fields(self, fields: list[SourceChoice]) -> None:
        self._examples = {f.path: f.example for f in fields if f.example is not None}
        self._refresh_all()

    def _refresh_all(self) -> None:
        if COLUMNS:
            last = self.index(len(COLUMNS) - 1, len(self.HEADERS) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    @staticmethod
    def column_at(row: int) -> Column:
        return COLUMNS[row]
