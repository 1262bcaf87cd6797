import numpy as np
import pandas as pd
import pytest

from app.forecasting import ForecastInputError, resolve_frequency
from app.forecasting.frame import prepare


def frame(**columns) -> pd.DataFrame:
    base = {
        "unique_id": ["a", "a", "a"],
        "ds": ["2024-01-01", "2024-01-08", "2024-01-15"],
        "y": [1.0, 2.0, 3.0],
    }
    return pd.DataFrame({**base, **columns})


def test_weekly_dates_keep_their_weekday_as_anchor():
    dates = pd.Series(pd.to_datetime(["2024-01-03", "2024-01-10"]))  # Wednesdays
    frequency = resolve_frequency("weekly", dates)
    assert frequency.alias == "W-WED"
    assert frequency.season_length == 52
    future = frequency.future_dates(pd.Timestamp("2024-01-10"), 2)
    assert list(future) == list(pd.to_datetime(["2024-01-17", "2024-01-24"]))


@pytest.mark.parametrize(
    ("freq", "dates", "alias", "season"),
    [
        ("monthly", ["2024-01-01", "2024-02-01"], "MS", 12),
        ("M", ["2024-01-31", "2024-02-29"], "ME", 12),
        ("D", ["2024-01-01", "2024-01-02"], "D", 7),
        ("W-MON", ["2024-01-01", "2024-01-08"], "W-MON", 52),
    ],
)
def test_frequencies_by_name_or_alias(freq, dates, alias, season):
    frequency = resolve_frequency(freq, pd.Series(pd.to_datetime(dates)))
    assert (frequency.alias, frequency.season_length) == (alias, season)


@pytest.mark.parametrize(
    ("freq", "dates", "message"),
    [
        ("hourly", ["2024-01-01"], "unknown frequency 'hourly'"),
        ("weekly", ["2024-01-01", "2024-01-09"], "one weekday; found MON, TUE"),
        ("monthly", ["2024-01-01", "2024-02-15"], "first day of their month"),
        ("daily", ["2024-01-01 10:00"], "without a time of day"),
    ],
)
def test_frequencies_that_do_not_fit_the_dates_say_why(freq, dates, message):
    with pytest.raises(ForecastInputError, match=message):
        resolve_frequency(freq, pd.Series(pd.to_datetime(dates)))


def test_missing_periods_count_as_zero_demand():
    df = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b"],
            "ds": ["2024-01-01", "2024-01-22", "2024-01-08"],
            "y": [4, 6, 1],
        }
    )
    data = prepare(df, "weekly")
    assert list(data.ids) == ["a", "b"]
    np.testing.assert_array_equal(data.history(0), [4.0, 0.0, 0.0, 6.0])
    np.testing.assert_array_equal(data.history(1), [1.0])
    assert data.last_dates[0] == pd.Timestamp("2024-01-22")


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (frame().drop(columns="y"), "lacks the column"),
        (frame().iloc[:0], "no rows"),
        (frame(y=[1.0, np.nan, 3.0]), r"y is not a finite number in rows 1"),
        (frame(y=["1", "two", "3"]), r"y is not a finite number in rows 1"),
        (frame(ds=["2024-01-01", "someday", "2024-01-15"]), "ds is not a date in rows 1"),
        (frame(ds=["2024-01-01", "2024-01-01", "2024-01-15"]), "rows 0, 1 repeat a period"),
        (frame(unique_id=["a", None, "a"]), "unique_id is empty in rows 1"),
    ],
)
def test_bad_frames_are_refused_with_the_rows_to_fix(df, message):
    with pytest.raises(ForecastInputError, match=message):
        prepare(df, "weekly")


def test_the_caller_frame_is_left_as_it_was():
    df = frame()
    before = df.copy()
    prepare(df, "weekly")
    pd.testing.assert_frame_equal(df, before)
