import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm

from app.forecasting import (
    Settings,
    from_cv_errors,
    from_forecast_quantiles,
    lead_time_sigma,
    run_frame,
    safety_stocks,
)
from tests.app.forecasting.series import long_frame, weekly_seasonal

FORECAST = np.array([10.0, 12.0, 14.0, 16.0, 18.0, 20.0])


def test_sigma_rule_follows_the_textbook_formula_and_explains_itself():
    stock = from_cv_errors(FORECAST, sigma=4.0, lead_time=2.5)
    z = norm.ppf(0.95)
    assert stock.service_level == 0.95
    assert stock.safety_stock == pytest.approx(z * 4.0 * math.sqrt(2.5))
    # Two whole periods and half of the third.
    assert stock.lead_time_demand == pytest.approx(10 + 12 + 7)
    assert stock.reorder_point == pytest.approx(stock.lead_time_demand + stock.safety_stock)
    assert stock.inputs["z"] == pytest.approx(z)
    assert stock.inputs["sigma"] == 4.0
    assert stock.method == "cv_sigma"


@pytest.mark.parametrize("method", ["sigma", "quantile"])
def test_safety_stock_grows_with_service_level_and_lead_time(method):
    sigma = np.linspace(3, 6, FORECAST.size)

    def stock(level: float, lead: float) -> float:
        if method == "sigma":
            return from_cv_errors(FORECAST, lead_time_sigma(sigma, lead), lead, level).safety_stock
        hi80 = FORECAST + norm.ppf(0.9) * sigma
        hi95 = FORECAST + norm.ppf(0.975) * sigma
        return from_forecast_quantiles(FORECAST, hi80, hi95, lead, level).safety_stock

    levels = [0.5, 0.8, 0.9, 0.95, 0.975, 0.99, 0.999]
    by_level = [stock(level, 3) for level in levels]
    assert by_level[0] == pytest.approx(0.0)
    assert all(a < b for a, b in itertools.pairwise(by_level))
    by_lead = [stock(0.95, lead) for lead in (0.5, 1, 2, 3.5, 6)]
    assert all(a < b for a, b in itertools.pairwise(by_lead))


def test_quantile_rule_matches_the_sigma_rule_for_normal_independent_periods():
    sigma = 5.0
    hi80 = FORECAST + norm.ppf(0.9) * sigma
    hi95 = FORECAST + norm.ppf(0.975) * sigma
    for level in (0.85, 0.95, 0.99):
        quantile = from_forecast_quantiles(FORECAST, hi80, hi95, 4, level)
        rule = from_cv_errors(FORECAST, sigma, 4, level)
        assert quantile.safety_stock == pytest.approx(rule.safety_stock)
        assert quantile.reorder_point == pytest.approx(rule.reorder_point)
        assert len(quantile.inputs["period_excess"]) == 4


def test_a_skewed_interval_stays_skewed():
    # Upper bounds further out than a normal interval of the 80% width: more stock at 97.5%.
    hi80 = FORECAST + 5
    hi95 = FORECAST + 20
    at_975 = from_forecast_quantiles(FORECAST, hi80, hi95, 1, 0.975)
    assert at_975.safety_stock == pytest.approx(20.0)
    assert from_forecast_quantiles(FORECAST, hi80, hi95, 1, 0.9).safety_stock == pytest.approx(5)


def test_lead_time_sigma_is_the_quadratic_mean_over_the_lead_time_steps():
    assert lead_time_sigma([3.0, 4.0, 100.0], 2) == pytest.approx(math.sqrt(12.5))
    assert lead_time_sigma([3.0, np.nan, 4.0], 3) == pytest.approx(math.sqrt(12.5))
    with pytest.raises(ValueError, match="no cross-validation errors"):
        lead_time_sigma([np.nan, np.nan], 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lead_time": 0}, "positive number of periods"),
        ({"lead_time": 7}, "longer than the forecast horizon"),
        ({"lead_time": 2, "service_level": 1.0}, "service level"),
        ({"lead_time": 2, "service_level": 0.3}, "service level"),
        ({"lead_time": 2, "sigma": -1.0}, "non-negative"),
    ],
)
def test_bad_inputs_are_refused(kwargs, message):
    arguments = {"sigma": 2.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        from_cv_errors(FORECAST, **arguments)


def test_both_methods_for_a_series_of_a_run():
    frame = long_frame(
        {"s": weekly_seasonal(80, level=60, amplitude=0.0, seed=4)}, "2023-01-02", "W-MON"
    )
    result = run_frame(frame, 6, "weekly", Settings(n_jobs=1))
    f = result.forecasts
    stocks = safety_stocks(f.yhat, f.hi80, f.hi95, result.cv_sigma.loc["s"], lead_time=3)
    assert [s.method for s in stocks] == ["cv_sigma", "forecast_quantile"]
    for stock in stocks:
        assert stock.lead_time_demand == pytest.approx(f.yhat.iloc[:3].sum())
        assert stock.safety_stock > 0
        assert stock.reorder_point > stock.lead_time_demand
    # Without CV errors only the quantile rule can speak.
    (alone,) = safety_stocks(f.yhat, f.hi80, f.hi95, [np.nan] * 6, lead_time=3)
    assert alone.method == "forecast_quantile"
