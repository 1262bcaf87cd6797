"""Painting a run's status as a badge and its progress as a bar inside the runs table."""

from __future__ import annotations

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
from ui.runs.model import PROGRESS_ROLE, STATUS_ROLE, STATUS_WORDS

Index = QModelIndex | QPersistentModelIndex

# Readable with white text on light and dark backgrounds alike.
RUN_COLOURS = {
    "queued": "#6b7280",
    "running": "#2563a8",
    "complete": "#2f7d4a",
    "failed": "#b91c1c",
}


def paint_badge(painter: QPainter, option: QStyleOptionViewItem, text: str, colour: str) -> None:
    """A rounded badge with ``text`` in white, over the item's selection background."""
    style = option.widget.style() if option.widget else QApplication.style()
    style.drawPrimitive(
        QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
    )
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
    painter.setBrush(QColor(colour))
    painter.drawRoundedRect(rect, height / 2, height / 2)
    painter.setPen(QColor("white"))
    painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)
    painter.restore()


class RunStatusDelegate(QStyledItemDelegate):
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        status = index.data(STATUS_ROLE)
        if not status:
            super().paint(painter, option, index)
            return
        paint_badge(
            painter, option, STATUS_WORDS.get(status, status), RUN_COLOURS.get(status, "#6b7280")
        )

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(hint.width() + 24, max(hint.height(), option.fontMetrics.height() + 8))


class RunProgressDelegate(QStyledItemDelegate):
    """Series done of series to do; a busy bar while the run is queued or counting."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        progress = index.data(PROGRESS_ROLE)
        if progress is None:
            super().paint(painter, option, index)
            return
        done, total = progress
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum = 0
        bar.maximum = total
        bar.progress = min(done, total)
        bar.text = f"{done:,} of {total:,} series" if total else "waiting"
        bar.textVisible = True
        bar.state = option.state
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        hint = super().sizeHint(option, index)
        return QSize(max(hint.width(), 160), hint.height())
