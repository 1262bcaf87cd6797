"""Generated series with known shape, for the forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

YEAR_OF_WEEKS = 365.25 / 7


def weekly_seasonal(
    weeks: int = 104,
    *,
    level: float = 100.0,
    growth: float = 0.0,
    amplitude: float = 0.3,
    seed: int = 0,
    peak_week: float = 0.0,
) -> np.ndarray:
    """Weekly demand with a yearly cosine season, a yearly log-growth and Poisson noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    mean = level * np.exp(growth * t / YEAR_OF_WEEKS)
    mean = mean * (1 + amplitude * np.cos(2 * np.pi * (t - peak_week) / YEAR_OF_WEEKS))
    return rng.poisson(mean).astype(float)


def intermittent(periods: int = 104, chance: float = 0.25, size: float = 4.0, seed: int = 0):
    """Demand in about ``chance`` of the periods, with sizes near ``size``."""
    rng = np.random.default_rng(seed)
    hits = rng.random(periods) < chance
    return hits * (1 + rng.poisson(size - 1, periods)).astype(float)


def long_frame(series: dict[str, np.ndarray], start: str, freq: str) -> pd.DataFrame:
    """A long frame (unique_id, ds, y) from arrays that all start at ``start``."""
    parts = [
        pd.DataFrame(
            {"unique_id": uid, "ds": pd.date_range(start, periods=len(y), freq=freq), "y": y}
        )
        for uid, y in series.items()
    ]
    return pd.concat(parts, ignore_index=True)
