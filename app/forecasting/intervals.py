"""Interval rules every forecast leaves the engine with, whatever model made it.

- The 95% interval holds the 80% one, and both hold the point forecast.
- Intervals never narrow as the horizon grows: each half-width is the largest
  seen so far along the horizon, since being further out cannot make demand
  more certain (a model with a multiplicative season would otherwise narrow in
  its seasonal troughs).
- Demand is not negative: point forecasts and bounds are clipped at zero, after
  the rules above, so a clipped lower bound may stop widening.
"""

from __future__ import annotations

import numpy as np

BOUNDS = ("lo80", "hi80", "lo95", "hi95")
LEVELS = (80, 95)
# Empirical quantiles of a history that stand in for an interval, by bound.
_HISTORY_QUANTILES = {"lo80": 0.10, "hi80": 0.90, "lo95": 0.025, "hi95": 0.975}


def tidy(
    yhat: np.ndarray, bounds: dict[str, np.ndarray], *, clip: bool = True
) -> dict[str, np.ndarray]:
    """Apply the rules to ``(series, horizon)`` arrays; returns ``yhat`` and the four bounds."""
    down80 = np.maximum.accumulate(np.maximum(yhat - bounds["lo80"], 0), axis=1)
    up80 = np.maximum.accumulate(np.maximum(bounds["hi80"] - yhat, 0), axis=1)
    down95 = np.maximum.accumulate(np.maximum(yhat - bounds["lo95"], down80), axis=1)
    up95 = np.maximum.accumulate(np.maximum(bounds["hi95"] - yhat, up80), axis=1)
    out = {
        "yhat": yhat,
        "lo80": yhat - down80,
        "hi80": yhat + up80,
        "lo95": yhat - down95,
        "hi95": yhat + up95,
    }
    if clip:
        out = {name: np.maximum(values, 0.0) for name, values in out.items()}
    return out


def from_history(history: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Bounds from the history's own quantiles, flat over the horizon.

    For series too short for out-of-sample errors: the spread of what was seen
    is the honest statement of what may come.
    """
    return {
        name: np.full(horizon, float(np.quantile(history, q)))
        for name, q in _HISTORY_QUANTILES.items()
    }
