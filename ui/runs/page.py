"""The runs page: forecast runs newest first, live, and "Run forecast now"."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

from app.runtime import Runtime
from app.services import runs as run_service
from ui.qt import (
    QAbstractItemView,
    QAction,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSplitter,
    Qt,
    QTableView,
    QTimer,
    QToolBar,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.runs.delegates import RunProgressDelegate, RunStatusDelegate
from ui.runs.model import ACTIVE, TRIGGER_WORDS, RunTableModel, duration_text
from ui.runs.options import RunOptionsDialog
from ui.settings.common import Tasks
from ui.settings.defaults import ForecastDefaults, forecast_defaults, save_forecast_defaults
from ui.workers import Task

log = logging.getLogger(__name__)

BUSY_POLL_MS = 1_000
IDLE_POLL_MS = 5_000
# Runs read per refresh; the list service has no workspace filter, so a few more
# than are shown are read and the other workspaces' left out.
RUNS_READ = 200


class RunsPage(QWidget):
    """Runs of the workspace with status, timing and progress; runs from anywhere appear live.

    ``run_finished(run_id, status)`` is emitted when a run this page saw queued
    or running has ended, whoever started it.
    """

    loaded = Signal(list)
    load_failed = Signal(str)
    run_queued = Signal(int)
    run_finished = Signal(int, str)
    action_failed = Signal(str)
    options_shown = Signal(object)

    def __init__(self, runtime: Runtime, *, wake: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.runtime = runtime
        self.wake = wake
        self.workspace_id: int | None = None
        self.options_dialog: RunOptionsDialog | None = None
        self._loading: Task | None = None
        self._active: set[int] = set()
        self.tasks = Tasks(self, self._failed)

        self.model = RunTableModel()
        self.toolbar = QToolBar("Run actions")
        self.run_action = QAction("Run forecast now…", self)
        self.run_action.setToolTip("Forecast every series of the workspace now")
        self.run_action.triggered.connect(self.ask_and_run)
        self.toolbar.addAction(self.run_action)

        self.progress = QProgressBar()
        self.progress.setAccessibleName("Run progress")
        self.progress.setVisible(False)
        self.progress_label = QLabel()
        self.progress_label.setVisible(False)

        self._build_table()
        self.details = QLabel("Select a run to see its details.")
        self.details.setWordWrap(True)
        self.details.setAccessibleName("Run details")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Runs page message")

        splitter = QSplitter(Qt.Orientation.Vertical)
        lower = QWidget()
        self._lower = QHBoxLayout(lower)
        self._lower.setContentsMargins(0, 0, 0, 0)
        self._lower.addWidget(self.details, 1)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        top = QHBoxLayout()
        top.addWidget(self.toolbar)
        top.addWidget(self.progress_label)
        top.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(IDLE_POLL_MS)
        self._timer.timeout.connect(self.refresh)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Forecast runs")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(RunTableModel.ERROR, QHeaderView.ResizeMode.Stretch)
        self._status_delegate = RunStatusDelegate()
        self._progress_delegate = RunProgressDelegate()
        self.table.setItemDelegateForColumn(RunTableModel.STATUS, self._status_delegate)
        self.table.setItemDelegateForColumn(RunTableModel.PROGRESS, self._progress_delegate)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_details())

    def add_summary(self, widget: QWidget) -> None:
        """Show ``widget`` (the window's figures of the store) beside the run details."""
        self._lower.addWidget(widget)

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
        """Reload the runs off the GUI thread; a load under way is not doubled."""
        if self._loading is not None:
            return
        database, workspace = self.runtime.database, self.workspace_id

        def load() -> list[dict[str, Any]]:
            runs = run_service.list_runs(database, limit=RUNS_READ)
            return [r for r in runs if workspace is None or r["workspace_id"] == workspace]

        self._loading = self.tasks.run(load, self._show, self._load_failed)

    def _show(self, runs: list[dict[str, Any]]) -> None:
        self._loading = None
        selected = self.selected_id()
        self.model.set_runs(runs)
        if selected is not None:
            self.select(selected)
        self._note_endings(runs)
        active = [r for r in runs if r["status"] in ACTIVE]
        self._show_progress(active)
        self._timer.setInterval(BUSY_POLL_MS if active else IDLE_POLL_MS)
        self._show_details()
        self.loaded.emit(runs)

    def _note_endings(self, runs: list[dict[str, Any]]) -> None:
        by_id = {r["id"]: r for r in runs}
        ended = [by_id[i] for i in self._active if i in by_id and by_id[i]["status"] not in ACTIVE]
        self._active = {r["id"] for r in runs if r["status"] in ACTIVE}
        for run in ended:
            self.run_finished.emit(run["id"], run["status"])

    def _show_progress(self, active: list[dict[str, Any]]) -> None:
        running = [r for r in active if r["status"] == "running"] or active
        if not running:
            self.progress.setVisible(False)
            self.progress_label.setVisible(False)
            return
        run = running[-1]  # the oldest: the one the worker is on
        done, total = run["series_done"], run["series_total"]
        self.progress.setRange(0, total if total else 0)
        self.progress.setValue(min(done, total))
        self.progress.setFormat(f"{done:,} of {total:,} series" if total else "starting…")
        waiting = len(active) - 1
        text = f"Run #{run['id']} {run['status']}"
        self.progress_label.setText(text + (f" ({waiting} more queued)" if waiting else ""))
        self.progress.setVisible(True)
        self.progress_label.setVisible(True)

    def _load_failed(self, message: str) -> None:
        self._loading = None
        self.message.setText(f"Could not load the runs: {message}")
        self.load_failed.emit(message)

    # Selection

    def selected_run(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.run_at(rows[0].row()) if rows else None

    def selected_id(self) -> int | None:
        run = self.selected_run()
        return run["id"] if run else None

    def select(self, run_id: int) -> None:
        position = self.model.position_of(run_id)
        if position is not None and self.selected_id() != run_id:
            self.table.selectRow(position)

    def _show_details(self) -> None:
        run = self.selected_run()
        if run is None:
            self.details.setText("Select a run to see its details.")
            return
        trigger = TRIGGER_WORDS.get(run["trigger"], run["trigger"])
        lines = [
            f"<b>Run #{run['id']}</b>: {run['status']}, {run['frequency']}, "
            f"horizon {run['horizon']} periods; started {trigger}."
        ]
        if run["series_total"]:
            lines.append(f"{run['series_done']:,} of {run['series_total']:,} series forecast.")
        duration = duration_text(run, self.model.now)
        if duration:
            lines.append(f"Took {duration}." if run["status"] not in ACTIVE else duration)
        if run.get("error"):
            lines.append(f"<span style='color:#b91c1c'>Failed: {html.escape(run['error'])}</span>")
        if run["status"] == "queued" and self.wake is None:
            lines.append("Waiting for a run worker: start the desktop app's background work.")
        self.details.setText("<br>".join(lines))

    # Actions

    def ask_and_run(self) -> None:
        """Read the workspace's defaults, then ask for the horizon and frequency."""
        database, workspace = self.runtime.database, self.workspace_id
        self.run_action.setEnabled(False)

        def failed(message: str) -> None:
            self.run_action.setEnabled(True)
            self._failed(message)

        self.tasks.run(lambda: forecast_defaults(database, workspace), self._ask, failed)

    def _ask(self, defaults: ForecastDefaults) -> None:
        self.run_action.setEnabled(True)
        dialog = RunOptionsDialog(defaults, self)
        dialog.accepted.connect(lambda: self.start_run(*dialog.options()))
        self.options_dialog = dialog
        dialog.open()
        self.options_shown.emit(dialog)

    def start_run(self, horizon: int | None = None, frequency: str | None = None) -> None:
        """Queue a run of the workspace and wake the run worker; the table shows it at once."""
        database, workspace = self.runtime.database, self.workspace_id

        def queue() -> dict[str, Any]:
            if frequency is not None:
                current = forecast_defaults(database, workspace)
                if current.frequency != frequency:
                    save_forecast_defaults(database, workspace, frequency=frequency)
            run, _ = run_service.create_run(
                database, workspace_id=workspace, horizon=horizon, trigger="manual"
            )
            return run

        def queued(run: dict[str, Any]) -> None:
            self.message.setText(f"Run #{run['id']} queued.")
            if self.wake is not None:
                self.wake()
            self._active.add(run["id"])
            self.run_queued.emit(run["id"])
            self._timer.setInterval(BUSY_POLL_MS)
            self.refresh()

        self.tasks.run(queue, queued)

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
