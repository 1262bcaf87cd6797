"""The forecasting engine: classify each series, choose its model, forecast with intervals.

``run_frame`` does the whole job on a long frame and returns the forecasts with
what a run stores beside them (class, model, cross-validation errors, trend);
``forecast_frame`` returns only the forecasts. A forecast run calls the same
function, so a notebook and a run never disagree.

How a series is forecast:

1. Its class by ADI and CV² (``classify``) and its history length fix its mode
   (``models.Mode``) and so its candidate models.
2. Where the history allows, rolling-origin cross-validation scores every
   candidate over up to ``cv_windows`` forecast origins, ``horizon`` periods
   apart (mean absolute error for regular demand; root mean squared error for
   sporadic demand, whose median is often zero and would reward forecasting
   nothing). The mode's default (the combination of damped AutoETS and two
   Theta methods for regular demand, the Syntetos–Boylan approximation for
   sporadic demand) is kept unless a challenger beats it by the selection
   margin; where the history is too short for a window, the default is used.
3. Only the chosen model (or the combination's members) is fitted on the full
   history, with 80% and 95% intervals: the models' own for regular demand
   (the combination averages its members' bounds, Lichtendahl, Grushka-Cockayne
   and Winkler 2013), conformal ones from statsforecast for Croston's family,
   which has none, and the history's quantiles where a history is too short for
   either. ``intervals.tidy`` then applies the rules every interval obeys.

The steps live in ``plan`` (1), ``selection`` (2) and ``fitting`` (3).

Known limit: the long-season (Fourier) factors are estimated once on the whole
history, so cross-validation windows see a season fitted partly on their own
test periods; every candidate shares that advantage, so the ranking is fair,
but the CV errors of those series are slightly optimistic.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.forecasting.errors import ForecastInputError
from app.forecasting.fitting import FORECAST_COLUMNS, forecast
from app.forecasting.frame import Histories, prepare
from app.forecasting.frequency import Frequency
from app.forecasting.models import Mode
from app.forecasting.plan import SeriesPlan, plan_series
from app.forecasting.selection import cross_validate
from app.forecasting.settings import Settings
from app.forecasting.trend import Trend, detect_trends
from app.limits import MAX_HORIZON

__all__ = ["FORECAST_COLUMNS", "FrameForecast", "Settings", "forecast_frame", "run_frame"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameForecast:
    """Forecasts of a frame with what a run keeps per series.

    ``forecasts`` has ``FORECAST_COLUMNS``, one row per series and period.
    ``series`` has one row per series (index ``unique_id``): ``observations``,
    ``demand_class``, ``adi``, ``cv2``, ``mode``, ``season_length`` (the one the
    models used, 1 for none), ``fourier_order``, ``model``, ``selected_by``
    (``cv`` or ``default``), ``cv_windows``, ``cv_metric``, ``cv_error`` and
    ``cv_baseline_error`` (the chosen model's and the naive baseline's), and the
    trend: ``trend``, ``trend_slope``, ``trend_relative_slope``,
    ``trend_p_value``, ``trend_window``.
    ``cv_sigma`` holds, per series (rows) and step ahead (columns 1..horizon),
    the root mean squared cross-validation error of the chosen model, NaN where
    the history was too short for cross-validation; pass a series' row to
    ``safety_stock.safety_stocks`` (or ``lead_time_sigma``).
    """

    forecasts: pd.DataFrame
    series: pd.DataFrame
    cv_sigma: pd.DataFrame
    frequency: Frequency
    horizon: int
    timings: dict[str, float] = field(default_factory=dict)


def forecast_frame(
    df: pd.DataFrame, horizon: int, freq: str, settings: Settings | None = None
) -> pd.DataFrame:
    """Forecast every series of a long frame (``unique_id``, ``ds``, ``y``).

    Returns one row per series and period with ``yhat``, ``lo80``, ``hi80``,
    ``lo95``, ``hi95`` and ``model``. ``freq`` is ``daily``, ``weekly`` or
    ``monthly`` (or a pandas alias: ``D``, ``W``, ``MS``). Forecasts and bounds are
    clipped at zero, as demand is never negative; missing periods inside a
    series count as zero demand. See ``run_frame`` for the per-series details.
    """
    return run_frame(df, horizon, freq, settings).forecasts


def run_frame(
    df: pd.DataFrame, horizon: int, freq: str, settings: Settings | None = None
) -> FrameForecast:
    """Forecast a long frame and return forecasts, per-series choices, CV errors and trends."""
    settings = settings or Settings()
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer):
        raise ForecastInputError(f"horizon must be a whole number of periods, not {horizon!r}")
    if not 1 <= horizon <= MAX_HORIZON:
        raise ForecastInputError(f"horizon must be between 1 and {MAX_HORIZON} periods")
    horizon = int(horizon)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    data = prepare(df, freq)
    plans = plan_series(data, horizon, settings)
    timings["prepare"] = time.perf_counter() - started
    mark = time.perf_counter()
    sigma = cross_validate(data, plans, horizon, settings)
    timings["cross_validation"] = time.perf_counter() - mark
    mark = time.perf_counter()
    forecasts = forecast(data, plans, horizon, settings)
    timings["forecast"] = time.perf_counter() - mark
    mark = time.perf_counter()
    trends = detect_trends(
        [data.history(i) for i in range(len(data))],
        data.frequency.season_length,
        season_period=data.frequency.season_period,
    )
    timings["trend"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    logger.info("forecast %s series, horizon %s, in %.1f s", len(data), horizon, timings["total"])
    return FrameForecast(
        forecasts=forecasts,
        series=_series_table(data, plans, trends),
        cv_sigma=pd.DataFrame(
            sigma, index=pd.Index(data.ids, name="unique_id"), columns=range(1, horizon + 1)
        ),
        frequency=data.frequency,
        horizon=horizon,
        timings=timings,
    )


def _series_table(data: Histories, plans: list[SeriesPlan], trends: list[Trend]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "observations": data.lengths,
            "demand_class": [str(p.classification.demand_class) for p in plans],
            "adi": [p.classification.adi for p in plans],
            "cv2": [p.classification.cv2 for p in plans],
            "mode": [str(p.mode) for p in plans],
            "season_length": [p.season_length for p in plans],
            "fourier_order": [p.fourier.order if p.fourier else 0 for p in plans],
            "model": [p.model for p in plans],
            "selected_by": [p.selected_by for p in plans],
            "cv_windows": [p.windows for p in plans],
            "cv_metric": ["rmse" if p.mode is Mode.SPORADIC else "mae" for p in plans],
            "cv_error": [p.cv_error for p in plans],
            "cv_baseline_error": [p.cv_baseline_error for p in plans],
            "trend": [str(t.direction) for t in trends],
            "trend_slope": [t.slope for t in trends],
            "trend_relative_slope": [t.relative_slope for t in trends],
            "trend_p_value": [t.p_value for t in trends],
            "trend_window": [t.window for t in trends],
        },
        index=pd.Index(data.ids, name="unique_id"),
    )
