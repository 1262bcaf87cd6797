import numpy as np
import pandas as pd
import pytest
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, CrostonSBA, DynamicOptimizedTheta, Theta

from app.forecasting import ForecastInputError, Settings, forecast_frame, run_frame
from app.forecasting.engine import FORECAST_COLUMNS
from tests.app.forecasting.series import intermittent, long_frame, weekly_seasonal

HORIZON = 8


@pytest.fixture(scope="module")
def mixed():
    """One weekly run over series of every kind, shared by the tests that read it."""
    series = {
        "rising": weekly_seasonal(104, level=80, growth=0.5, amplitude=0.35, seed=1),
        "falling": weekly_seasonal(104, level=120, growth=-0.5, amplitude=0.0, seed=2),
        "steady": weekly_seasonal(60, level=40, amplitude=0.0, seed=3),
        "sporadic": intermittent(104, chance=0.25, seed=4),
        "new": np.array([3.0, 5.0, 4.0, 6.0]),
        "dead": np.zeros(30),
    }
    frame = long_frame(series, "2023-01-02", "W-MON")
    return frame, run_frame(frame, HORIZON, "weekly", Settings(n_jobs=1))


def test_every_series_gets_every_period_with_its_model(mixed):
    frame, result = mixed
    forecasts = result.forecasts
    assert list(forecasts.columns) == list(FORECAST_COLUMNS)
    assert len(forecasts) == 6 * HORIZON
    assert forecasts.groupby("unique_id").size().eq(HORIZON).all()
    last = frame.groupby("unique_id")["ds"].max()
    first_forecast = forecasts.groupby("unique_id")["ds"].min()
    assert (first_forecast - last).eq(pd.Timedelta(weeks=1)).all()
    assert forecasts[["yhat", "lo80", "hi80", "lo95", "hi95"]].notna().all().all()
    assert (forecasts.groupby("unique_id")["model"].nunique() == 1).all()


def test_series_are_classified_and_given_their_family(mixed):
    _, result = mixed
    series = result.series
    assert series.loc["rising", "demand_class"] == "smooth"
    assert series.loc["sporadic", "demand_class"] in ("intermittent", "lumpy")
    assert series.loc["dead", "demand_class"] == "zero"
    # Two years of weekly history: the yearly season is divided out by Fourier terms.
    assert series.loc["rising", "mode"] == "fourier"
    assert series.loc["rising", "fourier_order"] >= 1
    # Too short for a season, and no season planted.
    assert series.loc["steady", "mode"] == "plain"
    assert series.loc["sporadic", "model"] in {
        "CrostonClassic",
        "CrostonSBA",
        "TSB",
        "ADIDA",
        "IMAPA",
    }
    regular = {"DampedETS", "DynamicOptimizedTheta", "Theta", "Naive", "Ensemble"}
    assert series.loc["rising", "model"] in regular
    assert series.loc["new", "model"] == "HistoricAverage"
    assert series.loc["dead", "model"] == "Zero"
    assert series.loc["rising", "selected_by"] == "cv"
    assert series.loc["new", "selected_by"] == "default"


def test_intervals_hold_the_forecast_nest_and_widen_with_the_horizon(mixed):
    _, result = mixed
    for uid, f in result.forecasts.groupby("unique_id"):
        assert (f.lo95 <= f.lo80).all(), uid
        assert (f.lo80 <= f.yhat).all(), uid
        assert (f.yhat <= f.hi80).all(), uid
        assert (f.hi80 <= f.hi95).all(), uid
        assert (f[["yhat", "lo95"]] >= 0).all().all(), uid
    for uid in ("rising", "falling", "steady"):
        f = result.forecasts[result.forecasts.unique_id == uid]
        for lo, hi in (("lo80", "hi80"), ("lo95", "hi95")):
            width = (f[hi] - f[lo]).to_numpy()
            assert np.all(np.diff(width) >= -1e-9), (uid, lo)
            assert width[-1] > width[0], (uid, lo)


def test_nothing_sold_forecasts_nothing(mixed):
    _, result = mixed
    dead = result.forecasts[result.forecasts.unique_id == "dead"]
    assert (dead[["yhat", "lo80", "hi80", "lo95", "hi95"]] == 0).all().all()


