"""Checking and preparing the long frame (``unique_id``, ``ds``, ``y``) the engine forecasts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from utilsforecast.preprocessing import fill_gaps

from app.forecasting.errors import ForecastInputError
from app.forecasting.frequency import Frequency, resolve_frequency

COLUMNS = ("unique_id", "ds", "y")
_SHOWN = 5


@dataclass(frozen=True)
class Histories:
    """The prepared frame and each series' values as one array with offsets."""

    frame: pd.DataFrame
    frequency: Frequency
    ids: np.ndarray
    values: np.ndarray
    # Series i is values[offsets[i]:offsets[i + 1]].
    offsets: np.ndarray
    first_dates: pd.DatetimeIndex
    last_dates: pd.DatetimeIndex

    def __len__(self) -> int:
        return len(self.ids)

    def history(self, i: int) -> np.ndarray:
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def _rows(mask: pd.Series) -> str:
    rows = [str(r) for r in mask[mask].index[:_SHOWN]]
    more = int(mask.sum()) - len(rows)
    return ", ".join(rows) + (f" and {more} more" if more > 0 else "")


def prepare(df: pd.DataFrame, freq: str) -> Histories:
    """Check ``df`` and return its series sorted, with missing periods filled with zero demand.

    A period missing between a series' first and last date had no demand lines,
    so it counts as zero. Dates must follow ``freq`` (see ``resolve_frequency``).
    """
    if not isinstance(df, pd.DataFrame):
        raise ForecastInputError("expected a pandas DataFrame with unique_id, ds and y")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ForecastInputError(f"the frame lacks the column(s) {', '.join(missing)}")
    if df.empty:
        raise ForecastInputError("the frame has no rows")
    frame = df.loc[:, list(COLUMNS)].copy()
    if frame["unique_id"].isna().any():
        raise ForecastInputError(f"unique_id is empty in rows {_rows(frame['unique_id'].isna())}")
    dates = pd.to_datetime(frame["ds"], errors="coerce")
    bad = dates.isna()
    if bad.any():
        raise ForecastInputError(f"ds is not a date in rows {_rows(bad)}")
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)
    frame["ds"] = dates.astype("datetime64[ns]")
    values = pd.to_numeric(frame["y"], errors="coerce").astype(float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise ForecastInputError(f"y is not a finite number in rows {_rows(bad)}")
    frame["y"] = values
    duplicated = frame.duplicated(["unique_id", "ds"], keep=False)
    if duplicated.any():
        raise ForecastInputError(
            f"each series may have one row per period; rows {_rows(duplicated)} repeat a period"
        )
    frequency = resolve_frequency(freq, frame["ds"])
    frame = fill_gaps(frame, freq=frequency.alias, start="per_serie", end="per_serie")
    frame["y"] = frame["y"].fillna(0.0)
    frame = frame.sort_values(["unique_id", "ds"], ignore_index=True)
    ids, starts = np.unique(frame["unique_id"].to_numpy(), return_index=True)
    offsets = np.append(starts, len(frame))
    ds = frame["ds"].to_numpy()
    return Histories(
        frame=frame,
        frequency=frequency,
        ids=ids,
        values=frame["y"].to_numpy(dtype=float),
        offsets=offsets,
        first_dates=pd.DatetimeIndex(ds[starts]),
        last_dates=pd.DatetimeIndex(ds[offsets[1:] - 1]),
    )
