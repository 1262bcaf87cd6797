"""The main window: for now an overview of the store, loaded off the GUI thread."""

from __future__ import annotations

import logging

from app.runtime import Runtime
from app.services.overview import Overview, overview
from ui.qt import QFormLayout, QGroupBox, QLabel, QMainWindow, QVBoxLayout, QWidget, Signal
from ui.workers import Task, submit

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """The application window; ``loaded`` or ``load_failed`` follows each refresh."""

    loaded = Signal(object)
    load_failed = Signal(str)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self._task: Task | None = None
        self.setWindowTitle("AccuPredix")
        self.resize(960, 640)

        self.fields: dict[str, QLabel] = {}
        box = QGroupBox("Overview")
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

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(box)
        layout.addStretch(1)
        self.setCentralWidget(central)
        self.statusBar().showMessage("Loading…")

    def refresh(self) -> None:
        """Reload the overview on a worker thread."""
        self.statusBar().showMessage("Loading…")
        self._task = submit(lambda: overview(self.runtime.database), self._show, self._failed)

    def _show(self, data: Overview) -> None:
        for key, label in self.fields.items():
            value = getattr(data, key)
            label.setText(f"{value:,}" if isinstance(value, int) else str(value))
        self.statusBar().showMessage(
            f"Store: {self.runtime.database.engine.url.get_backend_name()}"
        )
        self.loaded.emit(data)

    def _failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Could not load the overview: {message}")
        self.load_failed.emit(message)