def test_forecasts_follow_the_planted_level_and_trend(mixed):
    frame, result = mixed
    f = result.forecasts.set_index("unique_id")
    assert f.loc["falling", "yhat"].iloc[-1] < f.loc["falling", "yhat"].iloc[0]
    last_year = frame[frame.unique_id == "falling"].y.iloc[-8:].mean()
    assert f.loc["falling", "yhat"].mean() == pytest.approx(last_year, rel=0.2)
    assert result.series.loc["rising", "trend"] == "up"
    assert result.series.loc["falling", "trend"] == "down"
    assert result.series.loc["steady", "trend"] == "flat"


def test_cv_errors_by_step_are_kept_for_safety_stock(mixed):
    _, result = mixed
    sigma = result.cv_sigma
    assert list(sigma.columns) == list(range(1, HORIZON + 1))
    assert (sigma.loc["rising"] > 0).all()
    assert sigma.loc["new"].isna().all()
    windows = result.series.loc["rising", "cv_windows"]
    assert windows == 3
    assert result.series.loc["rising", "cv_error"] > 0
    assert result.series.loc["rising", "cv_baseline_error"] > 0


def test_a_pure_seasonal_pattern_is_won_by_seasonal_naive_and_matches_it():
    pattern = np.array([20, 25, 40, 60, 80, 95, 90, 70, 50, 35, 25, 20], dtype=float)
    frame = long_frame({"exact": np.tile(pattern, 5)}, "2019-01-01", "MS")
    result = run_frame(frame, 12, "monthly", Settings(n_jobs=1, arima=False))
    assert result.series.loc["exact", "model"] == "SeasonalNaive"
    assert result.series.loc["exact", "mode"] == "seasonal"
    np.testing.assert_allclose(result.forecasts.yhat, pattern)


def test_the_sporadic_default_is_statsforecasts_own_sba():
    y = intermittent(60, chance=0.3, seed=9)
    frame = long_frame({"s": y}, "2023-01-02", "W-MON")
    ours = forecast_frame(frame, HORIZON, "weekly", Settings(n_jobs=1, cv_windows=0))
    theirs = StatsForecast([CrostonSBA()], freq="W-MON").forecast(df=frame, h=HORIZON)
    assert (ours.model == "CrostonSBA").all()
    np.testing.assert_allclose(ours.yhat, theirs["CrostonSBA"])


def test_the_combination_is_the_mean_of_statsforecasts_members():
    y = weekly_seasonal(70, level=50, growth=0.3, amplitude=0.0, seed=11)
    frame = long_frame({"r": y}, "2023-01-02", "W-MON")
    ours = forecast_frame(frame, HORIZON, "weekly", Settings(n_jobs=1, cv_windows=0))
    members = [AutoETS(damped=True), DynamicOptimizedTheta(), Theta()]
    theirs = StatsForecast(members, freq="W-MON").forecast(df=frame, h=HORIZON, level=[80, 95])
    names = ["AutoETS", "DynamicOptimizedTheta", "Theta"]
    assert (ours.model == "Ensemble").all()
    np.testing.assert_allclose(ours.yhat, theirs[names].mean(axis=1))
    np.testing.assert_allclose(
        ours.hi95.iloc[0], theirs[[f"{n}-hi-95" for n in names]].mean(axis=1).iloc[0]
    )


def test_parallel_fits_give_the_same_forecasts():
    series = {f"s{i:02d}": intermittent(40, chance=0.4, seed=i) for i in range(45)}
    frame = long_frame(series, "2023-01-02", "W-MON")
    one = forecast_frame(frame, 4, "weekly", Settings(n_jobs=1))
    two = forecast_frame(frame, 4, "weekly", Settings(n_jobs=2))
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.parametrize(
    ("horizon", "message"), [(0, "between 1 and"), (2.5, "whole number"), (True, "whole number")]
)
def test_bad_horizons_are_refused(horizon, message):
    frame = long_frame({"a": np.ones(20)}, "2023-01-02", "W-MON")
    with pytest.raises(ForecastInputError, match=message):
        forecast_frame(frame, horizon, "weekly")


def test_negative_history_still_gives_non_negative_forecasts():
    y = np.r_[np.full(20, 5.0), np.linspace(4, -30, 20)]
    frame = long_frame({"returns": y}, "2023-01-02", "W-MON")
    forecasts = forecast_frame(frame, HORIZON, "weekly", Settings(n_jobs=1))
    assert (forecasts[["yhat", "lo80", "hi80", "lo95", "hi95"]] >= 0).all().all()
