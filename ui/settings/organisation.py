"""Settings → Organisation: the plan, and the workspace's forecast defaults."""

from __future__ import annotations

import logging

from app.limits import MAX_HORIZON
from app.runtime import Runtime
from app.store.models import Frequency, Plan
from ui.qt import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.settings.common import Tasks
from ui.settings.defaults import (
    MAX_LEAD_TIME_DAYS,
    MAX_SERVICE_LEVEL,
    MIN_SERVICE_LEVEL,
    ForecastDefaults,
    OrganisationSettings,
    organisation_settings,
    save_forecast_defaults,
    save_plan,
)

log = logging.getLogger(__name__)

PLAN_NOTES = {
    Plan.STARTER: "Forecasts in the desktop app; no API or OData feed.",
    Plan.GROWTH: "Adds the API (Zapier, Make) and the OData feed (Power BI, Tableau).",
    Plan.ENTERPRISE: "Everything in Growth, for several sites.",
}


class OrganisationPanel(QWidget):
    loaded = Signal(object)
    saved = Signal(object)
    action_failed = Signal(str)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.workspace_id: int | None = None
        self.tasks = Tasks(self, self._failed)

        self.name = QLabel("…")
        self.plan = QComboBox()
        self.plan.setAccessibleName("Plan")
        for plan in Plan:
            self.plan.addItem(plan.value.title(), plan.value)
        self.plan_note = QLabel()
        self.plan_note.setWordWrap(True)
        self.plan.currentIndexChanged.connect(self._plan_changed)
        organisation = QGroupBox("Organisation")
        org_form = QFormLayout(organisation)
        org_form.addRow("Name", self.name)
        org_form.addRow("Plan", self.plan)
        org_form.addRow(self.plan_note)

        defaults = self._build_defaults()

        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Organisation message")
        layout = QVBoxLayout(self)
        layout.addWidget(organisation)
        layout.addWidget(defaults)
        layout.addWidget(self.save_button)
        layout.addWidget(self.message)
        layout.addStretch(1)

    def _build_defaults(self) -> QGroupBox:
        self.workspace = QLabel("…")
        self.frequency = QComboBox()
        self.frequency.setAccessibleName("Frequency")
        for frequency in Frequency:
            self.frequency.addItem(frequency.value.title(), frequency.value)
        self.horizon = QSpinBox()
        self.horizon.setRange(1, MAX_HORIZON)
        self.horizon.setSuffix(" periods")
        self.horizon.setAccessibleName("Horizon")
        self.service_level = QDoubleSpinBox()
        self.service_level.setRange(MIN_SERVICE_LEVEL * 100, MAX_SERVICE_LEVEL * 100)
        self.service_level.setDecimals(1)
        self.service_level.setSuffix(" %")
        self.service_level.setAccessibleName("Service level")
        self.service_level.setToolTip("The share of lead times that end without a stock-out.")
        self.lead_time = QSpinBox()
        self.lead_time.setRange(1, MAX_LEAD_TIME_DAYS)
        self.lead_time.setSuffix(" days")
        self.lead_time.setAccessibleName("Lead time")
        defaults = QGroupBox("Forecast defaults")
        form = QFormLayout(defaults)
        form.addRow("Workspace", self.workspace)
        form.addRow("Frequency", self.frequency)
        form.addRow("Horizon", self.horizon)
        form.addRow("Service level", self.service_level)
        form.addRow("Lead time", self.lead_time)
        form.addRow(QLabel("Series keep their own service level and lead time where set."))
        return defaults

    def set_workspace(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self.refresh()

    def refresh(self) -> None:
        database, workspace = self.runtime.database, self.workspace_id
        self.tasks.run(lambda: organisation_settings(database, workspace), self._show)

    def _show(self, settings: OrganisationSettings) -> None:
        self.name.setText(settings.name)
        self.plan.setCurrentIndex(max(self.plan.findData(settings.plan), 0))
        self._show_defaults(settings.defaults)
        self.loaded.emit(settings)

    def _show_defaults(self, defaults: ForecastDefaults) -> None:
        self.workspace.setText(defaults.workspace)
        self.frequency.setCurrentIndex(max(self.frequency.findData(defaults.frequency), 0))
        self.horizon.setValue(defaults.horizon)
        self.service_level.setValue(defaults.service_level * 100)
        self.lead_time.setValue(defaults.lead_time_days)

    def _plan_changed(self, *_: object) -> None:
        self.plan_note.setText(PLAN_NOTES.get(Plan(self.plan.currentData()), ""))

    def save(self) -> None:
        database, workspace = self.runtime.database, self.workspace_id
        plan = str(self.plan.currentData())
        values = {
            "frequency": str(self.frequency.currentData()),
            "horizon": self.horizon.value(),
            "service_level": round(self.service_level.value() / 100, 4),
            "lead_time_days": self.lead_time.value(),
        }

        def write() -> OrganisationSettings:
            save_forecast_defaults(database, workspace, **values)
            save_plan(database, workspace, plan)
            return organisation_settings(database, workspace)

        def done(settings: OrganisationSettings) -> None:
            self._show(settings)
            self.message.setText("Saved. The next forecast run uses these defaults.")
            self.saved.emit(settings)

        self.tasks.run(write, done, lambda m: self._failed(f"Not saved: {m}"))

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
