"""Following the operating system's light or dark appearance."""

from __future__ import annotations

import logging

from ui.qt import QApplication, QColor, QGuiApplication, QPalette, QStyleFactory, Qt

log = logging.getLogger(__name__)


def _dark_palette() -> QPalette:
    palette = QPalette()
    window, base, text = QColor(37, 37, 40), QColor(28, 28, 30), QColor(230, 230, 230)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(45, 45, 48),
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.Highlight: QColor(38, 99, 168),
        QPalette.ColorRole.HighlightedText: QColor("white"),
        QPalette.ColorRole.Link: QColor(110, 168, 254),
        QPalette.ColorRole.PlaceholderText: QColor(150, 150, 150),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    disabled = QColor(120, 120, 120)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication) -> None:
    """Use the OS colour scheme now and whenever it changes.

    Native styles (Windows 11, macOS) follow the scheme by themselves; on
    Linux desktops the platform theme does not always pass it on, so the
    Fusion style gets a dark palette when the OS asks for dark.
    """
    hints = QGuiApplication.styleHints()

    def follow() -> None:
        if app.style().name().lower() not in ("fusion", "windows"):
            return
        dark = hints.colorScheme() == Qt.ColorScheme.Dark
        app.setPalette(_dark_palette() if dark else app.style().standardPalette())
        log.debug("colour scheme: %s", "dark" if dark else "light")

    if app.style().name().lower() == "windows":
        app.setStyle(QStyleFactory.create("Fusion"))
    follow()
    hints.colorSchemeChanged.connect(lambda _: follow())
