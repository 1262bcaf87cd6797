"""Editing one transform of a column, with a form made from its options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.canonical import Column
from app.mapping.paths import make_getter, parse_path
from app.mapping.transforms import compile_transform
from ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTimeZone,
    QVBoxLayout,
    QWidget,
)
from ui.wizard.base import error_label, show_error
from ui.wizard.transform_options import (
    DATE_FORMATS,
    OPTIONS,
    TITLES,
    Option,
    pairs_to_text,
    text_to_pairs,
    text_to_when,
    when_to_text,
)

Reader = Callable[[], tuple[Any, str | None]]  # (value or None to leave out, problem)


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


def _read_path(text: object) -> Any:
    return make_getter(parse_path(text))


def check_transform(spec: dict[str, Any], column: Column) -> str | None:
    """What the engine finds wrong with ``spec`` on ``column``; None when it is fine."""
    try:
        compile_transform(spec, column, _read_path)
    except ValueError as exc:
        return str(exc)
    return None


class TransformDialog(QDialog):
    """The options of one transform; OK only once the engine accepts them."""

    def __init__(
        self,
        column: Column,
        spec: dict[str, Any],
        paths: list[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.column = column
        self.kind = str(spec["type"])
        self.setWindowTitle(f"{TITLES.get(self.kind, self.kind)} — {column.name}")
        self._readers: dict[str, Reader] = {}
        form = QFormLayout()
        for option in OPTIONS.get(self.kind, ()):
            editor, reader = self._editor(option, spec.get(option.key), paths)
            if option.help:
                editor.setToolTip(option.help)
                editor.setAccessibleDescription(option.help)
            form.addRow(f"{option.label}{' *' if option.required else ''}:", editor)
            self._readers[option.key] = reader
        if not OPTIONS.get(self.kind):
            form.addRow(QLabel("This transform has no options."))
        self.problem = error_label()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.check()

    def _editor(self, option: Option, value: Any, paths: list[str]) -> tuple[QWidget, Reader]:
        builders = {
            "bool": self._bool,
            "integer": self._integer,
            "date_format": self._date_format,
            "zone": self._zone,
            "when": self._when,
            "pairs": self._pairs,
        }
        build = builders.get(option.kind, self._text)
        editor, reader = build(option, value, paths)
        editor.setAccessibleName(option.label)
        return editor, reader

    def _text(self, option: Option, value: Any, _paths: list[str]) -> tuple[QWidget, Reader]:
        edit = QLineEdit("" if value is None else str(value))
        edit.textChanged.connect(self.check)

        def read() -> tuple[Any, str | None]:
            text = edit.text()
            if not text.strip():
                return None, f"{option.label} is required." if option.required else None
            if option.kind == "number":
                try:
                    return _number(text), None
                except ValueError:
                    return None, f"{option.label} must be a number."
            return text, None

        return edit, read

    def _bool(self, option: Option, value: Any, _paths: list[str]) -> tuple[QWidget, Reader]:
        box = QCheckBox()
        box.setChecked(bool(value))
        box.toggled.connect(self.check)
        return box, lambda: (True if box.isChecked() else None, None)

    def _integer(self, option: Option, value: Any, _paths: list[str]) -> tuple[QWidget, Reader]:
        spin = QSpinBox()
        spin.setRange(-99, 99)
        spin.setValue(int(value) if isinstance(value, int) else 0)
        spin.valueChanged.connect(self.check)
        return spin, lambda: (spin.value() or None, None)

    def _choices(self, value: Any, items: list[str]) -> QComboBox:
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems(items)
        combo.setCurrentText("" if value is None else str(value))
        combo.currentTextChanged.connect(self.check)
        return combo

    def _date_format(self, option: Option, value: Any, _paths: list[str]) -> tuple[QWidget, Reader]:
        combo = self._choices(value or "iso", list(DATE_FORMATS))
        return combo, lambda: (combo.currentText().strip() or None, None)

    def _zone(self, option: Option, value: Any, _paths: list[str]) -> tuple[QWidget, Reader]:
        local = bytes(QTimeZone.systemTimeZoneId().data()).decode() or "UTC"
        combo = self._choices(value, ["", "UTC", local])
        return combo, lambda: (combo.currentText().strip() or None, None)

    def _when(self, option: Option, value: Any, paths: list[str]) -> tuple[QWidget, Reader]:
        path_text, values_text = when_to_text(value)
        box = QWidget()
        inner = QFormLayout(box)
        inner.setContentsMargins(0, 0, 0, 0)
        path = self._choices(path_text, ["", *paths])
        path.setAccessibleName("Condition field")
        values = QLineEdit(values_text)
        values.setAccessibleName("Condition values")
        values.setPlaceholderText("refund, return")
        values.textChanged.connect(self.check)
        inner.addRow("Field:", path)
        inner.addRow("Is one of:", values)

        def read() -> tuple[Any, str | None]:
            when = text_to_when(path.currentText(), values.text())
            if when is not None and not when["in"]:
                return None, "Name the values the condition field must have."
            return when, None

        return box, read

    def _pairs(self, option: Option, value: Any, _paths: list[str]) -> tuple[QWidget, Reader]:
        edit = QPlainTextEdit(pairs_to_text(value) if isinstance(value, dict) else "")
        edit.setPlaceholderText("paid = fulfilled\nrefunded = refunded")
        edit.setTabChangesFocus(True)
        edit.textChanged.connect(self.check)

        def read() -> tuple[Any, str | None]:
            pairs, bad = text_to_pairs(edit.toPlainText())
            if bad:
                return None, f"Not in the form “source = canonical”: {bad[0]}"
            if not pairs and option.required:
                return None, "List at least one value to translate."
            return pairs or None, None

        return edit, read

    def spec(self) -> dict[str, Any]:
        """The transform as the mapping stores it."""
        spec: dict[str, Any] = {"type": self.kind}
        for key, read in self._readers.items():
            value, _ = read()
            if value is not None:
                spec[key] = value
        return spec

    def check(self, *_: object) -> None:
        problem = next((p for _, p in (read() for read in self._readers.values()) if p), None)
        if problem is None:
            problem = check_transform(self.spec(), self.column)
        show_error(self.problem, problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)
