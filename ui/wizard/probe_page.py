"""The test page: one light call to the source, with what it learned or why it failed.

The probe runs when the page opens, on a worker thread, with a busy bar and
a Cancel button; nothing is saved. A failure keeps the operator here with
the source's message and what to do about it. Going on without a passed test
takes an explicit tick: a source can be out of reach from this computer while
it is being set up (a VPN or firewall rule still to come), and a saved
connector then syncs once it is reachable; the tick makes that a decision
rather than a slip.

An SFTP server's host key is shown for explicit acceptance before any
password is sent; accepting pins it and tests the login.
"""

from __future__ import annotations

import html
from typing import Any

from app.connectors.base import ProbeResult
from app.runtime import Runtime
from ui.qt import (
    QCheckBox,
    QFont,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    Qt,
    QVBoxLayout,
    Signal,
)
from ui.wizard.base import WizardPage, busy_bar, wrapping_label
from ui.wizard.calls import probe
from ui.wizard.draft import Draft
from ui.wizard.failures import Failure

# Details a probe returns that the page shows in its own way, or not at all.
HIDDEN_DETAILS = {"host_key", "host_key_pinned", "host_key_type", "host_key_fingerprint"}
MAX_LISTED = 8


def detail_text(value: Any) -> str:
    """A probe detail in words: lists joined (the first few), booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        shown = ", ".join(str(item) for item in value[:MAX_LISTED])
        more = len(value) - MAX_LISTED
        return f"{shown}, and {more} more" if more > 0 else shown or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def detail_label(key: str) -> str:
    return key.replace("_", " ").capitalize()


class ProbePage(WizardPage):
    """Runs the probe on entry; complete once it passed or the operator chose to go on anyway."""

    failed = Signal(object)

    def __init__(self, runtime: Runtime, draft: Draft) -> None:
        super().__init__(
            runtime,
            draft,
            "Test connection",
            "One light call to the source, to check the settings. Nothing is saved.",
        )
        self.result: ProbeResult | Failure | None = None
        self._cancel: Any = None
        self._offered_key: str | None = None

        self.heading = wrapping_label()
        self.bar = busy_bar("Testing the connection")
        self.cancel_button = QPushButton("&Cancel test")
        self.cancel_button.setAccessibleName("Cancel the test")
        self.cancel_button.clicked.connect(self.cancel)
        self.retry_button = QPushButton("&Test again")
        self.retry_button.setAccessibleName("Test again")
        self.retry_button.clicked.connect(self.start)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.cancel_button)
        top.addWidget(self.retry_button)

        self.icon = QLabel()
        self.message = wrapping_label(selectable=True)
        self.message.setAccessibleName("Test result")
        outcome = QHBoxLayout()
        outcome.addWidget(self.icon, 0)
        outcome.addWidget(self.message, 1)
        self.hint = wrapping_label()
        self.hint.setAccessibleName("What to do")
        self.details_box = QGroupBox("What the test learned")
        self.details = QFormLayout(self.details_box)

        self._build_host_key_box()
        self.anyway = QCheckBox("Continue without a successful test")
        self.anyway.setToolTip(
            "Save the connector although the source cannot be reached now; its syncs "
            "fail until it can be."
        )
        self.anyway.toggled.connect(lambda _: self.completeChanged.emit())

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        layout.addLayout(outcome)
        layout.addWidget(self.hint)
        layout.addWidget(self.host_key_box)
        layout.addWidget(self.details_box)
        layout.addStretch(1)
        layout.addWidget(self.anyway)

    def _build_host_key_box(self) -> None:
        self.host_key_box = QGroupBox("Server host key")
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        self.key_type = QLabel()
        self.key_type.setAccessibleName("Host key type")
        self.fingerprint = QLabel()
        self.fingerprint.setFont(mono)
        self.fingerprint.setAccessibleName("Host key fingerprint")
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_checked = QCheckBox(
            "I compared this fingerprint with the one the server's administrator gave me"
        )
        self.accept_key_button = QPushButton("&Accept and pin this key")
        self.accept_key_button.setEnabled(False)
        self.key_checked.toggled.connect(self.accept_key_button.setEnabled)
        self.accept_key_button.clicked.connect(self.accept_host_key)
        self.forget_key_button = QPushButton("&Forget the pinned key and test again")
        self.forget_key_button.clicked.connect(self.forget_host_key)
        form = QFormLayout()
        form.addRow("Type:", self.key_type)
        form.addRow("Fingerprint:", self.fingerprint)
        column = QVBoxLayout(self.host_key_box)
        column.addLayout(form)
        column.addWidget(self.key_checked)
        row = QHBoxLayout()
        row.addWidget(self.accept_key_button)
        row.addWidget(self.forget_key_button)
        row.addStretch(1)
        column.addLayout(row)
        self.host_key_box.setVisible(False)

    # Running

    def initializePage(self) -> None:  # noqa: N802
        self.anyway.setChecked(False)
        self.start()

    def start(self) -> None:
        """Run the probe with the draft as it is now."""
        self.forget_work()
        target = self.draft.target()
        self._cancel = target.cancel
        self.result = None
        self.draft.probe = None
        source = self.draft.preset_class()
        name = source.display_name if source else "the source"
        self.heading.setText(f"Testing the connection to {html.escape(name)}…")
        self._set_busy(True)
        self._show_outcome(None, "", "")
        self.host_key_box.setVisible(False)
        self._clear_details()
        runtime = self.runtime
        self.run(lambda: probe(runtime, target), self._passed, self._failed, long=True)
        self.completeChanged.emit()

    def cancel(self) -> None:
        """Stop waiting; the probe's result is dropped whenever it comes.

        Known limit: the HTTP client checks the cancel only between attempts and
        during waits, so a request already sent runs on its worker thread until
        the source answers or its timeout passes. Nothing waits for it, and a
        probe saves nothing, so only the thread is held meanwhile.
        """
        if self._cancel is not None:
            self._cancel.set()
        self.forget_work()
        self.result = Failure("cancelled", "Test cancelled.")
        self._set_busy(False)
        self.heading.setText("The test was cancelled.")
        self._show_outcome(False, self.result.message, self.result.hint)
        self.anyway.setVisible(True)
        self.completeChanged.emit()

    def _set_busy(self, busy: bool) -> None:
        self.bar.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.retry_button.setVisible(not busy)
        self.retry_button.setEnabled(not busy)
        if busy:
            self.anyway.setVisible(False)

    def _passed(self, result: ProbeResult) -> None:
        self.result = result
        self._set_busy(False)
        details = result.details
        unpinned = details.get("host_key_pinned") is False
        if unpinned:
            self.heading.setText("The server answered; its host key needs your approval.")
            self._show_outcome(None, result.message, "")
            self._show_host_key(details, pinned=False)
            self.anyway.setVisible(True)
        else:
            self.draft.probe = result
            self.heading.setText("The connection works.")
            account = f" Account: {result.account}." if result.account else ""
            self._show_outcome(True, result.message + account, "")
            if "host_key" in details:
                self._show_host_key(details, pinned=True)
            self.anyway.setVisible(False)
        self._show_details(details)
        self.completeChanged.emit()

    def _failed(self, failure: Failure) -> None:
        self.result = failure
        self._set_busy(False)
        self.heading.setText("The test failed.")
        self._show_outcome(False, failure.message, failure.hint)
        if failure.kind == "host_key":
            self.host_key_box.setVisible(True)
            self.key_type.setText("changed")
            self.fingerprint.setText("see the message above")
            self.key_checked.setVisible(False)
            self.accept_key_button.setVisible(False)
            self.forget_key_button.setVisible(True)
        self.anyway.setVisible(True)
        self.failed.emit(failure)
        self.completeChanged.emit()

    # Showing

    def _show_outcome(self, ok: bool | None, message: str, hint: str) -> None:
        if ok is None:
            self.icon.clear()
        else:
            which = (
                QStyle.StandardPixmap.SP_DialogApplyButton
                if ok
                else QStyle.StandardPixmap.SP_MessageBoxWarning
            )
            size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
            self.icon.setPixmap(self.style().standardIcon(which).pixmap(size, size))
        self.message.setText(html.escape(message))
        self.message.setVisible(bool(message))
        self.hint.setText(html.escape(hint))
        self.hint.setVisible(bool(hint))

    def _clear_details(self) -> None:
        while self.details.rowCount():
            self.details.removeRow(0)
        self.details_box.setVisible(False)

    def _show_details(self, details: dict[str, Any]) -> None:
        self._clear_details()
        shown = [(k, v) for k, v in details.items() if k not in HIDDEN_DETAILS]
        for key, value in shown[:MAX_LISTED]:
            value_label = wrapping_label(html.escape(detail_text(value)), selectable=True)
            value_label.setAccessibleName(detail_label(key))
            self.details.addRow(f"{detail_label(key)}:", value_label)
        self.details_box.setVisible(bool(shown))

    def _show_host_key(self, details: dict[str, Any], *, pinned: bool) -> None:
        self.host_key_box.setVisible(True)
        self.key_type.setText(str(details.get("host_key_type", "")))
        self.fingerprint.setText(str(details.get("host_key_fingerprint", "")))
        self.key_checked.setChecked(False)
        self.key_checked.setVisible(not pinned)
        self.accept_key_button.setVisible(not pinned)
        self.forget_key_button.setVisible(False)
        self.host_key_box.setTitle("Server host key (pinned)" if pinned else "Server host key")
        self._offered_key = details.get("host_key")

    # Host keys

    def accept_host_key(self) -> None:
        """Pin the key the server presented and test the login with it."""
        key = self._offered_key
        if not key or not self.key_checked.isChecked():
            return
        self.draft.learnt["host_key"] = key
        self.start()

    def forget_host_key(self) -> None:
        """Drop the pinned key, so that the next test fetches the server's key for approval."""
        self.draft.learnt["host_key"] = ""
        self.start()

    # Completion

    def isComplete(self) -> bool:  # noqa: N802
        return self.draft.probe is not None or (
            not self.anyway.isHidden() and self.anyway.isChecked()
        )

    def cleanupPage(self) -> None:  # noqa: N802
        if self.busy:
            self.cancel()
