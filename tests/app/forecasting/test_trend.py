import numpy as np
import pytest
from scipy import stats

from app.forecasting import Direction, detect_trend
from app.forecasting.frequency import WEEKS_PER_YEAR
from app.forecasting.trend import detect_trends
from tests.app.forecasting.series import intermittent, weekly_seasonal


@pytest.mark.parametrize(("growth", "direction"), [(0.6, Direction.UP), (-0.6, Direction.DOWN)])
def test_a_planted_trend_under_a_strong_season_is_found(growth, direction):
    y = weekly_seasonal(weeks=104, growth=growth, amplitude=0.4, seed=3)
    trend = detect_trend(y, 52, season_period=WEEKS_PER_YEAR)
    assert trend.direction is direction
    assert trend.p_value < 0.05
    assert np.sign(trend.slope) == np.sign(growth)
    # 60% a year is about 1% a week: the relative slope says so.
    assert trend.relative_slope == pytest.approx(growth / WEEKS_PER_YEAR, rel=0.6)
    assert trend.window == 52


def test_the_season_alone_is_not_a_trend():
    # The last half year runs from the seasonal peak to the trough; adjusted, it is flat.
    y = weekly_seasonal(weeks=104, growth=0.0, amplitude=0.4, seed=5, peak_week=26)
    assert detect_trend(y, 52, season_period=WEEKS_PER_YEAR).direction is Direction.FLAT
    assert detect_trend(y, 1, window=26).direction is Direction.DOWN


@pytest.mark.parametrize("seed", range(4))
def test_noise_without_trend_is_flat(seed):
    y = weekly_seasonal(weeks=104, growth=0.0, amplitude=0.0, seed=seed)
    assert detect_trend(y, 52, season_period=WEEKS_PER_YEAR).direction is Direction.FLAT


def test_intermittent_demand_without_drift_is_flat():
    trend = detect_trend(intermittent(104, seed=2), 52, season_period=WEEKS_PER_YEAR)
    assert trend.direction is Direction.FLAT


def test_a_recent_turn_shows_the_new_direction():
    rising = np.linspace(50, 150, 64)
    falling = np.linspace(150, 90, 40)
    y = np.concatenate([rising, falling]) + np.random.default_rng(0).normal(0, 3, 104)
    assert detect_trend(y, 52, season_period=WEEKS_PER_YEAR).direction is Direction.DOWN


def test_too_short_or_constant_histories_are_flat_without_a_p_value():
    assert detect_trend(np.array([1.0, 2.0, 3.0]), 12).p_value is None
    constant = detect_trend(np.full(30, 7.0), 12)
    assert (constant.direction, constant.slope, constant.p_value) == (Direction.FLAT, 0.0, None)


def test_the_statistics_match_scipys_on_a_batch():
    rng = np.random.default_rng(7)
    # Rounded values tie now and then, which the variance must allow for.
    ys = [np.round(rng.normal(10, 2, 30) + drift * np.arange(30)) for drift in (0.0, 0.1, -0.2)]
    trends = detect_trends(ys, 1, window=30)
    for y, trend in zip(ys, trends, strict=True):
        t = np.arange(30)
        expected = stats.kendalltau(t, y, method="asymptotic").pvalue
        np.testing.assert_allclose(trend.p_value, expected, rtol=1e-9)
        np.testing.assert_allclose(trend.slope, stats.theilslopes(y, t).slope, rtol=1e-9)
