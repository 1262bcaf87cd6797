"""Frequencies a forecast runs at: their pandas aliases and season lengths."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from app.forecasting.errors import ForecastInputError

# Season lengths by frequency: a week within a day series, a year within weekly and monthly ones.
SEASON_LENGTHS = {"daily": 7, "weekly": 52, "monthly": 12}
# A year of weeks, for seasonal terms that must not drift by a day a year.
WEEKS_PER_YEAR = 365.25 / 7
_WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_ALIASES = {
    "daily": "daily",
    "d": "daily",
    "weekly": "weekly",
    "w": "weekly",
    "monthly": "monthly",
    "m": "monthly",
    "ms": "monthly",
    "me": "monthly",
}


@dataclass(frozen=True)
class Frequency:
    """A series frequency: its name, the pandas alias its dates follow and its season."""

    name: str
    alias: str
    season_length: int
    # The exact length of the season in periods (52.18 weeks a year), for Fourier terms.
    season_period: float

    def future_dates(self, last: pd.Timestamp, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` period starts after ``last``."""
        return pd.date_range(last, periods=horizon + 1, freq=self.alias)[1:]


def resolve_frequency(freq: str, dates: pd.Series) -> Frequency:
    """The frequency named by ``freq`` (``weekly``, ``W-MON``, ``MS``...), anchored on ``dates``.

    Weekly dates must all fall on one weekday and monthly dates on the first (or all
    on the last) day of their month: the anchor is read from the data, so that future
    periods line up with the history.
    """
    key = str(freq).strip().lower()
    name = _ALIASES.get(key) or _ALIASES.get(key.split("-")[0])
    if name is None:
        raise ForecastInputError(
            f"unknown frequency {freq!r}: use daily, weekly or monthly (or D, W, MS)"
        )
    dates = pd.DatetimeIndex(dates.drop_duplicates())
    if (dates != dates.normalize()).any():
        raise ForecastInputError("ds must hold dates without a time of day")
    season = SEASON_LENGTHS[name]
    if name == "daily":
        return Frequency(name, "D", season, float(season))
    if name == "weekly":
        weekdays = set(dates.dayofweek)
        if len(weekdays) > 1:
            days = ", ".join(_WEEKDAYS[d] for d in sorted(weekdays))
            raise ForecastInputError(f"weekly dates must share one weekday; found {days}")
        weekday = weekdays.pop() if weekdays else 0
        return Frequency(name, f"W-{_WEEKDAYS[weekday]}", season, WEEKS_PER_YEAR)
    if dates.is_month_start.all():
        return Frequency(name, "MS", season, float(season))
    if dates.is_month_end.all():
        return Frequency(name, "ME", season, float(season))
    raise ForecastInputError(
        "monthly dates must all be the first day of their month (or all the last)"
    )
