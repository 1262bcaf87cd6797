"""Model choice by rolling-origin cross-validation, and the CV errors safety stock needs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.forecasting import models as catalogue
from app.forecasting.batches import quietly, statsforecast_for, subframe
from app.forecasting.frame import Histories
from app.forecasting.frequency import Frequency
from app.forecasting.models import Mode
from app.forecasting.plan import SeriesPlan, candidates, groups
from app.forecasting.settings import Settings


def cross_validate(
    data: Histories, plans: list[SeriesPlan], horizon: int, settings: Settings
) -> np.ndarray:
    """Score each series' candidates, record its choice, return σ of its CV errors by step."""
    sigma = np.full((len(data), horizon), np.nan)
    index = {uid: i for i, uid in enumerate(data.ids)}

    def key(plan: SeriesPlan):
        if plan.windows == 0:
            return None
        return (plan.mode, plan.season_length, plan.arima, plan.windows)

    for (mode, _, _, windows), members in groups(plans, key).items():
        offered = candidates(plans[members[0]])
        frame = subframe(data, plans, members)
        sf = statsforecast_for(list(offered.values()), data.frequency, len(members), settings)
        cv = quietly(
            sf.cross_validation,
            df=frame,
            h=horizon,
            n_windows=windows,
            step_size=horizon,
            # Regular models are fitted at the first origin and carried forward to the
            # later ones (statsforecast's ``forward``), which halves the cost of choice.
            refit=mode is Mode.SPORADIC,
        )
        names = list(offered)
        if mode is not Mode.SPORADIC:
            ensemble = catalogue.members(catalogue.ENSEMBLE, plans[members[0]].arima)
            cv[catalogue.ENSEMBLE] = cv[list(ensemble)].mean(axis=1)
            names.append(catalogue.ENSEMBLE)
        rows = cv["unique_id"].map(index).to_numpy()
        step = cv.groupby(["unique_id", "cutoff"]).cumcount().to_numpy()
        if mode is Mode.FOURIER:
            factors = _history_factors(data, plans, rows, cv["ds"])
            for column in [*names, "y"]:
                cv[column] = cv[column].to_numpy() * factors
        errors = cv[names].to_numpy() - cv[["y"]].to_numpy()
        sporadic = mode is Mode.SPORADIC
        losses = pd.DataFrame(errors**2 if sporadic else np.abs(errors), columns=names)
        scores = losses.groupby(rows).mean()
        if sporadic:
            scores = np.sqrt(scores)
        default = catalogue.SPORADIC_DEFAULT if sporadic else catalogue.ENSEMBLE
        baseline = catalogue.BASELINE if catalogue.BASELINE in names else catalogue.NAIVE
        margin = settings.sporadic_selection_margin if sporadic else settings.selection_margin
        chosen = _choose(scores, default, margin)
        chosen_column = np.array([names.index(chosen[i]) for i in rows])
        chosen_errors = errors[np.arange(len(errors)), chosen_column]
        squares = pd.Series(chosen_errors**2).groupby([rows, step]).mean()
        sigma[squares.index.get_level_values(0), squares.index.get_level_values(1)] = np.sqrt(
            squares.to_numpy()
        )
        for i, score_row in scores.iterrows():
            plan = plans[int(i)]
            plan.model = chosen[int(i)]
            plan.selected_by = "cv"
            plan.cv_error = float(score_row[plan.model])
            if baseline in score_row:
                plan.cv_baseline_error = float(score_row[baseline])
    return sigma


def _choose(scores: pd.DataFrame, default: str, margin: float) -> dict[int, str]:
    """Each row's lowest-error candidate, unless the default is within ``margin`` of it."""
    best = scores.idxmin(axis=1)
    lowest = scores.min(axis=1)
    keep_default = scores[default] <= lowest * (1 + margin)
    return {int(i): default if keep_default[i] else str(best[i]) for i in scores.index}


def _history_factors(
    data: Histories, plans: list[SeriesPlan], rows: np.ndarray, dates: pd.Series
) -> np.ndarray:
    """Fourier factors of series ``rows[k]`` at ``dates[k]``, by period index from its start."""
    factors = np.ones(len(rows))
    starts = data.first_dates[rows]
    positions = _periods_between(starts, pd.DatetimeIndex(dates), data.frequency)
    for i in np.unique(rows):
        season = plans[i].fourier
        if season is not None:
            at = rows == i
            factors[at] = season.factors(positions[at])
    return factors


def _periods_between(
    starts: pd.DatetimeIndex, dates: pd.DatetimeIndex, frequency: Frequency
) -> np.ndarray:
    if frequency.name == "monthly":
        return (dates.year - starts.year) * 12 + (dates.month - starts.month)
    days = (dates - starts).days.to_numpy()
    return days // 7 if frequency.name == "weekly" else days
