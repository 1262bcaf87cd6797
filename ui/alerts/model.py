"""The alerts table: unread in bold, severity in colour, filtered by kind, severity and state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.store.types import utcnow
from ui.formatting import ago, when
from ui.qt import (
    QColor,
    QFont,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from ui.table_model import ListTableModel

Index = QModelIndex | QPersistentModelIndex

ID_ROLE = Qt.ItemDataRole.UserRole + 1
ALERT_ROLE = Qt.ItemDataRole.UserRole + 2

KIND_WORDS = {
    "spike": "Spike",
    "drop": "Drop",
    "forecast_shift": "Forecast shift",
    "silent": "Silent",
}
SEVERITY_WORDS = {"critical": "Critical", "warning": "Warning", "info": "Info"}
SEVERITY_COLOURS = {"critical": "#b91c1c", "warning": "#b45309", "info": "#2563a8"}
# Severities that earn a desktop notification when they arrive.
HIGH_SEVERITIES = frozenset({"critical"})


def series_label(alert: dict[str, Any]) -> str:
    sku, location = alert.get("sku"), alert.get("location")
    if not sku:
        return ""
    return sku if location in (None, "default") else f"{sku} at {location}"


class AlertTableModel(ListTableModel):
    """Alerts (the service's views), newest first."""

    COLUMNS = ("Severity", "Kind", "Series", "Message", "Raised")
    SEVERITY, KIND, SERIES, MESSAGE, RAISED = range(5)

    def __init__(self) -> None:
        super().__init__()
        self._items: list[dict[str, Any]] = []
        self._now = utcnow()
        self._bold = QFont()
        self._bold.setBold(True)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        alert = self._items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(alert, column)
        special = {
            ID_ROLE: alert["id"],
            ALERT_ROLE: alert,
            Qt.ItemDataRole.FontRole: None if alert["read"] else self._bold,
            Qt.ItemDataRole.ToolTipRole: self._tooltip(alert, column),
        }
        if role == Qt.ItemDataRole.ForegroundRole and column == self.SEVERITY:
            return QColor(SEVERITY_COLOURS.get(alert["severity"], "#6b7280"))
        return special.get(role)

    def _text(self, alert: dict[str, Any], column: int) -> str:
        if column == self.RAISED:
            return ago(dt.datetime.fromisoformat(alert["created_at"]), self._now)
        texts = {
            self.SEVERITY: SEVERITY_WORDS.get(alert["severity"], alert["severity"]),
            self.KIND: KIND_WORDS.get(alert["kind"], alert["kind"]),
            self.SERIES: series_label(alert),
            self.MESSAGE: alert["message"],
        }
        return texts.get(column, "")

    @staticmethod
    def _tooltip(alert: dict[str, Any], column: int) -> str | None:
        if column == AlertTableModel.MESSAGE:
            return alert["message"]
        if column == AlertTableModel.RAISED:
            return when(dt.datetime.fromisoformat(alert["created_at"]))
        return None

    # Ours

    def set_alerts(self, alerts: list[dict[str, Any]], now: dt.datetime | None = None) -> None:
        self._now = now or utcnow()
        if [a["id"] for a in alerts] == [a["id"] for a in self._items]:
            self._items = alerts
            if alerts:
                last = self.index(len(alerts) - 1, len(self.COLUMNS) - 1)
                self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self._items = alerts
        self.endResetModel()

    def mark_read_locally(self, alert_ids: set[int] | None = None) -> None:
        """Show alerts read at once, before the store's answer arrives (None: all)."""
        for position, alert in enumerate(self._items):
            if not alert["read"] and (alert_ids is None or alert["id"] in alert_ids):
                self._items[position] = {**alert, "read": True}
        if self._items:
            last = self.index(len(self._items) - 1, len(self.COLUMNS) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._items)

    def kinds(self) -> list[str]:
        return sorted({a["kind"] for a in self._items})


class AlertFilterProxy(QSortFilterProxyModel):
    """Keeps the alerts of the chosen kind and severity, and only unread ones if asked."""

    def __init__(self) -> None:
        super().__init__()
        self.kind: str | None = None
        self.severity: str | None = None
        self.unread_only = False

    def set_filter(self, *, kind: str | None, severity: str | None, unread_only: bool) -> None:
        # Qt 6.9 replaced invalidateRowsFilter() with a begin/end pair.
        modern = hasattr(self, "beginFilterChange")
        if modern:
            self.beginFilterChange()
        self.kind, self.severity, self.unread_only = kind, severity, unread_only
        if modern:
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        alert = self.sourceModel().index(source_row, 0, source_parent).data(ALERT_ROLE)
        if alert is None:
            return False
        return (
            (self.kind is None or alert["kind"] == self.kind)
            and (self.severity is None or alert["severity"] == self.severity)
            and not (self.unread_only and alert["read"])
        )
