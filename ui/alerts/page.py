"""The alerts inbox: what the last runs found, unread first to the eye, one click to the series."""

from __future__ import annotations

import logging
from typing import Any

from app.runtime import Runtime
from ui.alerts import data
from ui.alerts.model import (
    ALERT_ROLE,
    HIGH_SEVERITIES,
    KIND_WORDS,
    SEVERITY_WORDS,
    AlertFilterProxy,
    AlertTableModel,
)
from ui.qt import (
    QAbstractItemView,
    QAction,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QModelIndex,
    QTableView,
    QTimer,
    QToolBar,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.settings.common import Tasks
from ui.workers import Task

log = logging.getLogger(__name__)

POLL_MS = 10_000


class AlertsPage(QWidget):
    """The workspace's alerts with filters and read state.

    ``unread_changed(count)`` follows the unread count (for the navigation
    badge); ``open_series(series_id)`` asks the window to show a series;
    ``arrived(alerts)`` carries high-severity alerts that appeared since the
    last look, for a desktop notification.
    """

    loaded = Signal(list)
    load_failed = Signal(str)
    unread_changed = Signal(int)
    open_series = Signal(int)
    arrived = Signal(list)
    marked = Signal(list)
    action_failed = Signal(str)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.workspace_id: int | None = None
        self.unread = 0
        self._loading: Task | None = None
        # The newest alert id seen; None until the first load, which notifies nothing.
        self._newest_seen: int | None = None
        self.tasks = Tasks(self, self._failed)

        self.model = AlertTableModel()
        self.proxy = AlertFilterProxy()
        self.proxy.setSourceModel(self.model)
        self._build_toolbar()
        self._build_table()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Alerts page message")
        self.summary = QLabel()
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.toolbar)
        top.addStretch(1)
        top.addWidget(self.summary)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_actions()

    def _build_toolbar(self) -> None:
        self.toolbar = QToolBar("Alert actions")
        self.mark_read_action = QAction("Mark read", self)
        self.mark_read_action.triggered.connect(self.mark_selected_read)
        self.mark_all_action = QAction("Mark all read", self)
        self.mark_all_action.triggered.connect(self.mark_all_read)
        self.kind = QComboBox()
        self.kind.setAccessibleName("Kind")
        self.kind.addItem("Any kind", None)
        for value, label in KIND_WORDS.items():
            self.kind.addItem(label, value)
        self.severity = QComboBox()
        self.severity.setAccessibleName("Severity")
        self.severity.addItem("Any severity", None)
        for value, label in SEVERITY_WORDS.items():
            self.severity.addItem(label, value)
        self.unread_only = QCheckBox("Unread only")
        self.kind.currentIndexChanged.connect(lambda _: self._filter_changed())
        self.severity.currentIndexChanged.connect(lambda _: self._filter_changed())
        self.unread_only.toggled.connect(lambda _: self._filter_changed())
        self.toolbar.addAction(self.mark_read_action)
        self.toolbar.addAction(self.mark_all_action)
        self.toolbar.addSeparator()
        self.toolbar.addWidget(self.kind)
        self.toolbar.addWidget(self.severity)
        self.toolbar.addWidget(self.unread_only)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Alerts")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(AlertTableModel.MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self.open_alert)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())

    # Loading

    def start_polling(self) -> None:
        self.refresh()
        self._timer.start()

    def stop_polling(self) -> None:
        self._timer.stop()

    def set_workspace(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self._newest_seen = None
        self.refresh()

    def refresh(self) -> None:
        if self._loading is not None:
            return
        database, workspace = self.runtime.database, self.workspace_id

        def load() -> tuple[list[dict[str, Any]], int]:
            return data.load_alerts(database, workspace), data.unread_count(database, workspace)

        self._loading = self.tasks.run(load, self._show, self._load_failed)

    def _show(self, loaded: tuple[list[dict[str, Any]], int]) -> None:
        self._loading = None
        alerts, unread = loaded
        selected = self.selected_ids()
        self.model.set_alerts(alerts)
        self._reselect(selected)
        self._set_unread(unread)
        newest = max((a["id"] for a in alerts), default=0)
        if self._newest_seen is not None:
            fresh = [
                a
                for a in alerts
                if a["id"] > self._newest_seen
                and not a["read"]
                and a["severity"] in HIGH_SEVERITIES
            ]
            if fresh:
                self.arrived.emit(fresh)
        self._newest_seen = max(newest, self._newest_seen or 0)
        self.summary.setText(f"{unread:,} unread of {len(alerts):,} shown")
        self._update_actions()
        self.loaded.emit(alerts)

    def _load_failed(self, message: str) -> None:
        self._loading = None
        self.message.setText(f"Could not load the alerts: {message}")
        self.load_failed.emit(message)

    def _set_unread(self, count: int) -> None:
        if count != self.unread:
            self.unread = count
            self.unread_changed.emit(count)

    # Filters and selection

    def _filter_changed(self) -> None:
        self.proxy.set_filter(
            kind=self.kind.currentData(),
            severity=self.severity.currentData(),
            unread_only=self.unread_only.isChecked(),
        )
        self._update_actions()

    def selected_alerts(self) -> list[dict[str, Any]]:
        return [index.data(ALERT_ROLE) for index in self.table.selectionModel().selectedRows()]

    def selected_ids(self) -> list[int]:
        return [alert["id"] for alert in self.selected_alerts()]

    def select(self, alert_id: int) -> bool:
        for row in range(self.proxy.rowCount()):
            if self.proxy.index(row, 0).data(ALERT_ROLE)["id"] == alert_id:
                self.table.selectRow(row)
                return True
        return False

    def _reselect(self, alert_ids: list[int]) -> None:
        for alert_id in alert_ids[:1]:
            self.select(alert_id)

    def _update_actions(self) -> None:
        selected = self.selected_alerts()
        self.mark_read_action.setEnabled(any(not a["read"] for a in selected))
        self.mark_all_action.setEnabled(self.unread > 0)

    # Actions

    def open_alert(self, index: QModelIndex) -> None:
        """Mark the alert read and ask for its series to be shown."""
        alert = index.data(ALERT_ROLE)
        if alert is None:
            return
        if not alert["read"]:
            self._mark([alert["id"]])
        if alert["series_id"] is not None:
            self.open_series.emit(alert["series_id"])

    def mark_selected_read(self) -> None:
        ids = [a["id"] for a in self.selected_alerts() if not a["read"]]
        if ids:
            self._mark(ids)

    def _mark(self, alert_ids: list[int]) -> None:
        self.model.mark_read_locally(set(alert_ids))
        self._update_actions()
        database = self.runtime.database

        def done(views: list[dict[str, Any]]) -> None:
            self.marked.emit(views)
            self.refresh()

        self.tasks.run(lambda: data.mark_read(database, alert_ids), done, self._mark_failed)

    def mark_all_read(self) -> None:
        self.model.mark_read_locally(None)
        database, workspace = self.runtime.database, self.workspace_id

        def done(count: int) -> None:
            self.message.setText(f"Marked {count:,} alerts read.")
            self.refresh()

        self.tasks.run(lambda: data.mark_all_read(database, workspace), done, self._mark_failed)

    def _mark_failed(self, message: str) -> None:
        self._failed(f"Could not mark the alerts read: {message}")
        self.refresh()

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
