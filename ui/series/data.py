"""What the series explorer reads from the store: every series of a workspace, one series' detail.

``app.services.series`` shows one series or a page of them to the API; the
explorer needs all of a workspace's series at once as columns, with their
unread alert counts, and a series' demand history next to its forecast. Those
two reads are here; the forecast and safety stock come from the service.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import false, func, or_, select

from app.runs.series import PANDAS_FREQ, period_start
from app.services import series as series_service
from app.services.errors import NotFound
from app.store.db import Database
from app.store.models import Alert, DemandLine, Frequency, Series, Workspace
from app.store.types import utcnow

log = logging.getLogger(__name__)

# Periods of history the chart shows before the forecast: two years, or half a year of days.
HISTORY_PERIODS = {"daily": 182, "weekly": 104, "monthly": 24}


@dataclass(frozen=True)
class SeriesRows:
    """A workspace's series as columns, in (SKU, location) order.

    Text columns hold ``""`` for a missing value, so that they sort and filter
    without special cases.
    """

    ids: np.ndarray
    sku: list[str]
    location: list[str]
    product: list[str]
    demand_class: list[str]
    trend: list[str]
    trend_changed_at: list[dt.datetime | None]
    alerts: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> SeriesRows:
        return cls(np.zeros(0, dtype=np.int64), [], [], [], [], [], [], np.zeros(0, dtype=np.int64))


def load_series_rows(database: Database, workspace_id: int | None) -> SeriesRows:
    """Every series of the workspace (all workspaces when None) with its unread alert count."""
    unread = (
        select(Alert.series_id, func.count().label("unread"))
        .where(Alert.read.is_(false()), Alert.series_id.is_not(None))
        .group_by(Alert.series_id)
        .subquery()
    )
    query = (
        select(
            Series.id,
            Series.sku,
            Series.location,
            Series.product_name,
            Series.demand_class,
            Series.trend,
            Series.trend_changed_at,
            func.coalesce(unread.c.unread, 0),
        )
        .outerjoin(unread, unread.c.series_id == Series.id)
        .order_by(Series.sku, Series.location)
    )
    if workspace_id is not None:
        query = query.where(Series.workspace_id == workspace_id)
    with database.engine.connect() as connection:
        rows = connection.execute(query).all()
    if not rows:
        return SeriesRows.empty()
    ids, skus, locations, products, classes, trends, changed, alerts = zip(*rows, strict=True)
    return SeriesRows(
        ids=np.fromiter(ids, dtype=np.int64, count=len(rows)),
        sku=list(skus),
        location=list(locations),
        product=[p or "" for p in products],
        demand_class=[c or "" for c in classes],
        trend=[t or "" for t in trends],
        trend_changed_at=list(changed),
        alerts=np.fromiter(alerts, dtype=np.int64, count=len(rows)),
    )


@dataclass(frozen=True)
class SeriesDetail:
    """One series with its latest forecast, safety stock and recent history, for the chart.

    ``forecast`` and ``stock`` are the service's views (None before a complete
    run covered the series); ``history`` is (period start, demand) of complete
    periods up to the forecast's first.
    """

    series: dict[str, Any]
    frequency: str
    forecast: dict[str, Any] | None = None
    stock: dict[str, Any] | None = None
    history: list[tuple[dt.date, float]] = field(default_factory=list)
    unread_alerts: int = 0

    @property
    def label(self) -> str:
        sku, location = self.series["sku"], self.series["location"]
        return sku if location == "default" else f"{sku} at {location}"

    @property
    def model(self) -> str | None:
        return self.forecast["model"] if self.forecast else None

    @property
    def cv_sigma(self) -> float | None:
        """The per-period forecast error measured by cross-validation, when there was enough
        history to measure it (the ``cv_sigma`` safety stock method's σ)."""
        if self.stock is None:
            return None
        for stock in (self.stock, *self.stock.get("alternatives", ())):
            if stock["method"] == "cv_sigma":
                sigma = stock["inputs"].get("sigma")
                return float(sigma) if sigma is not None else None
        return None

    @property
    def periods(self) -> list[dict[str, Any]]:
        return list(self.forecast["periods"]) if self.forecast else []


def series_detail(database: Database, series_id: int) -> SeriesDetail:
    """The series, its latest forecast and safety stock, and its history before the forecast.

    Raises:
        NotFound: no such series.
    """
    series = series_service.get_series(database, series_id)
    try:
        forecast = series_service.series_forecast(database, series_id)
    except NotFound:
        forecast = None
    stock = None
    if forecast is not None:
        try:
            stock = series_service.safety_stock(database, forecast["run_id"], series_id)
        except NotFound:
            stock = None
    with database.session() as session:
        workspace = session.get(Workspace, series["workspace_id"])
        frequency = forecast["frequency"] if forecast else workspace.frequency.value
        unread = session.scalar(
            select(func.count())
            .select_from(Alert)
            .where(Alert.series_id == series_id, Alert.read.is_(false()))
        )
    first = (
        dt.date.fromisoformat(forecast["periods"][0]["period_start"])
        if forecast and forecast["periods"]
        else period_start(utcnow().date(), Frequency(frequency))
    )
    history = series_history(database, series, Frequency(frequency), before=first)
    return SeriesDetail(
        series=series,
        frequency=frequency,
        forecast=forecast,
        stock=stock,
        history=history,
        unread_alerts=int(unread or 0),
    )


def series_history(
    database: Database, series: dict[str, Any], frequency: Frequency, *, before: dt.date
) -> list[tuple[dt.date, float]]:
    """Demand per period before ``before``, zeros where nothing sold, as a run counts it.

    Cancelled lines are left out and returns net out, as in a run's history.
    """
    query = (
        select(DemandLine.order_date, func.sum(DemandLine.quantity))
        .where(
            DemandLine.workspace_id == series["workspace_id"],
            DemandLine.sku == series["sku"],
            DemandLine.location == series["location"],
            DemandLine.order_date < before,
            or_(DemandLine.status.is_(None), DemandLine.status != "cancelled"),
        )
        .group_by(DemandLine.order_date)
    )
    with database.engine.connect() as connection:
        days = connection.execute(query).all()
    if not days:
        return []
    totals: dict[dt.date, float] = {}
    for day, quantity in days:
        start = period_start(day, frequency)
        totals[start] = totals.get(start, 0.0) + float(quantity)
    last = pd.Timestamp(before) - pd.tseries.frequencies.to_offset(PANDAS_FREQ[frequency])
    calendar = pd.date_range(min(totals), last, freq=PANDAS_FREQ[frequency])
    shown = calendar[-HISTORY_PERIODS[frequency.value] :]
    return [(stamp.date(), totals.get(stamp.date(), 0.0)) for stamp in shown]
