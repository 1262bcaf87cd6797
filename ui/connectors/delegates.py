"""Painting the status badge and the progress of a running sync inside the table."""

from __future__ import annotations

from app.services.connector_board import RunningSync
from ui.connectors.model import PROGRESS_ROLE, STATUS_ROLE, STATUS_WORDS
from ui.qt import (
    QApplication,
    QColor,
    QModelIndex,
    QPainter,
    QPersistentModelIndex,
    QRect,
    QSize,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    Qt,
)

Index = QModelIndex | QPersistentModelIndex

# Badge colours, readable on light and dark backgrounds alike (white text).
BADGE_COLOURS = {
    "new": "#6b7280",
    "healthy": "#2f7d4a",
    "syncing": "#2563a8",
    "needs_reconnect": "#b45309",
    "error": "#b91c1c",
    "disabled": "#4b5563",
}


class StatusBadgeDelegate(QStyledItemDelegate):
    """A rounded, coloured badge with the status in words."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        status = index.data(STATUS_ROLE)
        if not status:
            super().paint(painter, option, index)
            return
        style = option.widget.style() if option.widget else QApplication.style()
        # The selection background first, so a selected row still reads as selected.
        style.drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
        )
        text = STATUS_WORDS.get(status, status)
        metrics = option.fontMetrics
        width = metrics.horizontalAdvance(text) + 16
        height = metrics.height() + 4
        rect = QRect(
            option.rect.left() + 4,
            option.rect.center().y() - height // 2,
            min(width, option.rect.width() - 8),
            height,
        )
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(BADGE_COLOURS.get(status, "#6b7280")))
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(QColor("white"))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 24, max(hint.height(), option.fontMetrics.height() + 8))


class SyncProgressDelegate(QStyledItemDelegate):
    """A busy bar with rows so far and rows per second while a sync runs.

    Sources rarely say how many records a sync will bring, so the bar shows
    activity and the text shows progress, rather than a percentage that would
    be a guess.
    """

    def __init__(self, now: object) -> None:
        super().__init__()
        self._now = now

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        running: RunningSync | None = index.data(PROGRESS_ROLE)
        if running is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = 0
        bar.progress = 0
        rate = running.rows_per_second(self._now())
        bar.text = f"{running.rows:,} rows · {rate:,.0f}/s"
        bar.textVisible = True
        bar.state = option.state
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(max(hint.width(), 180), hint.height())
