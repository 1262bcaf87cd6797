"""The table model of the runs page: forecast runs newest first, with their progress."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.store.types import utcnow
from ui.formatting import ago, when
from ui.qt import QModelIndex, QPersistentModelIndex, Qt
from ui.table_model import ListTableModel

Index = QModelIndex | QPersistentModelIndex

STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
# (done, total) series of a run that is under way, for the progress delegate.
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2
ID_ROLE = Qt.ItemDataRole.UserRole + 3

STATUS_WORDS = {
    "queued": "Queued",
    "running": "Running",
    "complete": "Complete",
    "failed": "Failed",
}
ACTIVE = frozenset({"queued", "running"})
# Run, duration and series count read as figures.
RIGHT_ALIGNED = frozenset({0, 4, 5})
TRIGGER_WORDS = {
    "manual": "manually",
    "schedule": "after a sync",
    "api": "by the API",
    "cli": "from the CLI",
}


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def duration_text(run: dict[str, Any], now: dt.datetime) -> str:
    """How long the run took, or has taken so far."""
    seconds = run.get("duration_seconds")
    if seconds is None:
        started = parse_time(run.get("started_at"))
        if started is None:
            return ""
        seconds = max((now - started).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class RunTableModel(ListTableModel):
    """Runs (the dicts of ``app.services.runs.run_view``), refreshed in place by ``set_runs``."""

    COLUMNS = ("Run", "Status", "Trigger", "Started", "Duration", "Series", "Progress", "Error")
    RUN, STATUS, TRIGGER, STARTED, DURATION, SERIES, PROGRESS, ERROR = range(8)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[dict[str, Any]] = []
        self._now = utcnow()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run = self._items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(run, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(run, column)
        active = run["status"] in ACTIVE
        special = {
            (ID_ROLE, column): run["id"],
            (STATUS_ROLE, self.STATUS): run["status"],
            (PROGRESS_ROLE, self.PROGRESS): (
                (run["series_done"], run["series_total"]) if active else None
            ),
        }
        if role == Qt.ItemDataRole.TextAlignmentRole and column in RIGHT_ALIGNED:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return special.get((role, column))

    def _text(self, run: dict[str, Any], column: int) -> str:
        if column == self.STARTED:
            started = parse_time(run["started_at"])
            if started is None:
                return f"queued {ago(parse_time(run['created_at']) or self._now, self._now)}"
            return ago(started, self._now)
        if column == self.PROGRESS:
            if run["status"] in ACTIVE or not run["series_total"]:
                return ""
            return f"{run['series_done']:,} of {run['series_total']:,}"
        error = run.get("error") or ""
        texts = {
            self.RUN: f"#{run['id']}",
            self.STATUS: STATUS_WORDS.get(run["status"], run["status"]),
            self.TRIGGER: TRIGGER_WORDS.get(run["trigger"], run["trigger"]),
            self.DURATION: duration_text(run, self._now),
            self.SERIES: f"{run['series_total']:,}" if run["series_total"] else "",
            # The error's first line; the whole of it is in the tooltip and the details.
            self.ERROR: error.splitlines()[0] if error else "",
        }
        return texts.get(column, "")

    def _tooltip(self, run: dict[str, Any], column: int) -> str | None:
        if column in (self.STATUS, self.ERROR) and run.get("error"):
            return str(run["error"])
        if column == self.STARTED:
            started = parse_time(run["started_at"]) or parse_time(run["created_at"])
            return when(started) if started else None
        if column == self.RUN:
            return f"Horizon {run['horizon']} periods, {run['frequency']}"
        return None

    # Ours

    def set_runs(self, runs: list[dict[str, Any]], now: dt.datetime | None = None) -> None:
        """Show ``runs``; the same runs in the same order update in place."""
        self._now = now or utcnow()
        if [r["id"] for r in runs] == [r["id"] for r in self._items]:
            self._items = runs
            if runs:
                last = self.index(len(runs) - 1, len(self.COLUMNS) - 1)
                self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self._items = runs
        self.endResetModel()

    def run_at(self, position: int) -> dict[str, Any] | None:
        return self._items[position] if 0 <= position < len(self._items) else None

    def position_of(self, run_id: int) -> int | None:
        for position, run in enumerate(self._items):
            if run["id"] == run_id:
                return position
        return None

    @property
    def now(self) -> dt.datetime:
        return self._now

    def runs(self) -> list[dict[str, Any]]:
        return list(self._items)
