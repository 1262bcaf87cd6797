"""A settings form generated from a preset's field declarations.

Each declared field that the operator types (not ``managed``) gets an editor
that suits its kind, its label (``*`` when required), its help under it and
as a tooltip, and a line for its validation message. Fields with
``visible_when`` come and go as the fields they depend on change. Secrets are
masked with a Show toggle; a stored secret is never shown, only replaced by
what is typed over it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.connectors.fields import Field, FieldKind, is_visible
from app.redaction import MASK
from ui.qt import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.wizard.base import error_label, show_error, wrapping_label

STORED_PLACEHOLDER = f"{MASK}  (saved; type to replace)"


def choice_text(value: str) -> str:
    """A choice as the operator reads it: ``api_key_header`` is ``api key header``."""
    return value.replace("_", " ")


class SecretEdit(QWidget):
    """A masked line edit with a Show toggle; ``stored`` shows ``********`` as placeholder."""

    textChanged = Signal(str)  # noqa: N815 - mirrors QLineEdit's signal

    def __init__(self, label: str, *, stored: bool = False) -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setAccessibleName(label)
        if stored:
            self.edit.setPlaceholderText(STORED_PLACEHOLDER)
        self.reveal = QToolButton()
        self.reveal.setText("Show")
        self.reveal.setCheckable(True)
        self.reveal.setAccessibleName(f"Show {label}")
        self.reveal.setToolTip("Show or hide what is typed")
        self.reveal.toggled.connect(self._toggle)
        self.edit.textChanged.connect(self.textChanged)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.reveal)
        self.setFocusProxy(self.edit)

    def _toggle(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.edit.setEchoMode(mode)
        self.reveal.setText("Hide" if shown else "Show")

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # noqa: N802 - mirrors QLineEdit
        self.edit.setText(text)


class FileEdit(QWidget):
    """A path with a Browse button."""

    textChanged = Signal(str)  # noqa: N815 - mirrors QLineEdit's signal

    def __init__(self, label: str) -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.edit.setAccessibleName(label)
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"Browse for {label}")
        self.browse.clicked.connect(self._browse)
        self.edit.textChanged.connect(self.textChanged)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)
        self.setFocusProxy(self.edit)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose the file", self.edit.text(), "CSV or Excel (*.csv *.txt *.xlsx);;All (*)"
        )
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:  # noqa: N802 - mirrors QLineEdit
        self.edit.setText(text)


@dataclass
class FieldRow:
    """One field's label, editor, help and message line."""

    spec: Field
    label: QLabel
    editor: QWidget
    box: QWidget
    help: QLabel | None
    error: QLabel
    get: Callable[[], Any]
    touched: bool = False


def _editor(spec: Field, current: Any, stored_secret: bool) -> tuple[QWidget, Callable[[], Any]]:
    """The editor of one field and the function that reads its value."""
    if spec.kind is FieldKind.SECRET:
        secret = SecretEdit(spec.label, stored=stored_secret)
        return secret, secret.text
    if spec.kind is FieldKind.BOOLEAN:
        box = QCheckBox()
        box.setAccessibleName(spec.label)
        box.setChecked(bool(current))
        return box, box.isChecked
    if spec.kind is FieldKind.CHOICE:
        combo = QComboBox()
        combo.setAccessibleName(spec.label)
        if current in (None, "") or spec.default is None:
            combo.addItem("Choose…" if spec.required else "(not set)", None)
        for value in spec.choices:
            combo.addItem(choice_text(value), value)
        combo.setCurrentIndex(max(combo.findData(current), 0))
        return combo, combo.currentData
    if spec.kind is FieldKind.FILE:
        path = FileEdit(spec.label)
        path.setText("" if current is None else str(current))
        return path, lambda: path.text().strip()
    edit = QLineEdit("" if current is None else str(current))
    edit.setAccessibleName(spec.label)
    if spec.kind is FieldKind.URL:
        edit.setPlaceholderText("https://")
    return edit, lambda: edit.text().strip()


def _changed_signal(editor: QWidget) -> Any:
    if isinstance(editor, QCheckBox):
        return editor.toggled
    if isinstance(editor, QComboBox):
        return editor.currentIndexChanged
    return editor.textChanged  # type: ignore[attr-defined]


class FieldForm(QWidget):
    """The form of a preset's fields; ``changed`` follows every edit.

    ``stored`` holds a stored connector's plain settings, ``stored_secrets`` the
    names of its stored secrets; a new connector starts from the defaults.
    """

    changed = Signal()

    def __init__(
        self,
        fields: tuple[Field, ...],
        *,
        stored: Mapping[str, Any] | None = None,
        stored_secrets: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.rows: dict[str, FieldRow] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        for spec in fields:
            if spec.managed:
                continue
            current = stored.get(spec.name, spec.default) if stored else spec.default
            self._add_row(spec, current, spec.name in stored_secrets)
        self.update_visibility()

    def _add_row(self, spec: Field, current: Any, stored_secret: bool) -> None:
        editor, get = _editor(spec, current, stored_secret)
        label = QLabel(f"{spec.label}{' *' if spec.required else ''}:")
        label.setBuddy(editor)
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(editor)
        help_label = None
        if spec.help:
            editor.setToolTip(spec.help)
            editor.setAccessibleDescription(spec.help)
            help_label = wrapping_label(spec.help)
            help_label.setObjectName("help")
            font = help_label.font()
            font.setPointSizeF(font.pointSizeF() * 0.9)
            help_label.setFont(font)
            column.addWidget(help_label)
        error = error_label()
        column.addWidget(error)
        row = FieldRow(spec, label, editor, box, help_label, error, get)
        self.rows[spec.name] = row
        self.layout_.addRow(label, box)

        def edited(*_: object) -> None:
            row.touched = True
            self.update_visibility()
            self.changed.emit()

        _changed_signal(editor).connect(edited)

    # Values

    def all_values(self) -> dict[str, Any]:
        """Every field's current value, shown or not."""
        return {name: row.get() for name, row in self.rows.items()}

    def values(self) -> dict[str, Any]:
        """The values of the fields shown now (a hidden field is not a setting)."""
        return {name: row.get() for name, row in self.rows.items() if not row.box.isHidden()}

    def set_value(self, name: str, value: Any) -> None:
        """Put ``value`` into a field's editor, as if typed."""
        editor = self.rows[name].editor
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(editor.findData(value), 0))
        else:
            editor.setText("" if value is None else str(value))  # type: ignore[attr-defined]

    def editor(self, name: str) -> QWidget:
        """The input of a field (a secret's line edit, not its container)."""
        editor = self.rows[name].editor
        return editor.edit if isinstance(editor, SecretEdit | FileEdit) else editor

    def update_visibility(self) -> None:
        current = self.all_values()
        for row in self.rows.values():
            self.layout_.setRowVisible(row.box, is_visible(row.spec, current))

    # Messages

    def show_problems(self, problems: Mapping[str, str], *, all_fields: bool = False) -> None:
        """Show each field's problem; ``is required`` only once it was touched or asked for."""
        for name, row in self.rows.items():
            problem = problems.get(name)
            if problem == "is required" and not (row.touched or all_fields):
                problem = None
            show_error(row.error, f"{row.spec.label} {problem}." if problem else None)

    def mark_touched(self, names: Mapping[str, Any] | set[str]) -> None:
        for name in names:
            if name in self.rows:
                self.rows[name].touched = True

    def label_of(self, name: str) -> str:
        row = self.rows.get(name)
        return row.spec.label if row else name
