"""Demand lines → regular per-series history, aggregated in SQL.

A series is (workspace, sku, location). Quantities are summed per calendar
period in the database (returns, being negative, net out; cancelled lines are
left out); only the aggregated rows travel to Python, where gaps are filled
with zeros. The period that contains ``as_of`` is still running and is left
out, so a half week never reads as a drop in demand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Date, cast, func, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.store.models import DemandLine, Frequency, Series

PANDAS_FREQ = {Frequency.DAILY: "D", Frequency.WEEKLY: "W-MON", Frequency.MONTHLY: "MS"}


def period_start(day: dt.date, frequency: Frequency) -> dt.date:
    """The first day of the period holding ``day`` (weeks start on Monday)."""
    if frequency is Frequency.WEEKLY:
        return day - dt.timedelta(days=day.weekday())
    if frequency is Frequency.MONTHLY:
        return day.replace(day=1)
    return day


def _bucket(session: Session, frequency: Frequency) -> ColumnElement:
    column = DemandLine.order_date
    if frequency is Frequency.DAILY:
        return column
    if session.get_bind().dialect.name == "postgresql":
        unit = "week" if frequency is Frequency.WEEKLY else "month"
        return cast(func.date_trunc(unit, column), Date)
    if frequency is Frequency.WEEKLY:
        # SQLite: move to the week's Sunday ('weekday 0' keeps a Sunday), then back to Monday.
        return func.date(column, "weekday 0", "-6 days")
    return func.date(column, "start of month")


@dataclass(frozen=True)
class History:
    """Regular history of a workspace's series, ready for the forecasting engine.

    ``frame`` is long (``unique_id``, ``ds``, ``y``) with ``unique_id`` the
    series id as text; ``series`` maps that id to (sku, location).
    """

    frame: pd.DataFrame
    series: dict[str, tuple[str, str]]
    last_period: dt.date | None


def ensure_series(session: Session, workspace_id: int) -> None:
    """Create a Series row for every (sku, location) that has lines but no series yet."""
    known = {
        tuple(row)
        for row in session.execute(
            select(Series.sku, Series.location).where(Series.workspace_id == workspace_id)
        )
    }
    seen = session.execute(
        select(DemandLine.sku, DemandLine.location, func.max(DemandLine.product_name))
        .where(DemandLine.workspace_id == workspace_id)
        .group_by(DemandLine.sku, DemandLine.location)
    )
    new = [
        {"workspace_id": workspace_id, "sku": sku, "location": location, "product_name": name}
        for sku, location, name in seen
        if (sku, location) not in known
    ]
    if new:
        session.execute(insert(Series.__table__), new)


def build_history(
    session: Session, workspace_id: int, frequency: Frequency, as_of: dt.date
) -> History:
    """Aggregate the workspace's demand into complete periods before ``as_of``'s."""
    ensure_series(session, workspace_id)
    cutoff = period_start(as_of, frequency)
    bucket = _bucket(session, frequency).label("ds")
    query = (
        select(Series.id, bucket, func.sum(DemandLine.quantity).label("y"))
        .join(
            Series,
            (Series.workspace_id == DemandLine.workspace_id)
            & (Series.sku == DemandLine.sku)
            & (Series.location == DemandLine.location),
        )
        .where(
            DemandLine.workspace_id == workspace_id,
            DemandLine.order_date < cutoff,
            or_(DemandLine.status.is_(None), DemandLine.status != "cancelled"),
        )
        .group_by(Series.id, bucket)
    )
    raw = pd.DataFrame(session.execute(query).all(), columns=["series_id", "ds", "y"])
    names = {
        str(series_id): (sku, location)
        for series_id, sku, location in session.execute(
            select(Series.id, Series.sku, Series.location).where(
                Series.workspace_id == workspace_id
            )
        )
    }
    if raw.empty:
        return History(pd.DataFrame(columns=["unique_id", "ds", "y"]), names, None)
    raw["unique_id"] = raw["series_id"].astype(str)
    raw["ds"] = pd.to_datetime(raw["ds"])
    raw["y"] = raw["y"].astype(float)
    freq = PANDAS_FREQ[frequency]
    last = pd.Timestamp(cutoff) - pd.tseries.frequencies.to_offset(freq)
    return History(_fill_gaps(raw, freq, last), names, last.date())


def _fill_gaps(raw: pd.DataFrame, freq: str, last: pd.Timestamp) -> pd.DataFrame:
    """Every period from a series' first demand to ``last``, zeros where nothing sold."""
    starts = raw.groupby("unique_id")["ds"].min()
    starts = starts[starts <= last]
    calendar = pd.date_range(starts.min(), last, freq=freq)
    first = calendar.get_indexer(starts.to_numpy())
    lengths = len(calendar) - first
    # One row per series and period, built with array arithmetic (no per-series loop).
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    grid = pd.DataFrame(
        {
            "unique_id": np.repeat(starts.index.to_numpy(), lengths),
            "ds": calendar[np.repeat(first, lengths) + offsets],
        }
    )
    frame = grid.merge(raw[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="left")
    frame["y"] = frame["y"].fillna(0.0)
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)
