"""The connectors page: every connector with its state, live, and what can be done to it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services.connector_board import BoardRow, board, sync_history
from app.store.models import ConnectorStatus
from ui.connectors.delegates import StatusBadgeDelegate, SyncProgressDelegate
from ui.connectors.model import ConnectorTableModel, SyncHistoryModel
from ui.qt import (
    QAbstractItemView,
    QAction,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QMessageBox,
    QSplitter,
    Qt,
    QTableView,
    QTimer,
    QToolBar,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.sources import SourceInfo
from ui.workers import Task, submit

log = logging.getLogger(__name__)

# How often the table reloads: often while a sync runs, calmly otherwise.
BUSY_POLL_MS = 1_000
IDLE_POLL_MS = 5_000


class ConnectorsPage(QWidget):
    """Connectors table, actions and the selected connector's details.

    ``wizard_requested(connector_id, page)`` asks the window to open the
    connector wizard: ``connector_id`` 0 adds a connector; ``page`` names the
    wizard page to open on (``credentials`` for Reconnect).
    """

    loaded = Signal(list)
    load_failed = Signal(str)
    action_failed = Signal(str)
    sync_finished = Signal(int)
    wizard_requested = Signal(int, str)

    def __init__(self, runtime: Runtime, sources: dict[str, SourceInfo]) -> None:
        super().__init__()
        self.runtime = runtime
        self.workspace_id: int | None = None
        self._loading: Task | None = None
        self._tasks: set[Task] = set()
        self._syncing: set[int] = set()

        self.model = ConnectorTableModel(sources)
        self._build_table()
        self._build_actions()
        lower = self._build_details()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Connectors page message")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(self.toolbar)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setInterval(IDLE_POLL_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_actions()

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Connectors")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ConnectorTableModel.NAME, QHeaderView.ResizeMode.Stretch)
        self._status_delegate = StatusBadgeDelegate()
        self._progress_delegate = SyncProgressDelegate(lambda: self.model.now)
        self.table.setItemDelegateForColumn(ConnectorTableModel.STATUS, self._status_delegate)
        self.table.setItemDelegateForColumn(ConnectorTableModel.PROGRESS, self._progress_delegate)
        self.table.doubleClicked.connect(lambda _: self.edit_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())

    def _build_actions(self) -> None:
        self.toolbar = QToolBar("Connector actions")
        self.toolbar.setAccessibleName("Connector actions")
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, shortcut, slot in (
            ("add", "Add…", QKeySequence.StandardKey.New, self.add),
            ("edit", "Edit…", None, self.edit_selected),
            ("sync", "Sync now", QKeySequence("Ctrl+R"), self.sync_selected),
            ("reconnect", "Reconnect…", None, self.reconnect_selected),
            ("disable", "Disable", None, self.toggle_selected),
            ("delete", "Delete…", QKeySequence.StandardKey.Delete, self.delete_selected),
        ):
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            self.toolbar.addAction(action)
            self.actions_by_name[name] = action

    def _build_details(self) -> QWidget:
        self.details = QLabel("Select a connector to see its last error and sync history.")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.history_model = SyncHistoryModel()
        self.history = QTableView()
        self.history.setModel(self.history_model)
        self.history.setAccessibleName("Sync history")
        self.history.verticalHeader().setVisible(False)
        self.history.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.details)
        lower_layout.addWidget(self.history)
        return lower

    # Loading

    def start_polling(self) -> None:
        self.refresh()
        self._timer.start()

    def stop_polling(self) -> None:
        self._timer.stop()

    def set_workspace(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self.refresh()

    def refresh(self) -> None:
        """Reload the table off the GUI thread; a load already under way is not doubled."""
        if self._loading is not None:
            return
        workspace = self.workspace_id
        self._loading = submit(
            lambda: board(self.runtime.database, workspace), self._show, self._load_failed
        )

    def _show(self, rows: list[BoardRow]) -> None:
        self._loading = None
        before = self.selected_row()
        self.model.set_rows(rows)
        if before is not None:
            self.select(before.id)
            after = self.selected_row()
            # A sync started or ended since the last look: its history changed.
            if after is not None and (
                (after.running is None) != (before.running is None)
                or after.last_synced_at != before.last_synced_at
            ):
                self._load_history(after.id)
        busy = any(row.running is not None for row in rows) or bool(self._syncing)
        self._timer.setInterval(BUSY_POLL_MS if busy else IDLE_POLL_MS)
        self._update_actions()
        self.loaded.emit(rows)

    def _load_failed(self, message: str) -> None:
        self._loading = None
        self.message.setText(f"Could not load the connectors: {message}")
        self.load_failed.emit(message)

    # Selection

    def selected_row(self) -> BoardRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def selected_id(self) -> int | None:
        row = self.selected_row()
        return row.id if row else None

    def select(self, connector_id: int) -> None:
        position = self.model.position_of(connector_id)
        if position is not None and self.selected_id() != connector_id:
            self.table.selectRow(position)

    def _selection_changed(self) -> None:
        self._update_actions()
        row = self.selected_row()
        if row is None:
            self.details.setText("Select a connector to see its last error and sync history.")
            self.history_model.set_runs([])
            return
        if row.status_message:
            self.details.setText(f"{row.name}: {row.status_message}")
        else:
            self.details.setText(f"{row.name}: {row.schedule}.")
        self._load_history(row.id)

    def _load_history(self, connector_id: int) -> None:
        self._run(
            lambda: sync_history(self.runtime.database, connector_id),
            self._show_history(connector_id),
        )

    def _show_history(self, connector_id: int) -> Callable[[Any], None]:
        def show(runs: list[dict[str, Any]]) -> None:
            if self.selected_id() == connector_id:
                self.history_model.set_runs(runs)

        return show

    def _update_actions(self) -> None:
        row = self.selected_row()
        has = row is not None
        for name in ("edit", "sync", "disable", "delete"):
            self.actions_by_name[name].setEnabled(has)
        reconnect = self.actions_by_name["reconnect"]
        needs = has and row.status is ConnectorStatus.NEEDS_RECONNECT
        reconnect.setEnabled(needs)
        reconnect.setVisible(needs)
        disabled = has and row.status is ConnectorStatus.DISABLED
        self.actions_by_name["disable"].setText("Enable" if disabled else "Disable")
        syncing = has and (row.running is not None or row.id in self._syncing)
        self.actions_by_name["sync"].setEnabled(has and not syncing and not disabled)

    # Actions

    def add(self) -> None:
        self.wizard_requested.emit(0, "source")

    def edit_selected(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.wizard_requested.emit(row.id, "credentials")

    def reconnect_selected(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.wizard_requested.emit(row.id, "reconnect")

    def sync_selected(self) -> None:
        row = self.selected_row()
        if row is None or row.id in self._syncing:
            return
        self.sync(row.id)

    def sync(self, connector_id: int) -> None:
        """Start a manual sync on a worker thread; the table shows its progress."""
        runtime = self.runtime
        self._syncing.add(connector_id)
        self._update_actions()

        def done(_: object) -> None:
            self._syncing.discard(connector_id)
            self.refresh()
            self.sync_finished.emit(connector_id)

        def failed(message: str) -> None:
            self._syncing.discard(connector_id)
            self._failed(f"Sync failed: {message}")
            self.refresh()
            self.sync_finished.emit(connector_id)

        self._run(
            lambda: connector_service.sync_now(
                runtime.database, runtime.vault, connector_id, trigger="manual"
            ),
            done,
            failed,
            long=True,
        )
        self._timer.setInterval(BUSY_POLL_MS)
        QTimer.singleShot(300, self.refresh)

    def toggle_selected(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        enable = row.status is ConnectorStatus.DISABLED
        runtime, connector_id = self.runtime, row.id
        self._run(
            lambda: connector_service.update_connector(
                runtime.database, runtime.vault, connector_id, enabled=enable
            ),
            lambda _: self.refresh(),
        )

    def delete_selected(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete connector",
            f"Delete “{row.name}”?\n\n"
            f"Its {row.rows:,} imported demand lines and its sync history are deleted "
            "with it, so the next forecast run no longer sees that demand. Forecasts "
            "already computed stay as they are until then. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        runtime, connector_id = self.runtime, row.id
        self._run(
            lambda: connector_service.delete_connector(runtime.database, connector_id),
            lambda _: self.refresh(),
        )

    def _run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None] | None = None,
        *,
        long: bool = False,
    ) -> None:
        task: Task

        def done(result: Any) -> None:
            self._tasks.discard(task)
            on_done(result)

        def failed(message: str) -> None:
            self._tasks.discard(task)
            (on_failed or self._failed)(message)

        task = submit(fn, done, failed, long=long)
        self._tasks.add(task)

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
