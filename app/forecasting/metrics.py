"""Accuracy measures as the M competitions define them, for benchmarks and tests."""

from __future__ import annotations

import numpy as np


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean of 200·|y − f| / (|y| + |f|), in percent; a period where both are 0 scores 0."""
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(
        2 * np.abs(actual - forecast),
        denominator,
        out=np.zeros_like(denominator),
        where=denominator > 0,
    )
    return float(100 * np.mean(ratio))


def mase_scale(history: np.ndarray, season_length: int) -> float:
    """The in-sample mean absolute seasonal difference that MASE divides by.

    Falls back to the lag-1 difference when the history is shorter than two seasons.
    """
    history = np.asarray(history, float)
    lag = season_length if len(history) > season_length else 1
    if len(history) <= lag:
        return float("nan")
    return float(np.mean(np.abs(history[lag:] - history[:-lag])))


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute error over ``scale`` (see ``mase_scale``); NaN when the scale is 0."""
    error = float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))))
    return error / scale if scale > 0 else float("nan")


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actuals inside [lower, upper]."""
    actual = np.asarray(actual, float)
    return float(np.mean((actual >= np.asarray(lower)) & (actual <= np.asarray(upper))))
