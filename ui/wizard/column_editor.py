"""Editing one column of the mapping: its source, the value for empty cells, its transforms."""

from __future__ import annotations

from typing import Any

from app.canonical import Column
from ui.qt import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QMenu,
    QPushButton,
    QRadioButton,
    Qt,
    QVBoxLayout,
    Signal,
)
from ui.wizard.calls import SourceChoice
from ui.wizard.transform_dialog import TransformDialog
from ui.wizard.transform_options import OPTIONS, TITLES, applicable, describe


def _split_paths(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class ColumnEditor(QGroupBox):
    """Edits one column's entry: its source, the value for empty cells, its transforms."""

    edited = Signal()

    def __init__(self) -> None:
        super().__init__("Column")
        self.column: Column | None = None
        self.paths: list[str] = []
        self._transforms: list[dict[str, Any]] = []
        self._loading = False

        self.use_field = QRadioButton("Source &field:")
        self.use_const = QRadioButton("Fi&xed value:")
        self.use_concat = QRadioButton("&Join fields:")
        self.use_none = QRadioButton("N&ot mapped")
        self.kind = QButtonGroup(self)
        for button in (self.use_field, self.use_const, self.use_concat, self.use_none):
            self.kind.addButton(button)
            button.toggled.connect(self._edited)
        self.field = QComboBox()
        self.field.setEditable(True)
        self.field.setAccessibleName("Source field")
        self.field.setToolTip("Pick a field from the sample, or type a path such as lines[].sku")
        self.field.currentTextChanged.connect(self._field_typed)
        self.const = QLineEdit()
        self.const.setAccessibleName("Fixed value")
        self.const.textChanged.connect(self._const_typed)
        self.concat = QLineEdit()
        self.concat.setAccessibleName("Fields to join")
        self.concat.setPlaceholderText("title, variant_title")
        self.concat.textChanged.connect(self._concat_typed)
        self.separator = QLineEdit(" ")
        self.separator.setAccessibleName("Separator")
        self.separator.setMaximumWidth(self.separator.fontMetrics().horizontalAdvance("M" * 6))
        self.separator.textChanged.connect(self._concat_typed)
        self.default = QLineEdit()
        self.default.setAccessibleName("When empty, use")
        self.default.setToolTip("Stands in for a missing or blank source value")
        self.default.textChanged.connect(self._edited)
        concat_row = QHBoxLayout()
        concat_row.addWidget(self.concat, 1)
        concat_row.addWidget(self.separator)

        transforms_box = self._build_transforms()

        form = QFormLayout(self)
        form.addRow(self.use_field, self.field)
        form.addRow(self.use_const, self.const)
        form.addRow(self.use_concat, concat_row)
        form.addRow(self.use_none)
        form.addRow("When &empty, use:", self.default)
        form.addRow("Transforms:", transforms_box)

    def _build_transforms(self) -> QVBoxLayout:
        self.transform_list = QListWidget()
        self.transform_list.setAccessibleName("Transforms")
        self.transform_list.setMaximumHeight(self.transform_list.sizeHintForRow(0) * 4 + 40)
        self.transform_list.itemDoubleClicked.connect(lambda _: self.edit_transform())
        self.add_menu = QMenu(self)
        self.add_button = QPushButton("&Add transform")
        self.add_button.setMenu(self.add_menu)
        self.edit_button = QPushButton("E&dit…")
        self.edit_button.clicked.connect(self.edit_transform)
        self.remove_button = QPushButton("&Remove")
        self.remove_button.clicked.connect(self.remove_transform)
        self.up_button = QPushButton("&Up")
        self.up_button.setAccessibleName("Move transform up")
        self.up_button.clicked.connect(lambda: self.move_transform(-1))
        self.down_button = QPushButton("Do&wn")
        self.down_button.setAccessibleName("Move transform down")
        self.down_button.clicked.connect(lambda: self.move_transform(1))
        transform_buttons = QHBoxLayout()
        for button in (
            self.add_button,
            self.edit_button,
            self.remove_button,
            self.up_button,
            self.down_button,
        ):
            transform_buttons.addWidget(button)
        transform_buttons.addStretch(1)

        box = QVBoxLayout()
        box.addWidget(self.transform_list)
        box.addLayout(transform_buttons)
        return box

    # Loading

    def set_fields(self, fields: list[SourceChoice]) -> None:
        """The fields the picker offers: captions shown, paths stored."""
        text = self.field.currentText()
        self._loading = True
        self.field.clear()
        self.paths = [choice.path for choice in fields]
        for choice in fields:
            self.field.addItem(choice.caption(), choice.path)
            if choice.example is not None:
                self.field.setItemData(
                    self.field.count() - 1, f"e.g. {choice.example}", Qt.ItemDataRole.ToolTipRole
                )
        self.field.setCurrentText(text)
        self._loading = False

    def load(self, column: Column, entry: dict[str, Any] | None) -> None:
        """Show ``column``'s entry for editing."""
        self._loading = True
        self.column = column
        self.setTitle(f"Column {column.name}{' (required)' if column.required else ''}")
        entry = entry or {}
        self.use_none.setEnabled(not column.required)
        if "const" in entry:
            self.use_const.setChecked(True)
        elif "concat" in entry:
            self.use_concat.setChecked(True)
        elif "path" in entry or column.required:
            self.use_field.setChecked(True)
        else:
            self.use_none.setChecked(True)
        self._set_path(str(entry.get("path", "")))
        self.const.setText("" if entry.get("const") is None else str(entry.get("const")))
        concat = entry.get("concat") if isinstance(entry.get("concat"), list) else []
        self.concat.setText(", ".join(str(part) for part in concat))
        self.separator.setText(str(entry.get("separator", " ")))
        self.default.setText("" if entry.get("default") is None else str(entry.get("default")))
        self._transforms = [dict(t) for t in entry.get("transforms") or [] if isinstance(t, dict)]
        self._show_transforms()
        self.add_menu.clear()
        for kind in applicable(column):
            action = self.add_menu.addAction(TITLES[kind])
            action.triggered.connect(lambda _=False, k=kind: self.add_transform(k))
        self._loading = False

    def _set_path(self, path: str) -> None:
        index = self.field.findData(path)
        if index >= 0:
            self.field.setCurrentIndex(index)
        else:
            self.field.setCurrentText(path)

    def _show_transforms(self, select: int | None = None) -> None:
        self.transform_list.clear()
        for spec in self._transforms:
            self.transform_list.addItem(describe(spec))
        if select is not None and 0 <= select < len(self._transforms):
            self.transform_list.setCurrentRow(select)

    # Reading

    def path(self) -> str:
        text = self.field.currentText().strip()
        index = self.field.findText(text)
        return str(self.field.itemData(index)) if index >= 0 else text

    def entry(self) -> dict[str, Any] | None:
        """The column's entry as the mapping stores it; None for not mapped."""
        if self.use_none.isChecked():
            return None
        entry: dict[str, Any]
        if self.use_const.isChecked():
            entry = {"const": self.const.text()}
        elif self.use_concat.isChecked():
            entry = {"concat": _split_paths(self.concat.text())}
            if self.separator.text():
                entry["separator"] = self.separator.text()
        else:
            entry = {"path": self.path()}
        if self.default.text():
            entry["default"] = self.default.text()
        if self._transforms:
            entry["transforms"] = [dict(spec) for spec in self._transforms]
        return entry

    # Editing

    def _edited(self, *_: object) -> None:
        if not self._loading:
            self.edited.emit()

    def _field_typed(self, *_: object) -> None:
        if not self._loading and not self.use_field.isChecked():
            self.use_field.setChecked(True)
        self._edited()

    def _const_typed(self, *_: object) -> None:
        if not self._loading and not self.use_const.isChecked():
            self.use_const.setChecked(True)
        self._edited()

    def _concat_typed(self, *_: object) -> None:
        if not self._loading and not self.use_concat.isChecked():
            self.use_concat.setChecked(True)
        self._edited()

    def add_transform(self, kind: str) -> None:
        """Add a transform of ``kind`` (its options asked for when it has any)."""
        if self.column is None:
            return
        spec: dict[str, Any] = {"type": kind}
        if OPTIONS.get(kind):
            dialog = TransformDialog(self.column, spec, self.paths, self)
            if not dialog.exec():
                return
            spec = dialog.spec()
        self._transforms.append(spec)
        self._show_transforms(len(self._transforms) - 1)
        self._edited()

    def edit_transform(self) -> None:
        row = self.transform_list.currentRow()
        if self.column is None or not 0 <= row < len(self._transforms):
            return
        dialog = TransformDialog(self.column, self._transforms[row], self.paths, self)
        if dialog.exec():
            self._transforms[row] = dialog.spec()
            self._show_transforms(row)
            self._edited()

    def remove_transform(self) -> None:
        row = self.transform_list.currentRow()
        if 0 <= row < len(self._transforms):
            del self._transforms[row]
            self._show_transforms(min(row, len(self._transforms) - 1))
            self._edited()

    def move_transform(self, step: int) -> None:
        row = self.transform_list.currentRow()
        target = row + step
        if 0 <= row < len(self._transforms) and 0 <= target < len(self._transforms):
            moved = self._transforms
            moved[row], moved[target] = moved[target], moved[row]
            self._show_transforms(target)
            self._edited()
