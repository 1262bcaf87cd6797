"""The explorer's list of series: all of them in memory, shown a chunk at a time.

The view sees only the rows fetched so far (``canFetchMore``/``fetchMore``), so
a new filter resets a model of a thousand rows, not of fifty thousand; the
filter itself is :class:`~ui.series.filtering.SeriesIndex`, and sorting orders
the matching positions with numpy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from app.store.types import utcnow
from ui.formatting import ago, when
from ui.qt import QAbstractTableModel, QColor, QFont, QModelIndex, QPersistentModelIndex, Qt
from ui.series.data import SeriesRows
from ui.series.filtering import SeriesFilter, SeriesIndex

Index = QModelIndex | QPersistentModelIndex

ID_ROLE = Qt.ItemDataRole.UserRole + 1
CHUNK = 1_000

TREND_WORDS = {"up": "▲ up", "down": "▼ down", "flat": "▶ flat"}
TREND_COLOURS = {"up": "#2f7d4a", "down": "#b91c1c", "flat": "#6b7280"}


class SeriesListModel(QAbstractTableModel):
    """Series filtered by a :class:`SeriesFilter`, fetched into the view lazily."""

    COLUMNS = ("SKU", "Location", "Product", "Demand class", "Trend", "Trend changed", "Alerts")
    SKU, LOCATION, PRODUCT, CLASS, TREND, CHANGED, ALERTS = range(7)

    def __init__(self) -> None:
        super().__init__()
        self._rows = SeriesRows.empty()
        self._index = SeriesIndex(self._rows)
        self._filter = SeriesFilter()
        self._visible = np.zeros(0, dtype=np.int64)
        self._loaded = 0
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._ranks: dict[int, np.ndarray] = {}
        self._bold = QFont()
        self._bold.setBold(True)
        self._now = utcnow()

    # Qt's model interface

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._loaded

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008, N802
        return not parent.isValid() and self._loaded < len(self._visible)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008, N802
        if parent.isValid():
            return
        more = min(CHUNK, len(self._visible) - self._loaded)
        if more <= 0:
            return
        self.beginInsertRows(QModelIndex(), self._loaded, self._loaded + more - 1)
        self._loaded += more
        self.endInsertRows()

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= self._loaded:
            return None
        position = int(self._visible[index.row()])
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(position, column)
        if role == ID_ROLE:
            return int(self._rows.ids[position])
        return self._styled(position, column, role)

    def _styled(self, position: int, column: int, role: int) -> Any:
        """Colour of the trend, bold alert counts, and the exact time of a trend change."""
        rows = self._rows
        if role == Qt.ItemDataRole.ForegroundRole and column == self.TREND:
            colour = TREND_COLOURS.get(rows.trend[position])
            return QColor(colour) if colour else None
        if role == Qt.ItemDataRole.FontRole and column == self.ALERTS and rows.alerts[position]:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and column == self.CHANGED:
            changed = rows.trend_changed_at[position]
            return when(changed) if changed else None
        return None

    def _text(self, position: int, column: int) -> str:
        rows = self._rows
        if column == self.CHANGED:
            changed = rows.trend_changed_at[position]
            return ago(changed, self._now) if changed else ""
        if column == self.ALERTS:
            count = int(rows.alerts[position])
            return f"{count:,}" if count else ""
        if column == self.TREND:
            return TREND_WORDS.get(rows.trend[position], rows.trend[position])
        columns = (rows.sku, rows.location, rows.product, rows.demand_class)
        return columns[column][position]

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self._show(self._sorted(self._visible))

    # Ours

    def set_rows(self, rows: SeriesRows, now: dt.datetime | None = None) -> None:
        """Show a new set of series under the current filter and sort."""
        self._now = now or utcnow()
        self._rows = rows
        self._index = SeriesIndex(rows)
        self._ranks = {}
        self._show(self._sorted(self._index.matching(self._filter)))

    def apply(self, spec: SeriesFilter) -> int:
        """Filter by ``spec``; returns how many series match."""
        self._filter = spec
        self._show(self._sorted(self._index.matching(spec)))
        return len(self._visible)

    @property
    def filter(self) -> SeriesFilter:
        return self._filter

    @property
    def total(self) -> int:
        return len(self._rows)

    @property
    def matches(self) -> int:
        return len(self._visible)

    @property
    def rows(self) -> SeriesRows:
        return self._rows

    def series_id_at(self, row: int) -> int | None:
        if 0 <= row < self._loaded:
            return int(self._rows.ids[self._visible[row]])
        return None

    def row_of(self, series_id: int) -> int | None:
        """The view row of the series, fetching up to it; None when it is filtered out."""
        found = np.flatnonzero(self._rows.ids[self._visible] == series_id)
        if not len(found):
            return None
        row = int(found[0])
        while self._loaded <= row:
            self.fetchMore()
        return row

    def _show(self, visible: np.ndarray) -> None:
        self.beginResetModel()
        self._visible = visible
        self._loaded = min(CHUNK, len(visible))
        self.endResetModel()

    def _sorted(self, positions: np.ndarray) -> np.ndarray:
        if self._sort is None or not len(positions):
            return positions
        column, order = self._sort
        ranks = self._rank(column)
        ordered = positions[np.argsort(ranks[positions], kind="stable")]
        return ordered[::-1] if order == Qt.SortOrder.DescendingOrder else ordered

    def _rank(self, column: int) -> np.ndarray:
        """Each row's place when all rows are sorted by ``column``, computed once per load."""
        if column not in self._ranks:
            rows = self._rows
            keys: Any
            if column == self.ALERTS:
                keys = rows.alerts
            elif column == self.CHANGED:
                stamps = [c.timestamp() if c else -np.inf for c in rows.trend_changed_at]
                keys = np.array(stamps, dtype=float)
            else:
                columns = (rows.sku, rows.location, rows.product, rows.demand_class, rows.trend)
                keys = np.array([value.casefold() for value in columns[column]], dtype=object)
            order = np.argsort(keys, kind="stable")
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            self._ranks[column] = rank
        return self._ranks[column]
