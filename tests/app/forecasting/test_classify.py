import numpy as np
import pytest

from app.forecasting import ADI_CUTOFF, CV2_CUTOFF, DemandClass, classify


def test_steady_demand_every_period_is_smooth():
    result = classify(np.array([10, 12, 9, 11, 10, 13, 10, 9], dtype=float))
    assert result.demand_class is DemandClass.SMOOTH
    assert result.adi == 1.0
    assert result.cv2 < CV2_CUTOFF


def test_demand_every_period_with_wild_sizes_is_erratic():
    result = classify(np.array([1, 40, 2, 35, 1, 50, 3, 1], dtype=float))
    assert result.demand_class is DemandClass.ERRATIC
    assert result.cv2 >= CV2_CUTOFF


def test_rare_demand_of_steady_size_is_intermittent():
    y = np.array([0, 0, 5, 0, 0, 6, 0, 0, 5, 0, 0, 4], dtype=float)
    result = classify(y)
    assert result.demand_class is DemandClass.INTERMITTENT
    assert result.adi == pytest.approx(3.0)
    assert result.demand_periods == 4


def test_rare_demand_of_wild_size_is_lumpy():
    y = np.array([0, 0, 1, 0, 0, 30, 0, 0, 2, 0, 0, 45], dtype=float)
    assert classify(y).demand_class is DemandClass.LUMPY


def test_no_demand_at_all_is_its_own_class():
    result = classify(np.zeros(10))
    assert result.demand_class is DemandClass.ZERO
    assert not result.demand_class.sporadic


def test_the_cut_offs_belong_to_the_sporadic_and_variable_sides():
    # 33 periods with 25 demands: ADI 1.32 exactly, which is no longer regular demand.
    y = np.array([5.0] * 25 + [0.0] * 8)
    assert classify(y).adi == pytest.approx(ADI_CUTOFF)
    assert classify(y).demand_class is DemandClass.INTERMITTENT


def test_returns_do_not_count_as_demand():
    y = np.array([5, -2, 5, 0, 5, -1, 5, 0], dtype=float)
    result = classify(y)
    assert result.demand_periods == 4
    assert result.adi == pytest.approx(2.0)
