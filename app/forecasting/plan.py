"""What the engine decides for each series before fitting: its mode, season and windows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from statsforecast.utils import ConformalIntervals

from app.forecasting import models as catalogue
from app.forecasting.classify import Classification, DemandClass, classify
from app.forecasting.frame import Histories
from app.forecasting.models import Mode
from app.forecasting.seasonality import FourierSeason, fit_fourier_seasons
from app.forecasting.settings import Settings

# Fewer observations than this get the history's average: the models need more to fit.
MIN_FIT = 10


@dataclass
class SeriesPlan:
    """What the engine decided for one series."""

    classification: Classification
    mode: Mode
    season_length: int = 1
    fourier: FourierSeason | None = None
    arima: bool = False
    windows: int = 0
    model: str = ""
    selected_by: str = "default"
    cv_error: float = float("nan")
    cv_baseline_error: float = float("nan")


def plan_series(data: Histories, horizon: int, settings: Settings) -> list[SeriesPlan]:
    """Classify each series and fix its mode, season, default model and CV windows."""
    m = data.frequency.season_length
    arima = settings.arima
    plans = []
    for i in range(len(data)):
        y = data.history(i)
        classification = classify(y)
        demand_class = classification.demand_class
        if demand_class is DemandClass.ZERO:
            plan = SeriesPlan(classification, Mode.ZERO, model=catalogue.ZERO)
        elif len(y) < MIN_FIT:
            plan = SeriesPlan(classification, Mode.SHORT, model=catalogue.SHORT)
        elif demand_class.sporadic:
            plan = SeriesPlan(classification, Mode.SPORADIC, model=catalogue.SPORADIC_DEFAULT)
        elif m > 1 and len(y) >= 2 * m:
            mode = Mode.SEASONAL if m <= catalogue.MAX_NATIVE_SEASON else Mode.FOURIER
            plan = SeriesPlan(classification, mode, season_length=m if mode is Mode.SEASONAL else 1)
        else:
            plan = SeriesPlan(classification, Mode.PLAIN)
        if plan.mode in (Mode.SEASONAL, Mode.FOURIER, Mode.PLAIN):
            plan.model = catalogue.ENSEMBLE
            plan.arima = arima
        plans.append(plan)
    fourier = [i for i, plan in enumerate(plans) if plan.mode is Mode.FOURIER]
    seasons = fit_fourier_seasons([data.history(i) for i in fourier], data.frequency.season_period)
    for i, season in zip(fourier, seasons, strict=True):
        if season.order == 0:
            plans[i].mode = Mode.PLAIN
        else:
            plans[i].fourier = season
    for i, plan in enumerate(plans):
        plan.windows = cv_windows_for(len(data.history(i)), plan, horizon, settings.cv_windows)
    return plans


def cv_windows_for(n: int, plan: SeriesPlan, horizon: int, most: int) -> int:
    """How many rolling origins, ``horizon`` apart, a history affords for model choice."""
    if plan.mode in (Mode.ZERO, Mode.SHORT) or most <= 0:
        return 0
    least_train = max(MIN_FIT, 2 * plan.season_length if plan.season_length > 1 else 0)
    spare = n - least_train - horizon
    return 0 if spare < 0 else min(most, spare // horizon + 1)


def candidates(plan: SeriesPlan, intervals: ConformalIntervals | None = None) -> dict[str, Any]:
    """The statsforecast models a series' mode offers, by name."""
    if plan.mode is Mode.SPORADIC:
        return catalogue.sporadic_models(intervals)
    return catalogue.regular_models(plan.season_length, with_arima=plan.arima)


def groups(plans: list[SeriesPlan], key: Callable[[SeriesPlan], Any]) -> dict[Any, list[int]]:
    """Series indices by ``key(plan)``, leaving out those whose key is None."""
    found: dict[Any, list[int]] = {}
    for i, plan in enumerate(plans):
        k = key(plan)
        if k is not None:
            found.setdefault(k, []).append(i)
    return found
