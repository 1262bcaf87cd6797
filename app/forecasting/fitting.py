"""The final fits: each series' chosen model on its whole history, with intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsforecast.utils import ConformalIntervals

from app.forecasting import models as catalogue
from app.forecasting.batches import quietly, statsforecast_for, subframe
from app.forecasting.frame import Histories
from app.forecasting.intervals import BOUNDS, LEVELS, from_history, tidy
from app.forecasting.models import Mode
from app.forecasting.plan import SeriesPlan, candidates, groups
from app.forecasting.settings import Settings

FORECAST_COLUMNS = ("unique_id", "ds", "yhat", "lo80", "hi80", "lo95", "hi95", "model")


def forecast(
    data: Histories, plans: list[SeriesPlan], horizon: int, settings: Settings
) -> pd.DataFrame:
    yhat = np.zeros((len(data), horizon))
    bounds = {name: np.zeros((len(data), horizon)) for name in BOUNDS}
    conformal = ConformalIntervals(h=horizon, n_windows=settings.conformal_windows)

    def key(plan: SeriesPlan):
        if plan.mode is Mode.ZERO:
            return None
        if plan.mode is Mode.SPORADIC:
            # Conformal intervals need two windows of errors besides the training data.
            has_windows = plan.classification.periods > 2 * horizon
            return (plan.mode, plan.model, has_windows, 1, False)
        return (plan.mode, plan.model, True, plan.season_length, plan.arima)

    for (mode, model, has_windows, _, arima), members in groups(plans, key).items():
        native = mode is not Mode.SHORT and has_windows
        if mode is Mode.SHORT:
            models = [catalogue.short_model()]
        else:
            offered = candidates(plans[members[0]], conformal if native else None)
            models = [offered[name] for name in catalogue.members(model, arima)]
        frame = subframe(data, plans, members)
        sf = statsforecast_for(models, data.frequency, len(members), settings)
        out = quietly(sf.forecast, df=frame, h=horizon, level=list(LEVELS) if native else None)
        names = [repr(m) for m in models]
        rows = np.asarray(members)
        order = np.argsort(data.ids[rows], kind="stable")
        rows = rows[order]
        yhat[rows] = out[names].to_numpy().mean(axis=1).reshape(len(rows), horizon)
        for bound in BOUNDS:
            if native:
                side, level = bound[:2], bound[2:]
                columns = [f"{name}-{side}-{level}" for name in names]
                bounds[bound][rows] = out[columns].to_numpy().mean(axis=1).reshape(-1, horizon)
        if not native:
            for i in rows:
                for bound, values in from_history(data.history(i), horizon).items():
                    bounds[bound][i] = values
        for i in rows:
            season = plans[i].fourier
            if season is not None:
                n = len(data.history(i))
                factors = season.factors(np.arange(n, n + horizon))
                yhat[i] *= factors
                for bound in BOUNDS:
                    bounds[bound][i] *= factors
    tidied = tidy(yhat, bounds, clip=settings.non_negative)
    dates = np.concatenate(
        [data.frequency.future_dates(last, horizon).to_numpy() for last in data.last_dates]
    )
    result = pd.DataFrame(
        {
            "unique_id": np.repeat(data.ids, horizon),
            "ds": dates,
            **{name: values.ravel() for name, values in tidied.items()},
            "model": np.repeat([plan.model for plan in plans], horizon),
        }
    )
    return result.loc[:, list(FORECAST_COLUMNS)]
