"""The schedule page: manual, every N minutes or hours, or daily at a time in a time zone."""

from __future__ import annotations

import zoneinfo
from typing import Any

from app.runtime import Runtime
from app.sync.schedules import ScheduleError, parse_schedule
from ui.qt import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QRadioButton,
    QSpinBox,
    Qt,
    QTime,
    QTimeEdit,
    QTimeZone,
    QVBoxLayout,
)
from ui.wizard.base import WizardPage, error_label, show_error, wrapping_label
from ui.wizard.draft import MANUAL, Draft
from ui.wizard.failures import Failure

UNITS = (("minutes", "minutes"), ("hours", "hours"))


def local_zone() -> str:
    """This computer's IANA time zone name, as Qt reads it; UTC when it cannot tell."""
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode()
    return name if "/" in name or name == "UTC" else "UTC"


def zone_names() -> list[str]:
    """The IANA zone names, sorted (read from the time zone database, so off the GUI thread)."""
    return sorted(zoneinfo.available_timezones() - {"localtime", "posixrules"})


def describe_spec(spec: dict[str, Any]) -> str:
    """A schedule in words; a daily one without the parser, which loads the zone list."""
    if spec.get("kind") != "daily":
        return parse_schedule(spec).describe()
    words = f"daily at {spec.get('at')} {spec.get('timezone')}"
    return words + (", then a forecast run" if spec.get("forecast_after") else "")


