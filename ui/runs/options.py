"""The options of "Run forecast now": horizon and frequency, starting from the workspace's."""

from __future__ import annotations

from app.limits import MAX_HORIZON
from app.store.models import Frequency
from ui.qt import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget
from ui.settings.defaults import ForecastDefaults

PERIOD_WORDS = {"daily": "days", "weekly": "weeks", "monthly": "months"}


class RunOptionsDialog(QDialog):
    """Asks for the horizon and the frequency; ``options()`` holds the answer once accepted."""

    def __init__(self, defaults: ForecastDefaults, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.defaults = defaults
        self.setWindowTitle("Run forecast now")
        self.horizon = QSpinBox()
        self.horizon.setRange(1, MAX_HORIZON)
        self.horizon.setValue(defaults.horizon)
        self.horizon.setAccessibleName("Horizon")
        self.frequency = QComboBox()
        self.frequency.setAccessibleName("Frequency")
        for frequency in Frequency:
            self.frequency.addItem(frequency.value.title(), frequency.value)
        self.frequency.setCurrentIndex(max(self.frequency.findData(defaults.frequency), 0))
        self.frequency.currentIndexChanged.connect(self._frequency_changed)
        self.note = QLabel()
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        form = QFormLayout(self)
        form.addRow(QLabel(f"Workspace <b>{defaults.workspace}</b>"))
        form.addRow("Horizon (periods)", self.horizon)
        form.addRow("Frequency", self.frequency)
        form.addRow(self.note)
        form.addRow(buttons)
        self._frequency_changed()

    def _frequency_changed(self, *_: object) -> None:
        chosen = self.frequency.currentData()
        self.horizon.setSuffix(f" {PERIOD_WORDS.get(chosen, 'periods')}")
        if chosen != self.defaults.frequency:
            # A run takes its period from the workspace (history, safety stock and
            # alerts are all counted in it), so the choice becomes the workspace's.
            self.note.setText(
                f"The workspace forecasts {self.defaults.frequency} today: running "
                f"{chosen} makes {chosen} its frequency for this and later runs."
            )
        else:
            self.note.setText("")

    def options(self) -> tuple[int, str]:
        """(horizon, frequency) as chosen."""
        return self.horizon.value(), str(self.frequency.currentData())
