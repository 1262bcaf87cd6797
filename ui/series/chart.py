"""The forecast chart of one series: history, forecast, its 80% and 95% bands, safety stock
and reorder point."""

from __future__ import annotations

import datetime as dt
import logging

from ui.qt import (
    QAreaSeries,
    QBrush,
    QChart,
    QChartView,
    QColor,
    QDateTime,
    QDateTimeAxis,
    QLineSeries,
    QPainter,
    QPen,
    QPointF,
    Qt,
    QValueAxis,
)
from ui.series.data import SeriesDetail

log = logging.getLogger(__name__)

HISTORY = "History"
FORECAST = "Forecast"
BAND_80 = "80% interval"
BAND_95 = "95% interval"
SAFETY_STOCK = "Safety stock"
REORDER_POINT = "Reorder point"

COLOURS = {
    HISTORY: "#4b5563",
    FORECAST: "#2563a8",
    BAND_80: "#2563a8",
    BAND_95: "#2563a8",
    SAFETY_STOCK: "#b45309",
    REORDER_POINT: "#b91c1c",
}
DATE_FORMATS = {"daily": "d MMM", "weekly": "MMM yy", "monthly": "MMM yy"}


def msecs(day: dt.date) -> float:
    """A date as the chart's x value: local midnight, as the date axis shows it."""
    return dt.datetime(day.year, day.month, day.day).timestamp() * 1000


def day_of(value: float) -> dt.date:
    return dt.datetime.fromtimestamp(value / 1000).date()


class ForecastChart(QChartView):
    """A chart view that draws one :class:`SeriesDetail`, or says why it cannot."""

    def __init__(self) -> None:
        self._chart = QChart()
        super().__init__(self._chart)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Forecast chart")
        self.setMinimumHeight(260)
        # Beside the plot: six entries side by side do not fit under a chart of this width.
        self._chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
        self._series: dict[str, QLineSeries | QAreaSeries] = {}
        self.show_message("Select a series to see its forecast.")

    # Reading back what is drawn (tests, and the screenshot mode)

    def names(self) -> list[str]:
        return list(self._series)

    def points(self, name: str) -> list[tuple[dt.date, float]]:
        """The (date, value) points of a line; of an area, its upper line."""
        series = self._series[name]
        line = series.upperSeries() if isinstance(series, QAreaSeries) else series
        return [(day_of(p.x()), p.y()) for p in line.points()]

    def lower_points(self, name: str) -> list[tuple[dt.date, float]]:
        series = self._series[name]
        assert isinstance(series, QAreaSeries)
        return [(day_of(p.x()), p.y()) for p in series.lowerSeries().points()]

    @property
    def title(self) -> str:
        return self._chart.title()

    # Drawing

    def _reset(self, title: str) -> None:
        self._chart.removeAllSeries()
        for axis in self._chart.axes():
            self._chart.removeAxis(axis)
        self._series = {}
        self._chart.setTitle(title)

    def show_message(self, message: str) -> None:
        self._reset(message)
        self._chart.legend().setVisible(False)

    def show_detail(self, detail: SeriesDetail) -> None:
        """Draw the series; without a forecast, its history alone with a note."""
        periods = detail.periods
        title = detail.label if periods else f"{detail.label}: no forecast yet"
        self._reset(title)
        self._chart.legend().setVisible(True)
        if periods:
            starts = [dt.date.fromisoformat(p["period_start"]) for p in periods]
            self._band(BAND_95, starts, [p["lo95"] for p in periods], [p["hi95"] for p in periods])
            self._band(BAND_80, starts, [p["lo80"] for p in periods], [p["hi80"] for p in periods])
        if detail.history:
            self._line(HISTORY, [d for d, _ in detail.history], [v for _, v in detail.history])
        if periods:
            self._line(FORECAST, starts, [p["point"] for p in periods], width=2.5)
            if detail.stock is not None:
                span = [starts[0], starts[-1]]
                stock = detail.stock
                self._line(SAFETY_STOCK, span, [stock["safety_stock"]] * 2, dashed=True)
                self._line(REORDER_POINT, span, [stock["reorder_point"]] * 2, dashed=True)
        if not self._series:
            self.show_message(f"{detail.label}: no demand history and no forecast yet.")
            return
        self._axes(detail.frequency)

    def _line(
        self,
        name: str,
        days: list[dt.date],
        values: list[float],
        *,
        width: float = 1.5,
        dashed: bool = False,
    ) -> QLineSeries:
        line = QLineSeries()
        line.setName(name)
        line.replace([QPointF(msecs(d), float(v)) for d, v in zip(days, values, strict=True)])
        pen = QPen(QColor(COLOURS[name]))
        pen.setWidthF(width)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        line.setPen(pen)
        self._chart.addSeries(line)
        self._series[name] = line
        return line

    def _band(self, name: str, days: list[dt.date], lower: list[float], upper: list[float]) -> None:
        # The area keeps its two lines; parenting them to it ties their lifetime to it.
        high, low = QLineSeries(), QLineSeries()
        high.replace([QPointF(msecs(d), float(v)) for d, v in zip(days, upper, strict=True)])
        low.replace([QPointF(msecs(d), float(v)) for d, v in zip(days, lower, strict=True)])
        area = QAreaSeries(high, low)
        high.setParent(area)
        low.setParent(area)
        area.setName(name)
        colour = QColor(COLOURS[name])
        colour.setAlpha(60 if name == BAND_95 else 110)
        area.setBrush(QBrush(colour))
        area.setPen(QPen(Qt.PenStyle.NoPen))
        self._chart.addSeries(area)
        self._series[name] = area

    def _axes(self, frequency: str) -> None:
        x_axis = QDateTimeAxis()
        x_axis.setFormat(DATE_FORMATS.get(frequency, "MMM yy"))
        x_axis.setTickCount(6)
        y_axis = QValueAxis()
        y_axis.setLabelFormat("%.0f")
        y_axis.setTitleText("units per period")
        self._chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
        self._chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)
        points = []
        for series in self._series.values():
            series.attachAxis(x_axis)
            series.attachAxis(y_axis)
            lines = (
                [series.upperSeries(), series.lowerSeries()]
                if isinstance(series, QAreaSeries)
                else [series]
            )
            points.extend(p for line in lines for p in line.points())
        # Both ranges set here: an axis shared by several series does not always span them all.
        xs, ys = [p.x() for p in points], [p.y() for p in points]
        x_axis.setRange(
            QDateTime.fromMSecsSinceEpoch(int(min(xs))), QDateTime.fromMSecsSinceEpoch(int(max(xs)))
        )
        low, high = min(0.0, *ys), max(ys)
        y_axis.setRange(low, high * 1.05 if high > 0 else 1.0)
        y_axis.applyNiceNumbers()
