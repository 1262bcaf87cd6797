"""The series explorer: search and filter the series, chart the selected one, export it."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from app.runtime import Runtime
from app.store.types import utcnow
from ui.formatting import ago, when
from ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    Qt,
    QTableView,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.series.chart import ForecastChart
from ui.series.data import SeriesDetail, SeriesRows, load_series_rows, series_detail
from ui.series.export import suggested_name, write_forecast_csv
from ui.series.filtering import NO_TREND, SeriesFilter
from ui.series.model import TREND_COLOURS, SeriesListModel
from ui.settings.common import Tasks
from ui.workers import Task

log = logging.getLogger(__name__)

DEMAND_CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "zero")
TRENDS = (("up", "Up"), ("flat", "Flat"), ("down", "Down"), (NO_TREND, "Not yet known"))


class SeriesPage(QWidget):
    """The list of series on the left, the selected series' forecast on the right.

    ``filtered(matches)`` follows every change of the filters; ``detail_shown``
    follows each series drawn.
    """

    loaded = Signal(int)
    load_failed = Signal(str)
    filtered = Signal(int)
    detail_shown = Signal(object)
    exported = Signal(str)
    action_failed = Signal(str)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.workspace_id: int | None = None
        self.detail: SeriesDetail | None = None
        self._loading: Task | None = None
        self._pending_select: int | None = None
        self.tasks = Tasks(self, self._failed)
        self.model = SeriesListModel()

        filters = self._build_filters()
        self._build_table()
        details = self._build_details()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.table)
        left_layout.addWidget(self.count)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        # The chart's legend needs the room more than the list's last columns.
        splitter.setSizes([380, 620])
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Series page message")
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(splitter, 1)

    def _build_filters(self) -> QVBoxLayout:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search SKU, location or product")
        self.search.setAccessibleName("Search series")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _: self.apply_filter())
        self.demand_class = QComboBox()
        self.demand_class.setAccessibleName("Demand class")
        self.demand_class.addItem("Any demand class", None)
        for name in DEMAND_CLASSES:
            self.demand_class.addItem(name.title(), name)
        self.trend = QComboBox()
        self.trend.setAccessibleName("Trend")
        self.trend.addItem("Any trend", None)
        for value, label in TRENDS:
            self.trend.addItem(label, value)
        self.alerts_only = QCheckBox("With unread alerts")
        for combo in (self.demand_class, self.trend):
            combo.currentIndexChanged.connect(lambda _: self.apply_filter())
        self.alerts_only.toggled.connect(lambda _: self.apply_filter())
        choices = QHBoxLayout()
        choices.addWidget(self.demand_class)
        choices.addWidget(self.trend)
        choices.addWidget(self.alerts_only)
        choices.addStretch(1)
        rows = QVBoxLayout()
        rows.addWidget(self.search)
        rows.addLayout(choices)
        return rows

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Series")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SeriesListModel.SKU, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        # Fixed row heights and column widths: nothing is measured per row while filtering.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((140, 100, 200, 100, 70, 100)):
            self.table.setColumnWidth(column, width)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.count = QLabel("No series loaded yet.")
        self.count.setAccessibleName("Series count")

    def _build_details(self) -> QWidget:
        self.heading = QLabel("<h3>No series selected</h3>")
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.trend_badge = QLabel()
        self.trend_badge.setAccessibleName("Trend")
        self.trend_changed = QLabel()
        self.model_info = QLabel()
        self.model_info.setWordWrap(True)
        self.model_info.setAccessibleName("Model and cross-validation error")
        self.stock_info = QLabel()
        self.stock_info.setWordWrap(True)
        self.stock_info.setAccessibleName("Safety stock and reorder point")
        self.chart = ForecastChart()
        self.export_button = QPushButton("Export forecast to CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_dialog)

        badges = QHBoxLayout()
        badges.addWidget(self.trend_badge)
        badges.addWidget(self.trend_changed)
        badges.addStretch(1)
        badges.addWidget(self.export_button)
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(badges)
        layout.addWidget(self.model_info)
        layout.addWidget(self.stock_info)
        layout.addWidget(self.chart, 1)
        return panel

    # Loading

    def set_workspace(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self.refresh()

    def refresh(self) -> None:
        """Reload the series off the GUI thread, keeping the filters and the selection."""
        if self._loading is not None:
            return
        database, workspace = self.runtime.database, self.workspace_id
        self._loading = self.tasks.run(
            lambda: load_series_rows(database, workspace), self._show_rows, self._load_failed
        )

    def _show_rows(self, rows: SeriesRows) -> None:
        self._loading = None
        selected = self.selected_id()
        # A reload follows a run: the selected series' chart is drawn anew too.
        self.detail = None
        self.model.set_rows(rows)
        self._count_changed()
        wanted = self._pending_select or selected
        self._pending_select = None
        if wanted is not None:
            self.select_series(wanted)
        self.loaded.emit(len(rows))

    def _load_failed(self, message: str) -> None:
        self._loading = None
        self.message.setText(f"Could not load the series: {message}")
        self.load_failed.emit(message)

    # Filtering

    def current_filter(self) -> SeriesFilter:
        return SeriesFilter(
            text=self.search.text(),
            demand_class=self.demand_class.currentData(),
            trend=self.trend.currentData(),
            alerts_only=self.alerts_only.isChecked(),
        )

    def apply_filter(self) -> int:
        """Filter the list now (on the GUI thread: it takes milliseconds)."""
        selected = self.selected_id()
        matches = self.model.apply(self.current_filter())
        if selected is not None:
            row = self.model.row_of(selected)
            if row is not None:
                self.table.selectRow(row)
        self._count_changed()
        self.filtered.emit(matches)
        return matches

    def clear_filters(self) -> None:
        for widget in (self.search, self.demand_class, self.trend, self.alerts_only):
            widget.blockSignals(True)
        self.search.clear()
        self.demand_class.setCurrentIndex(0)
        self.trend.setCurrentIndex(0)
        self.alerts_only.setChecked(False)
        for widget in (self.search, self.demand_class, self.trend, self.alerts_only):
            widget.blockSignals(False)
        self.apply_filter()

    def _count_changed(self) -> None:
        total, matches = self.model.total, self.model.matches
        if matches == total:
            self.count.setText(f"{total:,} series")
        else:
            self.count.setText(f"{matches:,} of {total:,} series")

    # Selection and detail

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.series_id_at(rows[0].row()) if rows else None

    def select_series(self, series_id: int) -> bool:
        """Select the series, clearing the filters if they hide it; False if it is not loaded.

        Before the list has loaded, the series is selected once it has.
        """
        if self._loading is not None or self.model.total == 0:
            self._pending_select = series_id
            return False
        row = self.model.row_of(series_id)
        if row is None and series_id in self.model.rows.ids:
            self.clear_filters()
            row = self.model.row_of(series_id)
        if row is None:
            self.message.setText(f"Series {series_id} is not in this workspace.")
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def _selection_changed(self) -> None:
        series_id = self.selected_id()
        if series_id is None:
            return
        if self.detail is not None and self.detail.series["id"] == series_id:
            return
        database = self.runtime.database

        def show(detail: SeriesDetail) -> None:
            if self.selected_id() == series_id:
                self.show_detail(detail)

        self.tasks.run(lambda: series_detail(database, series_id), show)

    def show_detail(self, detail: SeriesDetail) -> None:
        self.detail = detail
        series = detail.series
        product = f" · {series['product_name']}" if series.get("product_name") else ""
        self.heading.setText(f"<h3>{detail.label}{product}</h3>")
        self._show_trend(series.get("trend"), series.get("trend_changed_at"))
        self._show_model(detail)
        self.chart.show_detail(detail)
        self.export_button.setEnabled(bool(detail.periods))
        self.detail_shown.emit(detail)

    def _show_trend(self, trend: str | None, changed_at: str | None) -> None:
        if not trend:
            self.trend_badge.setText("Trend not known yet")
            self.trend_badge.setStyleSheet("")
            self.trend_changed.setText("")
            return
        colour = TREND_COLOURS.get(trend, "#6b7280")
        self.trend_badge.setText(f" {trend.title()} ")
        self.trend_badge.setStyleSheet(
            f"background:{colour}; color:white; border-radius:8px; padding:2px 8px;"
        )
        if changed_at:
            moment = dt.datetime.fromisoformat(changed_at)
            self.trend_changed.setText(f"changed {ago(moment, utcnow())}")
            self.trend_changed.setToolTip(when(moment))
        else:
            self.trend_changed.setText("unchanged since the first run")
            self.trend_changed.setToolTip("")

    def _show_model(self, detail: SeriesDetail) -> None:
        if detail.forecast is None:
            self.model_info.setText("No forecast yet: run a forecast from the Runs page.")
            self.stock_info.setText("")
            return
        sigma = detail.cv_sigma
        error = (
            f"cross-validation error σ = {sigma:,.2f} units per period"
            if sigma is not None
            else "too little history to cross-validate"
        )
        self.model_info.setText(
            f"Model <b>{detail.model}</b> (run #{detail.forecast['run_id']}); {error}."
        )
        stock = detail.stock
        if stock is None:
            self.stock_info.setText("")
            return
        self.stock_info.setText(
            f"Safety stock <b>{stock['safety_stock']:,.1f}</b>, reorder point "
            f"<b>{stock['reorder_point']:,.1f}</b> at {stock['service_level']:.0%} service "
            f"over a {stock['lead_time_days'] or '?'}-day lead time."
        )

    # Export

    def export_dialog(self) -> None:
        if self.detail is None or not self.detail.periods:
            return
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export forecast",
            str(Path.home() / suggested_name(self.detail)),
            "CSV files (*.csv)",
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> int:
        """Write the shown series' forecast to ``path``; the message says how it went."""
        if self.detail is None:
            self._failed("Select a series first.")
            return 0
        try:
            written = write_forecast_csv(path, self.detail)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._failed(f"Could not export the forecast to {path}: {reason}")
            return 0
        self.message.setText(f"Exported {written} periods of {self.detail.label} to {path}.")
        self.exported.emit(str(path))
        return written

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
