"""The preview page: sample rows in canonical columns, with the cells that failed."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal
from typing import Any

from app.canonical import COLUMN_NAMES
from app.runtime import Runtime
from app.services.connectors import Preview
from ui.qt import (
    QAbstractItemView,
    QAbstractTableModel,
    QColor,
    QHBoxLayout,
    QHeaderView,
    QModelIndex,
    QPersistentModelIndex,
    QPushButton,
    Qt,
    QTableView,
    QVBoxLayout,
)
from ui.wizard.base import WizardPage, busy_bar, error_colour, wrapping_label
from ui.wizard.calls import preview
from ui.wizard.draft import Draft
from ui.wizard.failures import Failure

Index = QModelIndex | QPersistentModelIndex

# The role that tells whether a cell failed (tests and assistive tools read it).
INVALID_ROLE = Qt.ItemDataRole.UserRole + 1


def cell_text(value: Any) -> str:
    """A canonical value as the grid shows it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


class PreviewModel(QAbstractTableModel):
    """Mapped sample rows; a failed cell is tinted and carries its reason as tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[dict[str, Any]] = []
        self._errors: list[dict[str, str]] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMN_NAMES)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return COLUMN_NAMES[section]
        return str(section + 1)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        name = COLUMN_NAMES[index.column()]
        problem = self._errors[index.row()].get(name)
        text = cell_text(self._rows[index.row()].get(name))
        if problem is None:
            return text if role == Qt.ItemDataRole.DisplayRole else None
        tint = QColor(error_colour())
        tint.setAlpha(60)
        return {
            Qt.ItemDataRole.DisplayRole: f"⚠ {problem}",
            Qt.ItemDataRole.ToolTipRole: f"{name}: {problem}",
            Qt.ItemDataRole.AccessibleTextRole: f"invalid: {problem}",
            Qt.ItemDataRole.BackgroundRole: tint,
            INVALID_ROLE: True,
        }.get(role)

    def set_preview(self, rows: list[dict[str, Any]], errors: list[dict[str, str]]) -> None:
        self.beginResetModel()
        self._rows, self._errors = list(rows), list(errors)
        self.endResetModel()

    @property
    def good(self) -> int:
        return sum(1 for errors in self._errors if not errors)

    @property
    def bad(self) -> int:
        return sum(1 for errors in self._errors if errors)


class PreviewPage(WizardPage):
    """Fetches a sample with the draft's mapping; the counts say how many rows are usable."""

    def __init__(self, runtime: Runtime, draft: Draft) -> None:
        super().__init__(
            runtime,
            draft,
            "Preview",
            "The first rows as they will be stored. Rows with a problem are skipped by a sync.",
        )
        self.loaded: Preview | None = None
        self.model = PreviewModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Preview rows")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.bar = busy_bar("Reading sample records")
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Refresh the preview")
        self.refresh_button.clicked.connect(self.refresh)
        self.counts = wrapping_label()
        self.counts.setAccessibleName("Row counts")
        self.hint = wrapping_label()
        top = QHBoxLayout()
        top.addWidget(self.counts, 1)
        top.addWidget(self.bar)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.hint)

    def initializePage(self) -> None:  # noqa: N802
        self.refresh()

    def refresh(self) -> None:
        """Fetch and map a sample with the draft as it is now."""
        self.forget_work()
        self.loaded = None
        target, runtime = self.draft.target(), self.runtime
        self.bar.setVisible(True)
        self.refresh_button.setEnabled(False)
        self.counts.setText("Reading sample records…")
        self.hint.clear()
        self.run(lambda: preview(runtime, target), self._show, self._failed, long=True)
        self.completeChanged.emit()

    def _show(self, result: Preview) -> None:
        self.loaded = result
        self.bar.setVisible(False)
        self.refresh_button.setEnabled(True)
        self.model.set_preview(result.rows, result.errors)
        good, bad = self.model.good, self.model.bad
        self.counts.setText(
            f"<b>{good}</b> row{'s' if good != 1 else ''} ready, <b>{bad}</b> with problems, "
            f"from {result.records} source record{'s' if result.records != 1 else ''}."
        )
        if not result.rows:
            self.hint.setText(
                "The source returned no records to preview; a sync may still find some."
            )
        elif bad and not good:
            self.hint.setText("No row can be stored: go Back and correct the mapping.")
        elif bad:
            self.hint.setText("Hover over a red cell to see why it was refused.")
        self.completeChanged.emit()

    def _failed(self, failure: Failure) -> None:
        self.bar.setVisible(False)
        self.refresh_button.setEnabled(True)
        self.model.set_preview([], [])
        self.counts.setText(html.escape(f"The preview failed: {failure.message}"))
        self.hint.setText(html.escape(failure.hint))
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        # A sample of only bad rows means the mapping is wrong; anything else may be saved.
        if self.busy:
            return False
        return self.loaded is None or not (self.model.bad and not self.model.good)
