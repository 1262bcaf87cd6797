"""Demand forecasting on statsforecast: classify, choose by cross-validation, forecast.

The frame-level engine works on a long pandas frame (``unique_id``, ``ds``, ``y``)
and never touches the store; a forecast run builds that frame from demand lines
and calls ``run_frame``, so ``forecast_frame`` gives exactly what a run stores.
"""

from app.forecasting.classify import ADI_CUTOFF, CV2_CUTOFF, Classification, DemandClass, classify
from app.forecasting.engine import FrameForecast, Settings, forecast_frame, run_frame
from app.forecasting.errors import ForecastInputError
from app.forecasting.frequency import Frequency, resolve_frequency
from app.forecasting.safety_stock import (
    DEFAULT_SERVICE_LEVEL,
    SafetyStock,
    from_cv_errors,
    from_forecast_quantiles,
    lead_time_sigma,
    safety_stocks,
)
from app.forecasting.trend import Direction, Trend, detect_trend, detect_trends

__all__ = [
    "ADI_CUTOFF",
    "CV2_CUTOFF",
    "DEFAULT_SERVICE_LEVEL",
    "Classification",
    "DemandClass",
    "Direction",
    "ForecastInputError",
    "FrameForecast",
    "Frequency",
    "SafetyStock",
    "Settings",
    "Trend",
    "classify",
    "detect_trend",
    "detect_trends",
    "forecast_frame",
    "from_cv_errors",
    "from_forecast_quantiles",
    "lead_time_sigma",
    "resolve_frequency",
    "run_frame",
    "safety_stocks",
]
