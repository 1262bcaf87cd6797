"""Parts the pages of this package (and the runs, series and alerts pages) share.

``Tasks`` keeps the worker tasks a page started alive until they report, and
``CopyField`` is a read-only value with a Copy button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ui.qt import (
    QGuiApplication,
    QHBoxLayout,
    QLineEdit,
    QObject,
    QPushButton,
    QWidget,
    Signal,
)
from ui.workers import Task, submit

log = logging.getLogger(__name__)


class Tasks:
    """Work a page runs off the GUI thread, held until its result or error arrives.

    A result that arrives after its page was deleted (the window closed while a
    load ran) is dropped rather than delivered to widgets that no longer exist.
    """

    def __init__(self, owner: QObject, on_failed: Callable[[str], None]) -> None:
        self._on_failed = on_failed
        self._running: set[Task] = set()
        self._alive = True
        owner.destroyed.connect(self._owner_destroyed)

    def _owner_destroyed(self, *_: object) -> None:
        self._alive = False

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None] | None = None,
        *,
        long: bool = False,
    ) -> Task:
        task: Task

        def done(result: Any) -> None:
            self._running.discard(task)
            if self._alive:
                on_done(result)

        def failed(message: str) -> None:
            self._running.discard(task)
            if self._alive:
                (on_failed or self._on_failed)(message)

        task = submit(fn, done, failed, long=long)
        self._running.add(task)
        return task

    @property
    def busy(self) -> bool:
        return bool(self._running)


class CopyField(QWidget):
    """A value to copy (a URL, a new key): read-only text and a Copy button."""

    copied = Signal(str)

    def __init__(self, name: str, value: str = "") -> None:
        super().__init__()
        self.edit = QLineEdit(value)
        self.edit.setReadOnly(True)
        self.edit.setAccessibleName(name)
        self.edit.setMinimumWidth(320)
        self.button = QPushButton("Copy")
        self.button.setAccessibleName(f"Copy {name}")
        self.button.setToolTip(f"Copy the {name.lower()} to the clipboard")
        self.button.clicked.connect(self.copy)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)
        self.set_value(value)

    def set_value(self, value: str) -> None:
        self.edit.setText(value)
        self.edit.setCursorPosition(0)
        self.button.setEnabled(bool(value))

    def value(self) -> str:
        return self.edit.text()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.edit.text())
        self.copied.emit(self.edit.accessibleName())
