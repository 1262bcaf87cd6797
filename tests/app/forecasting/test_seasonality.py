import numpy as np

from app.forecasting.frequency import WEEKS_PER_YEAR
from app.forecasting.seasonality import fit_fourier_seasons
from tests.app.forecasting.series import weekly_seasonal


def test_a_yearly_season_is_found_and_its_shape_recovered():
    y = weekly_seasonal(weeks=104, level=200, amplitude=0.4, seed=1)
    (season,) = fit_fourier_seasons([y], WEEKS_PER_YEAR)
    assert season.order >= 1
    t = np.arange(104)
    planted = 1 + 0.4 * np.cos(2 * np.pi * t / WEEKS_PER_YEAR)
    factors = season.factors(t)
    # Up to the level, which the regression keeps apart from the season.
    ratio = factors / planted
    assert np.std(ratio) / np.mean(ratio) < 0.1


def test_noise_has_no_season_and_constant_series_none_either():
    noise = np.random.default_rng(0).poisson(50, 104).astype(float)
    constant = np.full(104, 8.0)
    short = np.random.default_rng(1).poisson(50, 110).astype(float)
    seasons = fit_fourier_seasons([noise, constant, short], WEEKS_PER_YEAR)
    assert [s.order for s in seasons] == [0, 0, 0]
    np.testing.assert_array_equal(seasons[1].factors(np.arange(5)), np.ones(5))


def test_histories_of_mixed_lengths_come_back_in_order():
    ys = [
        weekly_seasonal(weeks=n, amplitude=a, seed=n)
        for n, a in [(104, 0.4), (120, 0.0), (104, 0.0)]
    ]
    seasons = fit_fourier_seasons(ys, WEEKS_PER_YEAR)
    assert seasons[0].order >= 1
    assert seasons[2].order == 0
