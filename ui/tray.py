"""The system tray: keep running when the window closes, a menu, desktop notifications.

Closing the window while the embedded server or the scheduler runs would stop
them; the tray lets them go on. Where the desktop has no tray (some Linux
desktops, offscreen rendering) closing quits as before, and notifications fall
back to flashing the window.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from app.store.models import ConnectorStatus
from ui.qt import (
    QAction,
    QApplication,
    QCheckBox,
    QMenu,
    QMessageBox,
    QObject,
    QSettings,
    QSystemTrayIcon,
    QWidget,
    Signal,
)

log = logging.getLogger(__name__)

ON_CLOSE_KEY = "tray/on_close"
NOTIFY_MS = 8_000


class CloseAction(enum.Enum):
    QUIT = "quit"
    TRAY = "tray"
    ASK = "ask"


def close_action(*, busy: bool, tray_available: bool, remembered: Any) -> CloseAction:
    """What closing the window does.

    Args:
        busy: the embedded server or the scheduler is running.
        tray_available: the desktop shows tray icons.
        remembered: the operator's earlier "don't ask again" answer, if any.
    """
    if not busy or not tray_available:
        return CloseAction.QUIT
    if remembered in (CloseAction.TRAY.value, CloseAction.QUIT.value):
        return CloseAction(remembered)
    return CloseAction.ASK


def alert_notice(alerts: list[dict[str, Any]]) -> tuple[str, str]:
    """The title and text of a notification about newly arrived high-severity alerts."""
    count = len(alerts)
    title = "1 critical demand alert" if count == 1 else f"{count} critical demand alerts"
    text = alerts[0]["message"]
    if count > 1:
        text += f" (and {count - 1} more: see Alerts)"
    return title, text


def sync_all(connectors_page: Any) -> list[int]:
    """Start a sync of every enabled connector that is not syncing; returns their ids."""
    started = []
    model = connectors_page.model
    for position in range(model.rowCount()):
        row = model.row_at(position)
        if row is None or row.status is ConnectorStatus.DISABLED or row.running is not None:
            continue
        connectors_page.sync(row.id)
        started.append(row.id)
    return started


class Tray(QObject):
    """The tray icon and its menu (open, sync all, run forecast, quit), where there is a tray."""

    open_requested = Signal()
    sync_all_requested = Signal()
    run_requested = Signal()
    quit_requested = Signal()

    def __init__(
        self, window: QWidget, settings: QSettings, *, available: bool | None = None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.available = QSystemTrayIcon.isSystemTrayAvailable() if available is None else available
        self.menu = QMenu(window)
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, signal in (
            ("open", "Open AccuPredix", self.open_requested),
            ("sync", "Sync all connectors", self.sync_all_requested),
            ("run", "Run forecast now", self.run_requested),
            ("quit", "Quit", self.quit_requested),
        ):
            action = QAction(text, self.menu)
            action.triggered.connect(signal.emit)
            self.menu.addAction(action)
            self.actions_by_name[name] = action
        self.icon: QSystemTrayIcon | None = None
        # ``available`` may be forced (tests); an icon needs a real tray.
        if self.available and QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(window.windowIcon(), self)
            self.icon.setToolTip("AccuPredix")
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._activated)
            self.icon.show()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.open_requested.emit()

    def keep_running(self, busy: bool) -> bool:
        """Whether closing the window should hide it to the tray (asking when unsure)."""
        action = close_action(
            busy=busy, tray_available=self.available, remembered=self.settings.value(ON_CLOSE_KEY)
        )
        if action is CloseAction.ASK:
            action, remember = self.ask()
            if remember:
                self.settings.setValue(ON_CLOSE_KEY, action.value)
        if action is CloseAction.TRAY:
            # The hidden window must not count as the last one closed.
            QApplication.setQuitOnLastWindowClosed(False)
            self.notify(
                "AccuPredix is still running",
                "The server and the scheduled syncs go on. Quit from the tray icon's menu.",
            )
            return True
        return False

    def ask(self) -> tuple[CloseAction, bool]:
        """Ask the operator; returns the choice and whether to remember it."""
        box = QMessageBox(self.window)
        box.setWindowTitle("Keep AccuPredix running?")
        box.setText(
            "The embedded server or scheduled syncs are running. Keep them running in the "
            "system tray, or quit and stop them?"
        )
        keep = box.addButton("Keep running in the tray", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
        remember = QCheckBox("Don't ask again")
        box.setCheckBox(remember)
        box.setDefaultButton(keep)
        box.exec()
        chosen = CloseAction.TRAY if box.clickedButton() is keep else CloseAction.QUIT
        return chosen, remember.isChecked()

    def notify(self, title: str, text: str) -> bool:
        """A desktop notification; without a tray the window asks for attention instead."""
        if self.icon is not None and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, NOTIFY_MS)
            return True
        QApplication.alert(self.window)
        return False

    def notify_alerts(self, alerts: list[dict[str, Any]]) -> bool:
        if not alerts:
            return False
        return self.notify(*alert_notice(alerts))

    def hide_icon(self) -> None:
        if self.icon is not None:
            self.icon.hide()
