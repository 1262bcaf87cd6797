"""The statsforecast models each kind of series is offered, and the default of each kind.

Regular demand (smooth or erratic) gets three models and their equal-weight
combination, which is the default: AutoETS restricted to damped trends, the
dynamic optimised Theta method and the standard Theta method; the seasonal
naive baseline (naive without a season) is a candidate too. The members were
chosen on a validation split of M3 monthly (the last 18 months of each training
series, never the test months), where this trio ranked first among the
combinations of AutoETS (plain and damped), complex exponential smoothing and
four Theta variants: sMAPE 13.89 and MASE 0.851, against 13.99 and 0.866 for
plain AutoETS with dynamic Theta and 15.11 and 0.928 for AutoETS alone.

AutoARIMA joins on request (``Settings.arima``) only: statsforecast fits it at
about 1.4 M3 monthly series a second, against some 20 for AutoETS, and adding
it to the combination made the validation sMAPE worse. Complex exponential
smoothing was left out as well: no gain in the combination, and intervals
simulated at about 0.2 s a series.

Sporadic demand (intermittent or lumpy) gets Croston's family: classic Croston,
the Syntetos–Boylan approximation (the default, which its authors recommend for
both sporadic classes), TSB, ADIDA and IMAPA.
"""

from __future__ import annotations

import enum
from typing import Any

from statsforecast.models import (
    ADIDA,
    IMAPA,
    TSB,
    AutoARIMA,
    AutoETS,
    CrostonClassic,
    CrostonSBA,
    DynamicOptimizedTheta,
    HistoricAverage,
    Naive,
    SeasonalNaive,
    Theta,
)
from statsforecast.utils import ConformalIntervals

ENSEMBLE = "Ensemble"
ZERO = "Zero"
SHORT = "HistoricAverage"
BASELINE = "SeasonalNaive"
NAIVE = "Naive"
# Members of the combination, in the order they are averaged.
ENSEMBLE_MEMBERS = ("DampedETS", "DynamicOptimizedTheta", "Theta")
ARIMA = "AutoARIMA"
SPORADIC_DEFAULT = "CrostonSBA"
# Seasons longer than this are removed by a Fourier regression first (see ``seasonality``).
MAX_NATIVE_SEASON = 24
# Smoothing constants for TSB, within the range its authors found to work.
TSB_ALPHA_DEMAND = 0.1
TSB_ALPHA_PROBABILITY = 0.1


class Mode(enum.StrEnum):
    """How a series is modelled, which fixes its candidate models."""

    ZERO = "zero"
    SHORT = "short"
    SPORADIC = "sporadic"
    # Regular demand with the season inside the models (seasons up to 24).
    SEASONAL = "seasonal"
    # Regular demand with a long season divided out by Fourier terms.
    FOURIER = "fourier"
    # Regular demand without a season (too short a history for one, or none found).
    PLAIN = "plain"


def members(model: str, with_arima: bool) -> tuple[str, ...]:
    """The statsforecast models a chosen model needs fitted."""
    if model == ENSEMBLE:
        return (*ENSEMBLE_MEMBERS, ARIMA) if with_arima else ENSEMBLE_MEMBERS
    return (model,)


def regular_models(season_length: int, *, with_arima: bool) -> dict[str, Any]:
    """Regular-demand candidates by name; ``season_length`` 1 means non-seasonal."""
    m = season_length
    models: dict[str, Any] = {
        "DampedETS": AutoETS(season_length=m, damped=True, alias="DampedETS"),
        "DynamicOptimizedTheta": DynamicOptimizedTheta(
            season_length=m, alias="DynamicOptimizedTheta"
        ),
        "Theta": Theta(season_length=m, alias="Theta"),
    }
    if with_arima:
        models[ARIMA] = AutoARIMA(season_length=m, alias=ARIMA)
    if m > 1:
        models[BASELINE] = SeasonalNaive(season_length=m, alias=BASELINE)
    else:
        models[NAIVE] = Naive(alias=NAIVE)
    return models


def sporadic_models(intervals: ConformalIntervals | None) -> dict[str, Any]:
    """Intermittent-demand candidates by name, with conformal intervals when given."""
    return {
        "CrostonClassic": CrostonClassic(prediction_intervals=intervals),
        "CrostonSBA": CrostonSBA(prediction_intervals=intervals),
        "TSB": TSB(TSB_ALPHA_DEMAND, TSB_ALPHA_PROBABILITY, prediction_intervals=intervals),
        "ADIDA": ADIDA(prediction_intervals=intervals),
        "IMAPA": IMAPA(prediction_intervals=intervals),
    }


def short_model() -> Any:
    return HistoricAverage(alias=SHORT)


def fallback_model() -> Any:
    """What statsforecast uses for a series on which a candidate fails to fit."""
    return Naive()
