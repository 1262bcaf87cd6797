"""Safety stock and reorder point, two ways, each returning the inputs it used.

- ``from_cv_errors``: SS = z · σ · √L, with σ the per-period forecast error
  measured by rolling-origin cross-validation (out of sample, so it is not the
  flattering in-sample residual), z the normal quantile of the service level
  and L the lead time in periods.
- ``from_forecast_quantiles``: the service-level quantile of lead-time demand
  read from the forecast's own 80% and 95% intervals, period by period, and
  added up over the lead time as independent periods.

Both take the lead-time demand as the sum of the point forecasts over the lead
time (a fractional last period counts pro rata) and set the reorder point to
lead-time demand plus safety stock. Service level means cycle service level:
the chance of not running out during one replenishment lead time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

DEFAULT_SERVICE_LEVEL = 0.95
# The 80% and 95% intervals bound the 90% and 97.5% quantiles.
_Z80 = float(norm.ppf(0.90))
_Z95 = float(norm.ppf(0.975))


@dataclass(frozen=True)
class SafetyStock:
    """A safety stock and reorder point with everything needed to explain them."""

    method: str
    service_level: float
    lead_time_periods: float
    safety_stock: float
    lead_time_demand: float
    reorder_point: float
    inputs: dict[str, Any] = field(default_factory=dict)


def _weights(lead_time: float, horizon: int) -> np.ndarray:
    """Each period's share of the lead time: 1 for whole periods, the fraction for the last."""
    if not math.isfinite(lead_time) or lead_time <= 0:
        raise ValueError(f"lead time must be a positive number of periods, not {lead_time}")
    periods = math.ceil(lead_time)
    if periods > horizon:
        raise ValueError(
            f"lead time of {lead_time:g} periods is longer than the forecast horizon ({horizon})"
        )
    weights = np.ones(periods)
    weights[-1] = lead_time - (periods - 1)
    return weights


def _check_service_level(service_level: float) -> float:
    if not 0.5 <= service_level < 1:
        raise ValueError(f"service level must be at least 0.5 and below 1, not {service_level}")
    return float(norm.ppf(service_level))


def lead_time_sigma(cv_sigma: Sequence[float], lead_time: float) -> float:
    """One per-period σ from per-step CV error σ: their quadratic mean over the lead time's steps.

    Errors grow with the step ahead, so the σ of the steps a replenishment spans
    is what the √L rule should scale; steps without CV errors (NaN) are skipped.
    """
    sigma = np.asarray(cv_sigma, dtype=float)[: math.ceil(lead_time)]
    sigma = sigma[np.isfinite(sigma)]
    if sigma.size == 0:
        raise ValueError("no cross-validation errors cover the lead time")
    return float(np.sqrt(np.mean(sigma**2)))


def from_cv_errors(
    forecast: Sequence[float],
    sigma: float,
    lead_time: float,
    service_level: float = DEFAULT_SERVICE_LEVEL,
) -> SafetyStock:
    """SS = z·σ·√L with σ the per-period cross-validation error (see ``lead_time_sigma``)."""
    z = _check_service_level(service_level)
    yhat = np.asarray(forecast, dtype=float)
    weights = _weights(lead_time, yhat.size)
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"σ must be a non-negative number, not {sigma}")
    demand = float(weights @ yhat[: weights.size])
    stock = z * sigma * math.sqrt(lead_time)
    return SafetyStock(
        method="cv_sigma",
        service_level=service_level,
        lead_time_periods=lead_time,
        safety_stock=stock,
        lead_time_demand=demand,
        reorder_point=demand + stock,
        inputs={"z": z, "sigma": sigma, "sqrt_lead_time": math.sqrt(lead_time)},
    )


def from_forecast_quantiles(
    forecast: Sequence[float],
    hi80: Sequence[float],
    hi95: Sequence[float],
    lead_time: float,
    service_level: float = DEFAULT_SERVICE_LEVEL,
) -> SafetyStock:
    """The service-level quantile of lead-time demand from the forecast intervals.

    Each period's distance from the point forecast to its service-level quantile is
    interpolated (in z) between the upper bounds of the 80% and 95% intervals, which
    keeps a skewed interval skewed, and beyond them scaled by z. Periods are added
    as independent: the lead-time excess is the root of the sum of their squares.
    """
    z = _check_service_level(service_level)
    yhat = np.asarray(forecast, dtype=float)
    weights = _weights(lead_time, yhat.size)
    span = slice(0, weights.size)
    upper80 = np.maximum(np.asarray(hi80, dtype=float)[span] - yhat[span], 0)
    upper95 = np.maximum(np.asarray(hi95, dtype=float)[span] - yhat[span], 0)
    if z <= _Z80:
        excess = upper80 * z / _Z80
    elif z >= _Z95:
        excess = upper95 * z / _Z95
    else:
        share = (z - _Z80) / (_Z95 - _Z80)
        excess = upper80 + share * (upper95 - upper80)
    demand = float(weights @ yhat[span])
    stock = float(np.sqrt(weights @ excess**2))
    return SafetyStock(
        method="forecast_quantile",
        service_level=service_level,
        lead_time_periods=lead_time,
        safety_stock=stock,
        lead_time_demand=demand,
        reorder_point=demand + stock,
        inputs={"z": z, "period_excess": [round(float(e), 6) for e in excess]},
    )


def safety_stocks(
    forecast: Sequence[float],
    hi80: Sequence[float],
    hi95: Sequence[float],
    cv_sigma: Sequence[float],
    *,
    lead_time: float,
    service_level: float = DEFAULT_SERVICE_LEVEL,
) -> list[SafetyStock]:
    """Both methods for one series, from a ``run_frame`` result's rows for it.

    ``cv_sigma`` is the series' row of ``FrameForecast.cv_sigma``. The σ rule is
    left out when no cross-validation error covers the lead time (a history too
    short to validate on); the quantile rule always applies.
    """
    stocks = []
    sigma = np.asarray(cv_sigma, dtype=float)[: math.ceil(lead_time)]
    if np.isfinite(sigma).any():
        stocks.append(
            from_cv_errors(forecast, lead_time_sigma(sigma, lead_time), lead_time, service_level)
        )
    stocks.append(from_forecast_quantiles(forecast, hi80, hi95, lead_time, service_level))
    return stocks
