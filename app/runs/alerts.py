"""Demand alerts after a run: what an operator should look at, in plain words.

Three rules, each comparing this run with the workspace's previous complete run
or with the series' own history:

- ``spike`` / ``drop``: an actual period that the previous run forecast fell
  outside that forecast's 95% interval;
- ``forecast_shift``: the new forecast's total over the periods both runs cover
  moved by more than ``SHIFT_SHARE`` against the previous one;
- ``silent``: a series that used to sell has sold nothing for ``SILENT_PERIODS``
  periods in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

SHIFT_SHARE = 0.3
# Periods without demand before a selling series counts as silent, by frequency.
SILENT_PERIODS = {"daily": 14, "weekly": 4, "monthly": 2}
# A series sells "regularly" when at least this share of its earlier periods had demand.
SILENT_MIN_SHARE = 0.5


@dataclass(frozen=True)
class AlertDraft:
    series_id: int
    kind: str
    severity: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def _label(names: dict[int, tuple[str, str]], series_id: int) -> str:
    sku, location = names[series_id]
    return sku if location == "default" else f"{sku} at {location}"


def interval_breaks(
    actuals: pd.DataFrame, previous: pd.DataFrame, names: dict[int, tuple[str, str]]
) -> list[AlertDraft]:
    """Actual periods outside the previous run's 95% interval.

    ``actuals``: series_id, ds, y. ``previous``: series_id, ds, yhat, lo95, hi95.
    """
    joined = actuals.merge(previous, on=["series_id", "ds"], how="inner")
    outside = joined[(joined["y"] > joined["hi95"]) | (joined["y"] < joined["lo95"])]
    drafts = []
    for row in outside.itertuples(index=False):
        spike = row.y > row.hi95
        width = max(row.hi95 - row.lo95, 1e-9)
        beyond = (row.y - row.hi95) if spike else (row.lo95 - row.y)
        period = pd.Timestamp(row.ds).date().isoformat()
        drafts.append(
            AlertDraft(
                series_id=int(row.series_id),
                kind="spike" if spike else "drop",
                severity="critical" if beyond > width else "warning",
                message=(
                    f"{_label(names, int(row.series_id))} {'sold' if spike else 'sold only'} "
                    f"{row.y:g} in the period of {period}, "
                    f"{'above' if spike else 'below'} the expected {row.lo95:.4g} to "
                    f"{row.hi95:.4g}."
                ),
                details={
                    "period": period,
                    "actual": float(row.y),
                    "forecast": float(row.yhat),
                    "lo95": float(row.lo95),
                    "hi95": float(row.hi95),
                },
            )
        )
    return drafts


def forecast_shifts(
    current: pd.DataFrame, previous: pd.DataFrame, names: dict[int, tuple[str, str]]
) -> list[AlertDraft]:
    """Series whose forecast total over the shared periods moved more than ``SHIFT_SHARE``."""
    joined = current.merge(previous, on=["series_id", "ds"], suffixes=("", "_prev"))
    if joined.empty:
        return []
    totals = joined.groupby("series_id").agg(
        new=("yhat", "sum"), old=("yhat_prev", "sum"), periods=("ds", "count")
    )
    drafts = []
    for series_id, row in totals.iterrows():
        old, new, periods = float(row["old"]), float(row["new"]), int(row["periods"])
        # Slow movers (under a unit a period) swing by whole units: not worth an alert.
        if old <= 0 or max(old, new) < periods:
            continue
        change = (new - old) / old
        if abs(change) <= SHIFT_SHARE:
            continue
        drafts.append(
            AlertDraft(
                series_id=int(series_id),
                kind="forecast_shift",
                severity="critical" if abs(change) >= 1 else "warning",
                message=(
                    f"The forecast for {_label(names, int(series_id))} moved "
                    f"{'up' if change > 0 else 'down'} {abs(change):.0%} over the next "
                    f"{periods} periods ({old:.4g} to {new:.4g})."
                ),
                details={
                    "previous_total": old,
                    "new_total": new,
                    "periods": periods,
                    "change": change,
                },
            )
        )
    return drafts


def silent_series(
    history: pd.DataFrame, frequency: str, names: dict[int, tuple[str, str]]
) -> list[AlertDraft]:
    """Series that sold in most earlier periods and nothing in the last few."""
    quiet = SILENT_PERIODS[frequency]
    drafts = []
    for series_id, group in history.groupby("series_id", sort=False):
        y = group["y"].to_numpy()
        if y.size <= quiet * 2:
            continue
        recent, earlier = y[-quiet:], y[:-quiet]
        if recent.any() or (earlier > 0).mean() < SILENT_MIN_SHARE:
            continue
        last_sale = group["ds"].to_numpy()[:-quiet][earlier > 0][-1]
        drafts.append(
            AlertDraft(
                series_id=int(series_id),
                kind="silent",
                severity="warning",
                message=(
                    f"{_label(names, int(series_id))} has sold nothing for {quiet} {frequency} "
                    f"periods; it sold in {(earlier > 0).mean():.0%} of the periods before."
                ),
                details={
                    "periods_without_demand": quiet,
                    "last_sale_period": pd.Timestamp(last_sale).date().isoformat(),
                },
            )
        )
    return drafts
