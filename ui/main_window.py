"""The main window: navigation between the pages, the workspace, and what runs in the background."""

from __future__ import annotations

import logging
from typing import Any

from app.runtime import Runtime
from app.services.overview import Overview, overview
from app.services.scheduling import BackgroundWork
from app.store.types import utcnow
from ui.alerts.badge import NavBadgeDelegate, set_badge
from ui.alerts.page import AlertsPage
from ui.connectors.page import ConnectorsPage
from ui.formatting import until
from ui.qt import (
    QApplication,
    QByteArray,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QSettings,
    QStackedWidget,
    Qt,
    QTimer,
    QToolBar,
    QWidget,
    Signal,
)
from ui.runs.page import RunsPage
from ui.series.page import SeriesPage
from ui.settings.page import SettingsPage
from ui.sources import source_catalogue
from ui.tray import Tray, sync_all
from ui.wizard import ConnectorWizard
from ui.workers import Task, submit

log = logging.getLogger(__name__)

PAGES = ("Connectors", "Runs", "Series", "Alerts", "Settings")
STATUS_POLL_MS = 5_000


class MainWindow(QMainWindow):
    """The application window; ``loaded`` or ``load_failed`` follows each refresh.

    ``background`` (scheduler and run worker) and ``server`` (the embedded
    server, anything with ``url``) are shown in the status bar when given.
    """

    loaded = Signal(object)
    load_failed = Signal(str)

    def __init__(
        self,
        runtime: Runtime,
        *,
        background: BackgroundWork | None = None,
        server: Any | None = None,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.background = background
        self.server = server
        self.settings = settings or QSettings("AccuPredix", "AccuPredix")
        self._task: Task | None = None
        self._status_task: Task | None = None
        self.setWindowTitle("AccuPredix")
        self.resize(1100, 700)

        self.workspace = QComboBox()
        self.workspace.setAccessibleName("Workspace")
        self.workspace.setToolTip("The workspace whose connectors and forecasts are shown")
        self.workspace.currentIndexChanged.connect(self._workspace_changed)
        toolbar = QToolBar("Workspace")
        toolbar.setObjectName("workspace-toolbar")
        toolbar.setMovable(False)
        label = QLabel("Workspace: ")
        label.setBuddy(self.workspace)
        toolbar.addWidget(label)
        toolbar.addWidget(self.workspace)
        self.addToolBar(toolbar)

        self.nav = QListWidget()
        self.nav.setAccessibleName("Navigation")
        self.nav.addItems(list(PAGES))
        self.nav.setFixedWidth(max(140, self.nav.sizeHintForColumn(0) + 32))
        self.stack = QStackedWidget()
        self.connectors = ConnectorsPage(runtime, source_catalogue())
        self.connectors.wizard_requested.connect(self.open_wizard)
        self.wizard: ConnectorWizard | None = None
        self.stack.addWidget(self.connectors)
        self.fields: dict[str, QLabel] = {}
        self._build_forecast_pages()
        self.nav.currentRowChanged.connect(self._page_changed)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.nav)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.server_label = QLabel("Server: off")
        self.scheduler_label = QLabel("Scheduler: off")
        self.store_label = QLabel(f"Store: {_store_description(runtime)}")
        for widget in (self.server_label, self.scheduler_label, self.store_label):
            widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.statusBar().addPermanentWidget(widget)
        self.statusBar().showMessage("Loading…")
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_POLL_MS)
        self._status_timer.timeout.connect(self.refresh_status)

        self._restore()

    def _summary(self) -> QWidget:
        box = QGroupBox("In the store")
        form = QFormLayout(box)
        for key, label in (
            ("organisation", "Organisation"),
            ("plan", "Plan"),
            ("connectors", "Connectors"),
            ("series", "Series"),
            ("demand_lines", "Demand lines"),
            ("forecast_runs", "Forecast runs"),
        ):
            self.fields[key] = QLabel("…")
            form.addRow(label, self.fields[key])
        return box

    def _build_forecast_pages(self) -> None:
        wake = self.background.runs.wake if self.background is not None else None
        self.runs = RunsPage(self.runtime, wake=wake)
        self.runs.add_summary(self._summary())
        self.series = SeriesPage(self.runtime)
        self.alerts = AlertsPage(self.runtime)
        # A run posted to the API starts at once rather than at the worker's next poll.
        self.settings_page = SettingsPage(
            self.runtime, self.settings, on_run_created=(lambda _: wake()) if wake else None
        )
        for page in (self.runs, self.series, self.alerts, self.settings_page):
            self.stack.addWidget(page)
        self.nav.setItemDelegate(NavBadgeDelegate(self.nav))
        alerts_item = self.nav.item(PAGES.index("Alerts"))
        self.runs.run_finished.connect(self._run_finished)
        self.alerts.open_series.connect(self.show_series)
        self.alerts.unread_changed.connect(lambda n: set_badge(alerts_item, n, "unread alerts"))
        self.settings_page.server_changed.connect(self.set_server)
        self._quitting = False
        self.tray = Tray(self, self.settings)
        self.alerts.arrived.connect(self.tray.notify_alerts)
        self.tray.open_requested.connect(self.show_from_tray)
        self.tray.sync_all_requested.connect(lambda: sync_all(self.connectors))
        self.tray.run_requested.connect(self.runs.start_run)
        self.tray.quit_requested.connect(self.quit_app)

    # Loading

    def refresh(self) -> None:
        """Reload the overview and the workspaces on a worker thread."""
        self.statusBar().showMessage("Loading…")
        self._task = submit(lambda: overview(self.runtime.database), self._show, self._failed)
        self.connectors.start_polling()
        self.runs.start_polling()
        self.alerts.start_polling()
        self.settings_page.refresh()
        self.settings_page.server.restore()
        self.refresh_status()
        self._status_timer.start()

    def _show(self, data: Overview) -> None:
        for key, label in self.fields.items():
            value = getattr(data, key)
            label.setText(f"{value:,}" if isinstance(value, int) else str(value))
        self._set_workspaces(data.workspaces)
        self.statusBar().showMessage(
            f"Store: {self.runtime.database.engine.url.get_backend_name()}", 5_000
        )
        self.loaded.emit(data)

    def _failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Could not load the overview: {message}")
        self.load_failed.emit(message)

    def _set_workspaces(self, workspaces: tuple[tuple[int, str], ...]) -> None:
        current = self.workspace.currentData()
        wanted = current if current is not None else self.settings.value("workspace", None)
        self.workspace.blockSignals(True)
        self.workspace.clear()
        for workspace_id, name in workspaces:
            self.workspace.addItem(name, workspace_id)
        index = self.workspace.findData(_as_int(wanted))
        self.workspace.setCurrentIndex(max(index, 0))
        self.workspace.blockSignals(False)
        self._workspace_changed()

    def _workspace_changed(self, *_: object) -> None:
        workspace_id = self.workspace.currentData()
        if workspace_id is not None:
            self.settings.setValue("workspace", workspace_id)
        if workspace_id != self.connectors.workspace_id:
            self.connectors.set_workspace(workspace_id)
        for page in (self.runs, self.series, self.alerts, self.settings_page):
            if workspace_id != page.workspace_id:
                page.set_workspace(workspace_id)

    # Status bar

    def refresh_status(self) -> None:
        """The server's address and the scheduler's next sync; the latter off the GUI thread."""
        url = getattr(self.server, "url", None) if self.server is not None else None
        self.server_label.setText(f"Server: listening on {url}" if url else "Server: off")
        if self.background is None or self._status_task is not None:
            return
        scheduler = self.background.scheduler
        self._status_task = submit(scheduler.jobs, self._show_jobs, self._jobs_failed)

    def _show_jobs(self, jobs: list[Any]) -> None:
        self._status_task = None
        upcoming = [job for job in jobs if job.next_run_at is not None]
        if not upcoming:
            self.scheduler_label.setText("Scheduler: no scheduled syncs")
            return
        job = upcoming[0]
        self.scheduler_label.setText(
            f"Scheduler: next {job.connector_name} {until(job.next_run_at, utcnow())}"
        )

    def _jobs_failed(self, message: str) -> None:
        self._status_task = None
        self.scheduler_label.setText("Scheduler: state unknown")
        self.scheduler_label.setToolTip(message)

    # The connector wizard

    def open_wizard(self, connector_id: int, page: str) -> ConnectorWizard:
        """Open the wizard (0: add a connector) window-modal; the table refreshes after it."""
        wizard = ConnectorWizard(
            self.runtime,
            connector_id or None,
            page,
            workspace_id=self.connectors.workspace_id,
            server=self.server,
            parent=self,
        )
        wizard.saved.connect(self._connector_saved)
        wizard.finished.connect(lambda _: self.connectors.refresh())
        self.wizard = wizard
        wizard.open()
        return wizard

    def _connector_saved(self, connector_id: int, sync_now: bool) -> None:
        self.connectors.refresh()
        if sync_now:
            self.connectors.sync(connector_id)

    # The forecast pages, the embedded server and the tray

    def set_server(self, server: Any | None) -> None:
        """Show the embedded server (anything with ``url``; None once stopped) in the status bar."""
        self.server = server
        self.refresh_status()

    def _run_finished(self, run_id: int, status: str) -> None:
        self.statusBar().showMessage(f"Forecast run #{run_id} {status}.", 10_000)
        if status == "complete":
            self.series.refresh()
            self.alerts.refresh()

    def show_series(self, series_id: int) -> None:
        self.nav.setCurrentRow(PAGES.index("Series"))
        self.series.select_series(series_id)

    def show_from_tray(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def quit_app(self) -> None:
        """Close for good, whatever runs: the server stops and the app quits."""
        self._quitting = True
        self.close()
        QApplication.quit()

    # Pages and window state

    def _page_changed(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        self.settings.setValue("page", row)

    def _restore(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        page = _as_int(self.settings.value("page", 0)) or 0
        self.nav.setCurrentRow(page if 0 <= page < len(PAGES) else 0)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("page", self.nav.currentRow())
        self.settings.sync()
        busy = self.server is not None or self.background is not None
        if not self._quitting and self.tray.keep_running(busy):
            event.ignore()
            self.hide()
            return
        self.connectors.stop_polling()
        self.runs.stop_polling()
        self.alerts.stop_polling()
        self.settings_page.shutdown()
        self.tray.hide_icon()
        self._status_timer.stop()
        super().closeEvent(event)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _store_description(runtime: Runtime) -> str:
    url = runtime.database.engine.url
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database or 'in memory'}"
    port = f":{url.port}" if url.port else ""
    return f"PostgreSQL {url.host or 'local socket'}{port}/{url.database}"
