"""The one module that imports Qt; the rest of ``ui`` imports from here."""

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QGroupBox,
    QLabel,
    QMainWindow,
    QStatusBar,
    QVBoxLayout,
    QWidget,
)

__all__ = [
    "QApplication",
    "QFont",
    "QFormLayout",
    "QGroupBox",
    "QIcon",
    "QLabel",
    "QMainWindow",
    "QObject",
    "QRunnable",
    "QStatusBar",
    "QThreadPool",
    "QTimer",
    "QVBoxLayout",
    "QWidget",
    "Qt",
    "Signal",
    "Slot",
]
