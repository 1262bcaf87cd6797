"""Table models of the connectors page: the connectors, and one connector's sync history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.services.connector_board import BoardRow
from app.store.types import utcnow
from ui.formatting import ago, until, when
from ui.qt import QIcon, QModelIndex, QPersistentModelIndex, Qt
from ui.sources import SourceInfo
from ui.table_model import ListTableModel

Index = QModelIndex | QPersistentModelIndex

# What the status delegate draws, and the running sync for the progress delegate.
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2
ID_ROLE = Qt.ItemDataRole.UserRole + 3

STATUS_WORDS = {
    "new": "New",
    "healthy": "Healthy",
    "syncing": "Syncing",
    "needs_reconnect": "Needs reconnect",
    "error": "Error",
    "disabled": "Disabled",
}


class ConnectorTableModel(ListTableModel):
    """The connectors of a workspace, one row each, refreshed in place by ``set_rows``."""

    COLUMNS = ("Name", "Source", "Status", "Last sync", "Next sync", "Rows", "Progress")
    NAME, SOURCE, STATUS, LAST, NEXT, ROWS, PROGRESS = range(7)

    def __init__(self, sources: dict[str, SourceInfo]) -> None:
        super().__init__()
        self._sources = sources
        self._items: list[BoardRow] = []
        self._now = utcnow()

    # Qt's model interface

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        special = {
            (ID_ROLE, column): row.id,
            (STATUS_ROLE, self.STATUS): row.shown_status,
            (PROGRESS_ROLE, self.PROGRESS): row.running,
            (Qt.ItemDataRole.TextAlignmentRole, self.ROWS): int(
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            ),
        }
        if role == Qt.ItemDataRole.DecorationRole and column == self.SOURCE:
            source = self._sources.get(row.preset)
            return QIcon(str(source.icon)) if source else None
        return special.get((role, column))

    # Ours

    def set_rows(self, rows: list[BoardRow], now: dt.datetime | None = None) -> None:
        """Show ``rows``; the same connectors in the same order update in place."""
        self._now = now or utcnow()
        if [r.id for r in rows] == [r.id for r in self._items]:
            self._items = rows
            if rows:
                last = self.index(len(rows) - 1, len(self.COLUMNS) - 1)
                self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self._items = rows
        self.endResetModel()

    def row_at(self, position: int) -> BoardRow | None:
        return self._items[position] if 0 <= position < len(self._items) else None

    def position_of(self, connector_id: int) -> int | None:
        for position, row in enumerate(self._items):
            if row.id == connector_id:
                return position
        return None

    @property
    def now(self) -> dt.datetime:
        return self._now

    def _text(self, row: BoardRow, column: int) -> str | None:
        if column == self.SOURCE:
            source = self._sources.get(row.preset)
            return source.name if source else row.preset
        if column == self.LAST:
            return ago(row.last_synced_at, self._now) if row.last_synced_at else "never"
        if column == self.NEXT:
            if row.next_sync_at is None:
                return row.schedule
            return until(row.next_sync_at, self._now)
        texts = {
            self.NAME: row.name,
            self.STATUS: STATUS_WORDS.get(row.shown_status, row.shown_status),
            self.ROWS: f"{row.rows:,}",
            self.PROGRESS: "" if row.running is None else None,
        }
        return texts.get(column)

    def _tooltip(self, row: BoardRow, column: int) -> str | None:
        if column == self.STATUS and row.status_message:
            return row.status_message
        if column == self.LAST and row.last_synced_at:
            return when(row.last_synced_at)
        if column == self.NEXT:
            if row.next_sync_at is None:
                return f"Schedule: {row.schedule}"
            return f"Schedule: {row.schedule}; next at {when(row.next_sync_at)}"
        if column == self.SOURCE:
            source = self._sources.get(row.preset)
            return source.description if source else None
        return None


class SyncHistoryModel(ListTableModel):
    """The latest syncs of the selected connector, newest first."""

    COLUMNS = ("Started", "Trigger", "Status", "Duration", "Inserted", "Updated", "Rejected")

    def __init__(self) -> None:
        super().__init__()
        self._items: list[dict[str, Any]] = []

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run = self._items[index.row()]
        if role == Qt.ItemDataRole.ToolTipRole and run.get("error"):
            return run["error"]
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._text(run, index.column())

    @staticmethod
    def _text(run: dict[str, Any], column: int) -> str:
        if column == 3:
            if run["finished_at"] is None:
                return "running"
            return f"{(run['finished_at'] - run['started_at']).total_seconds():.1f} s"
        if column >= 4:
            key = ("rows_inserted", "rows_updated", "rows_rejected")[column - 4]
            return f"{run[key]:,}"
        return (when(run["started_at"]), run["trigger"], run["status"])[column]

    def set_runs(self, runs: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._items = runs
        self.endResetModel()
