"""Running statsforecast on a batch of series that share their models."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from statsforecast import StatsForecast

from app.forecasting import models as catalogue
from app.forecasting.frame import Histories
from app.forecasting.frequency import Frequency
from app.forecasting.plan import SeriesPlan
from app.forecasting.settings import Settings

# Parallel work pays for its process start-up only on groups of at least this many series.
MIN_PARALLEL_SERIES = 40
T = TypeVar("T")


def subframe(data: Histories, plans: list[SeriesPlan], members: list[int]) -> pd.DataFrame:
    """The rows of ``members``, divided by their Fourier season where they have one."""
    parts = []
    for i in members:
        y = data.history(i)
        season = plans[i].fourier
        if season is not None:
            y = y / season.factors(np.arange(len(y)))
        parts.append(y)
    rows = np.concatenate([np.arange(data.offsets[i], data.offsets[i + 1]) for i in members])
    frame = data.frame.iloc[rows, :2].reset_index(drop=True)
    frame["y"] = np.concatenate(parts)
    return frame


def usable_cores() -> int:
    """Cores this process may run on (its affinity where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def statsforecast_for(
    models: list[Any], frequency: Frequency, size: int, settings: Settings
) -> StatsForecast:
    """A StatsForecast for ``size`` series, in parallel only where that pays.

    Known limit: where a model fails to fit a series, statsforecast quietly uses
    the fallback (naive) under the failed model's name, so the ``model`` column
    still names the model that was meant; it cannot tell us which series fell back.
    """
    jobs = settings.n_jobs or usable_cores()
    return StatsForecast(
        models=models,
        freq=frequency.alias,
        n_jobs=jobs if size >= MIN_PARALLEL_SERIES else 1,
        fallback_model=catalogue.fallback_model(),
    )


def quietly(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` without the models' routine numerical warnings."""
    # The optimisers inside the models overflow now and then while searching, and
    # AutoARIMA advises against the orders its own search lands on; the fits stand
    # either way, and the warnings would only alarm a reader of the log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="statsforecast")
        return call(*args, **kwargs)
