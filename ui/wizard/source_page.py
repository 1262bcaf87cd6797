"""The first page: which kind of source the new connector reads."""

from __future__ import annotations

import html

from app.connectors.base import Category
from app.runtime import Runtime
from ui.qt import (
    QAbstractItemView,
    QFont,
    QHeaderView,
    QIcon,
    QModelIndex,
    QStandardItem,
    QStandardItemModel,
    Qt,
    QTreeView,
    QVBoxLayout,
)
from ui.sources import SourceInfo
from ui.wizard.base import WizardPage, wrapping_label
from ui.wizard.draft import Draft

PRESET_ROLE = Qt.ItemDataRole.UserRole + 1
CATEGORY_ORDER = [category.value for category in Category]


def catalogue_model(sources: dict[str, SourceInfo]) -> QStandardItemModel:
    """Presets under their category headings, in the order an operator scans them."""
    model = QStandardItemModel()
    model.setHorizontalHeaderLabels(["Source", "What it syncs"])
    categories = sorted(
        {source.category for source in sources.values()},
        key=lambda name: (CATEGORY_ORDER.index(name) if name in CATEGORY_ORDER else 99, name),
    )
    for category in categories:
        heading = QStandardItem(category)
        heading.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = QFont()
        font.setBold(True)
        heading.setFont(font)
        heading.setAccessibleText(f"{category} sources")
        members = sorted(
            (s for s in sources.values() if s.category == category), key=lambda s: s.name
        )
        for source in members:
            item = QStandardItem(QIcon(str(source.icon)), source.name)
            item.setData(source.id, PRESET_ROLE)
            item.setToolTip(source.description)
            item.setAccessibleDescription(source.description)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            about = QStandardItem(source.description)
            about.setToolTip(source.description)
            about.setFlags(item.flags())
            about.setData(source.id, PRESET_ROLE)
            heading.appendRow([item, about])
        blank = QStandardItem()
        blank.setFlags(Qt.ItemFlag.ItemIsEnabled)
        model.appendRow([heading, blank])
    return model


class SourcePage(WizardPage):
    """Presets grouped by category, each with what it syncs; double-click goes on."""

    def __init__(self, runtime: Runtime, draft: Draft, sources: dict[str, SourceInfo]) -> None:
        super().__init__(runtime, draft, "Source", "Choose the system the demand lines come from.")
        self.sources = sources
        self.model = catalogue_model(sources)
        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setHeaderHidden(True)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.setAccessibleName("Sources")
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.expandAll()
        self.tree.selectionModel().currentChanged.connect(self._current_changed)
        self.tree.doubleClicked.connect(self._double_clicked)
        self.description = wrapping_label("Select a source to see what it syncs.")
        self.description.setAccessibleName("What the source syncs")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.description)

    def initializePage(self) -> None:  # noqa: N802
        if self.draft.preset:
            self.select(self.draft.preset)

    def select(self, preset: str) -> None:
        """Select ``preset`` as if the operator had clicked it."""
        for row in range(self.model.rowCount()):
            heading = self.model.item(row)
            for child in range(heading.rowCount()):
                item = heading.child(child)
                if item.data(PRESET_ROLE) == preset:
                    self.tree.setCurrentIndex(item.index())
                    return

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        preset = current.data(PRESET_ROLE)
        if preset is None:
            self.description.setText("Select a source to see what it syncs.")
        else:
            source = self.sources[preset]
            self.description.setText(
                f"<b>{html.escape(source.name)}</b>: {html.escape(source.description)}"
            )
            self.draft.choose_preset(preset)
        self.completeChanged.emit()

    def _double_clicked(self, index: QModelIndex) -> None:
        if index.data(PRESET_ROLE) is not None:
            self.wizard().next()

    def isComplete(self) -> bool:  # noqa: N802
        return self.tree.currentIndex().data(PRESET_ROLE) is not None
