"""The mapping page: which source field fills each canonical column, and how it is read.

It starts from the preset's mapping (or the stored one), lists the fields
seen in sample records and those the source declares (custom fields marked),
and offers a mapping suggested from the sample's field names. The engine's
own validation runs on every edit and its messages stand beside each column.
"""

from __future__ import annotations

import html
from typing import Any

from app.canonical import BY_NAME
from app.mapping import MappingError, validate_mapping
from app.runtime import Runtime
from ui.qt import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QModelIndex,
    QPushButton,
    QTableView,
    QVBoxLayout,
)
from ui.wizard.base import WizardPage, busy_bar, wrapping_label
from ui.wizard.calls import Discovery, discover
from ui.wizard.column_editor import ColumnEditor
from ui.wizard.draft import Draft
from ui.wizard.failures import Failure
from ui.wizard.mapping_model import MappingModel


class MappingPage(WizardPage):
    """Canonical columns with their sources; complete when the engine accepts the mapping."""

    def __init__(self, runtime: Runtime, draft: Draft) -> None:
        super().__init__(
            runtime,
            draft,
            "Mapping",
            "Which field of the source fills each column of a demand line (* required).",
        )
        self.discovery: Discovery | None = None
        self.problems: dict[str, str] = {}
        self._discovered_for: Any = None

        self.model = MappingModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Column mapping")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(MappingModel.CHECK, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)

        self.editor = ColumnEditor()
        self.editor.edited.connect(self._editor_edited)
        self.bar = busy_bar("Reading sample records")
        self.note = wrapping_label(selectable=True)
        self.note.setAccessibleName("About the sample")
        self.suggest_button = QPushButton("&Suggest from the sample")
        self.suggest_button.setToolTip("Match the columns to the sample's fields by their names")
        self.suggest_button.clicked.connect(self.apply_suggestion)
        self.reset_button = QPushButton("Reset to the &preset's mapping")
        self.reset_button.clicked.connect(self.reset_to_default)
        self.summary = wrapping_label()
        self.summary.setAccessibleName("Mapping check")

        tools = QHBoxLayout()
        tools.addWidget(self.note, 1)
        tools.addWidget(self.suggest_button)
        tools.addWidget(self.reset_button)
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.bar)
        layout.addWidget(self.table, 3)
        layout.addWidget(self.editor, 2)
        layout.addWidget(self.summary)
        self.setTabOrder(self.table, self.editor.use_field)

    # Discovery

    def initializePage(self) -> None:  # noqa: N802
        if self.draft.mapping is None and self.draft.stored is not None:
            self.draft.mapping = self.draft.stored.mapping
        if self.draft.mapping is not None:
            self._show_mapping(self.draft.mapping)
        key = (self.draft.preset, repr(sorted(self.draft.settings().items())))
        key += (self.draft.oauth_state, self.draft.oauth_choice)
        if key != self._discovered_for or self.discovery is None:
            self._discovered_for = key
            self.discover()
        if self.draft.stored is not None:
            self.note.setText(
                "A changed mapping applies to lines synced from now on; lines already "
                "imported change when the source sends them again."
            )

    def discover(self) -> None:
        """Read sample records and the source's field list, off the GUI thread."""
        self.forget_work()
        target, runtime = self.draft.target(), self.runtime
        self.bar.setVisible(True)
        self.suggest_button.setEnabled(False)
        self.run(lambda: discover(runtime, target), self._discovered, self._failed, long=True)
        self.completeChanged.emit()

    def _discovered(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self.bar.setVisible(False)
        self.model.set_fields(discovery.fields)
        self.editor.set_fields(discovery.fields)
        self.suggest_button.setEnabled(bool(discovery.suggestion.get("columns")))
        notes = []
        if discovery.failure is not None:
            notes.append(
                f"No sample could be read ({discovery.failure.message}); type the field "
                "paths, or go Back and test the connection."
            )
        else:
            custom = sum(1 for choice in discovery.fields if choice.custom)
            notes.append(
                f"{len(discovery.fields)} fields found in {discovery.records} sample records"
                + (f", {custom} of them custom fields." if custom else ".")
            )
        if self.draft.mapping is None:
            self.draft.mapping = discovery.default_mapping
            if self._default_misses_sample(discovery):
                self.draft.mapping = discovery.suggestion
                notes.append(
                    "The preset's mapping did not match the sample's fields, so the columns "
                    "were matched by name: check each row."
                )
            self._show_mapping(self.draft.mapping)
        self.note.setText(" ".join(notes))
        self.completeChanged.emit()

    def _failed(self, failure: Failure) -> None:
        self.bar.setVisible(False)
        self.note.setText(f"The sample could not be read: {failure.message}")
        if self.draft.mapping is None:
            self._show_mapping({"columns": {}})
        self.completeChanged.emit()

    @staticmethod
    def _default_misses_sample(discovery: Discovery) -> bool:
        """Whether a required column's default path is missing from a sample the suggestion fits."""
        if not discovery.records or not discovery.suggestion.get("columns"):
            return False
        try:
            validate_mapping(discovery.suggestion)
        except MappingError:
            return False
        seen = {choice.path for choice in discovery.fields}
        columns = discovery.default_mapping.get("columns", {})
        for name, column in BY_NAME.items():
            path = (columns.get(name) or {}).get("path")
            if column.required and (path is None or path not in seen):
                return True
        return False

    # Editing

    def _show_mapping(self, mapping: dict[str, Any]) -> None:
        row = max(self.table.currentIndex().row(), 0)
        self.model.set_mapping(mapping)
        self.table.selectRow(row)
        self._load_row(row)
        self._validate()

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self._load_row(current.row())

    def _load_row(self, row: int) -> None:
        column = self.model.column_at(row)
        self.editor.load(column, self.model.entry(column.name))

    def _editor_edited(self) -> None:
        if self.editor.column is None:
            return
        self.model.set_entry(self.editor.column.name, self.editor.entry())
        self._validate()

    def apply_suggestion(self) -> None:
        """Replace the mapping by the one suggested from the sample's field names."""
        if self.discovery is not None and self.discovery.suggestion.get("columns"):
            self._show_mapping(self.discovery.suggestion)

    def reset_to_default(self) -> None:
        if self.discovery is not None:
            self._show_mapping(self.discovery.default_mapping)

    def _validate(self) -> None:
        # On the GUI thread: the check is pure computation, except that a date
        # transform's time zone is read from the zone database once (cached).
        mapping = self.model.mapping()
        try:
            validate_mapping(mapping)
        except MappingError as exc:
            self.problems = dict(exc.problems) or {"mapping": exc.message}
        else:
            self.problems = {}
        self.draft.mapping = mapping
        self.model.set_problems(self.problems)
        if self.problems:
            general = [p for k, p in self.problems.items() if k not in BY_NAME]
            count = len(self.problems)
            text = f"{count} problem{'s' if count != 1 else ''} to fix before going on"
            self.summary.setText(
                html.escape(text + (": " + "; ".join(general) if general else "."))
            )
        else:
            self.summary.setText("The mapping is complete.")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802
        return self.draft.mapping is not None and not self.problems and self.model.rowCount() > 0
