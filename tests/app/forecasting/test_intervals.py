import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.forecasting.intervals import BOUNDS, from_history, tidy

HORIZON = 6
values = arrays(float, (3, HORIZON), elements=st.floats(-50, 500, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(yhat=values, lo80=values, hi80=values, lo95=values, hi95=values)
def test_whatever_the_models_say_the_rules_hold(yhat, lo80, hi80, lo95, hi95):
    raw = {"lo80": lo80, "hi80": hi80, "lo95": lo95, "hi95": hi95}
    out = tidy(yhat, raw, clip=False)
    assert np.all(out["lo95"] <= out["lo80"])
    assert np.all(out["lo80"] <= out["yhat"])
    assert np.all(out["yhat"] <= out["hi80"])
    assert np.all(out["hi80"] <= out["hi95"])
    for lo, hi in (("lo80", "hi80"), ("lo95", "hi95")):
        # Half-widths come back through yhat ± width: allow for the last bit of rounding.
        assert np.all(np.diff(out[hi] - out["yhat"], axis=1) >= -1e-9)
        assert np.all(np.diff(out["yhat"] - out[lo], axis=1) >= -1e-9)
    # Bounds that already obey the rules come back as they were.
    again = tidy(out["yhat"], {b: out[b] for b in BOUNDS}, clip=False)
    for name, array in out.items():
        np.testing.assert_allclose(again[name], array, atol=1e-9)
    clipped = tidy(yhat, raw)
    assert all(np.all(array >= 0) for array in clipped.values())
    assert np.all(clipped["lo95"] <= clipped["yhat"])
    assert np.all(clipped["yhat"] <= clipped["hi95"])


def test_history_quantiles_stand_in_for_short_histories():
    bounds = from_history(np.array([0.0, 0, 0, 2, 4, 10]), 3)
    assert bounds["lo95"].tolist() == [0.0, 0.0, 0.0]
    assert bounds["hi80"][0] == np.quantile([0, 0, 0, 2, 4, 10], 0.9)
    assert bounds["lo80"][0] <= bounds["hi80"][0] <= bounds["hi95"][0]
