"""What every wizard page shares: the draft, background work, and a message line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.runtime import Runtime
from ui.qt import QApplication, QColor, QLabel, QPalette, QProgressBar, Qt, QWizardPage, Signal
from ui.wizard.draft import Draft
from ui.wizard.failures import Failure, attempt
from ui.workers import Task, submit


def error_colour() -> QColor:
    """Red that reads on the current palette: darker on light windows, lighter on dark."""
    window = QApplication.palette().color(QPalette.ColorRole.Window)
    return QColor("#c62828") if window.lightness() >= 128 else QColor("#ef9a9a")


def wrapping_label(text: str = "", *, selectable: bool = False) -> QLabel:
    """A label that wraps instead of widening the wizard, and can be copied from."""
    label = QLabel(text)
    label.setWordWrap(True)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def error_label() -> QLabel:
    """A red, wrapping label for a validation message under a control."""
    label = wrapping_label()
    label.setObjectName("error")
    label.setStyleSheet(f"QLabel#error {{ color: {error_colour().name()}; }}")
    label.setVisible(False)
    return label


def show_error(label: QLabel, message: str | None) -> None:
    label.setText(message or "")
    label.setVisible(bool(message))


def busy_bar(name: str) -> QProgressBar:
    """An indeterminate progress bar (Qt animates a 0..0 range)."""
    bar = QProgressBar()
    bar.setRange(0, 0)
    bar.setTextVisible(False)
    bar.setAccessibleName(name)
    bar.setMaximumHeight(bar.sizeHint().height())
    bar.setVisible(False)
    return bar


class WizardPage(QWizardPage):
    """A page of the connector wizard.

    ``settled`` follows the end of each piece of background work the page
    started (tests and the screenshot mode wait for it). Work started before
    :meth:`forget_work` is forgotten: its result is dropped when it arrives.
    """

    settled = Signal()

    def __init__(self, runtime: Runtime, draft: Draft, title: str, subtitle: str = "") -> None:
        super().__init__()
        self.runtime = runtime
        self.draft = draft
        self.setTitle(title)
        if subtitle:
            self.setSubTitle(subtitle)
        self._generation = 0
        self._pending = 0
        self._tasks: set[Task] = set()
        self._report: QLabel | None = None

    @property
    def busy(self) -> bool:
        """Whether work this page still waits for is running."""
        return self._pending > 0

    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_failure: Callable[[Failure], None],
        *,
        long: bool = False,
    ) -> None:
        """Run ``fn`` on a worker thread; its result or :class:`Failure` comes back here."""
        generation = self._generation
        self._pending += 1
        task: Task

        def done(result: Any) -> None:
            self._tasks.discard(task)
            if generation != self._generation:
                return
            self._pending -= 1
            if isinstance(result, Failure):
                on_failure(result)
            else:
                on_done(result)
            self.settled.emit()

        def crashed(message: str) -> None:
            # attempt() returns failures; only a fault in the wiring lands here.
            done(Failure("unexpected", "Something went wrong unexpectedly."))

        task = submit(lambda: attempt(fn), done, crashed, long=long)
        self._tasks.add(task)

    def forget_work(self) -> None:
        """Drop the results of work started so far (cancelled, or made stale by an edit)."""
        self._generation += 1
        if self._pending:
            self._pending = 0
            self.settled.emit()

    def report(self, message: str, *, problem: bool = False) -> None:
        """Show a line at the foot of the page (the wizard's save progress or failure)."""
        if self._report is None:
            self._report = error_label()
            self._report.setAccessibleName("Save status")
            layout = self.layout()
            if layout is not None:
                layout.addWidget(self._report)
        self._report.setStyleSheet(
            f"QLabel#error {{ color: {error_colour().name()}; }}" if problem else ""
        )
        show_error(self._report, message)
