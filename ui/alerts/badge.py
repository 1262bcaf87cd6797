"""A count badge on a navigation item, such as the unread alerts on "Alerts"."""

from __future__ import annotations

from ui.qt import (
    QColor,
    QListWidgetItem,
    QModelIndex,
    QPainter,
    QPersistentModelIndex,
    QRect,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    Qt,
)

Index = QModelIndex | QPersistentModelIndex

BADGE_ROLE = Qt.ItemDataRole.UserRole + 40
BADGE_COLOUR = "#b91c1c"


def set_badge(item: QListWidgetItem, count: int, what: str) -> None:
    """Show ``count`` on the item (nothing at zero), and say it to screen readers too."""
    item.setData(BADGE_ROLE, count)
    title = item.text()
    item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{title}, {count} {what}" if count else title)
    item.setToolTip(f"{count:,} {what}" if count else "")


class NavBadgeDelegate(QStyledItemDelegate):
    """Draws the item as usual, then its count in a pill at the right edge."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        super().paint(painter, option, index)
        count = index.data(BADGE_ROLE)
        if not count:
            return
        text = f"{count:,}" if count < 1000 else "999+"
        metrics = option.fontMetrics
        height = metrics.height() + 2
        width = max(height, metrics.horizontalAdvance(text) + 10)
        rect = QRect(
            option.rect.right() - width - 6,
            option.rect.center().y() - height // 2,
            width,
            height,
        )
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(BADGE_COLOUR))
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(QColor("white"))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()