class SchedulePage(WizardPage):
    """Builds the schedule spec, checked by the same parser the scheduler uses."""

    def __init__(self, runtime: Runtime, draft: Draft) -> None:
        super().__init__(runtime, draft, "Schedule", "When AccuPredix pulls new and changed lines.")
        self.problem: str | None = None
        self._zones: set[str] = set()
        # The draft keeps its schedule (None: unchanged) until this page is shown.
        self._shown = False

        box = self._build_choices()
        self.description = wrapping_label()
        self.description.setAccessibleName("Schedule in words")
        self.error = error_label()
        self.sync_now = QCheckBox("&Sync now after saving")
        self.sync_now.setChecked(True)
        self.sync_now.toggled.connect(self._changed)
        self.forecast_after = QCheckBox("Run a &forecast after each sync")
        self.forecast_after.setToolTip(
            "Starts a forecast run whenever a sync adds or changes lines"
        )
        self.forecast_after.toggled.connect(self._changed)

        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(self.description)
        layout.addWidget(self.error)
        layout.addWidget(self.forecast_after)
        layout.addWidget(self.sync_now)
        layout.addStretch(1)
        self.manual.setChecked(True)

    def _build_choices(self) -> QGroupBox:
        self.manual = QRadioButton("&Manually, when I click Sync now")
        self.interval = QRadioButton("&Every")
        self.daily = QRadioButton("&Daily at")
        self.kind = QButtonGroup(self)
        for button in (self.manual, self.interval, self.daily):
            self.kind.addButton(button)
            button.toggled.connect(self._changed)
        self.every = QSpinBox()
        self.every.setRange(1, 44_640)
        self.every.setValue(60)
        self.every.setAccessibleName("Sync interval")
        self.every.valueChanged.connect(self._changed)
        self.unit = QComboBox()
        self.unit.setAccessibleName("Interval unit")
        for text, value in UNITS:
            self.unit.addItem(text, value)
        self.unit.currentIndexChanged.connect(self._changed)
        self.at = QTimeEdit(QTime(6, 0))
        self.at.setDisplayFormat("HH:mm")
        self.at.setAccessibleName("Time of day")
        self.at.timeChanged.connect(self._changed)
        self.zone = QComboBox()
        self.zone.setEditable(True)
        self.zone.setAccessibleName("Time zone")
        self.zone.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.zone.addItem(local_zone())
        self.zone.currentTextChanged.connect(self._changed)

        interval_row = QHBoxLayout()
        interval_row.addWidget(self.interval)
        interval_row.addWidget(self.every)
        interval_row.addWidget(self.unit)
        interval_row.addStretch(1)
        daily_row = QHBoxLayout()
        daily_row.addWidget(self.daily)
        daily_row.addWidget(self.at)
        daily_row.addWidget(self.zone, 1)
        box = QGroupBox("Sync")
        column = QVBoxLayout(box)
        column.addWidget(self.manual)
        column.addLayout(interval_row)
        column.addLayout(daily_row)

        return box

    def initializePage(self) -> None:  # noqa: N802
        self._shown = True
        if self.draft.schedule is None:
            stored = self.draft.stored.schedule if self.draft.stored is not None else None
            self.show_spec(stored or MANUAL)
        self.sync_now.setChecked(self.draft.sync_after_save)
        if not self._zones:
            self.run(zone_names, self._zones_loaded, self._zones_failed)
        self._changed()

    def _zones_loaded(self, names: list[str]) -> None:
        self._zones = set(names)
        current = self.zone.currentText()
        self.zone.blockSignals(True)
        self.zone.clear()
        self.zone.addItems(names)
        self.zone.setCurrentText(current)
        self.zone.blockSignals(False)
        completer = QCompleter(names, self.zone)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.zone.setCompleter(completer)
        self._changed()

    def _zones_failed(self, failure: Failure) -> None:
        show_error(self.error, f"The list of time zones could not be read: {failure.message}")

    def show_spec(self, spec: dict[str, Any]) -> None:
        """Set the controls from a stored spec (read as is: the parser would load zones here)."""
        kind = spec.get("kind", "manual")
        if kind == "interval":
            unit = spec.get("unit") or ("hours" if "hours" in spec else "minutes")
            every = spec.get("every") or spec.get(unit) or 60
            self.interval.setChecked(True)
            self.every.setValue(int(every))
            self.unit.setCurrentIndex(max(self.unit.findData(unit), 0))
        elif kind == "daily":
            self.daily.setChecked(True)
            at = QTime.fromString(str(spec.get("at", "06:00")), "H:mm")
            self.at.setTime(at if at.isValid() else QTime(6, 0))
            self.zone.setCurrentText(str(spec.get("timezone", "UTC")))
        else:
            self.manual.setChecked(True)
        self.forecast_after.setChecked(bool(spec.get("forecast_after")))

    def spec(self) -> dict[str, Any]:
        """The schedule as the controls say it."""
        spec: dict[str, Any]
        if self.interval.isChecked():
            spec = {
                "kind": "interval",
                "every": self.every.value(),
                "unit": self.unit.currentData(),
            }
        elif self.daily.isChecked():
            spec = {
                "kind": "daily",
                "at": self.at.time().toString("HH:mm"),
                "timezone": self.zone.currentText().strip(),
            }
        else:
            spec = dict(MANUAL)
        if self.forecast_after.isChecked():
            spec["forecast_after"] = True
        return spec

    def _changed(self, *_: object) -> None:
        for widget in (self.every, self.unit):
            widget.setEnabled(self.interval.isChecked())
        for widget in (self.at, self.zone):
            widget.setEnabled(self.daily.isChecked())
        spec = self.spec()
        self.problem = None
        if spec["kind"] == "daily" and self._zones and spec["timezone"] not in self._zones:
            self.problem = "Choose a time zone from the list, such as Europe/Berlin or UTC."
        elif spec["kind"] != "daily":
            # A daily spec's zone is checked against the list loaded off the GUI thread.
            try:
                parse_schedule(spec)
            except ScheduleError as exc:
                self.problem = str(exc)
        words = describe_spec(spec) if self.problem is None else ""
        self.description.setText(f"Syncs: {words}." if words else "")
        show_error(self.error, self.problem)
        if self._shown:
            self.draft.schedule = spec
            self.draft.sync_after_save = self.sync_now.isChecked()
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        if self.daily.isChecked() and not self._zones:
            return False  # the zone cannot be checked until the list has loaded
        return self.problem is None
