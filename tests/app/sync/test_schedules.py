"""Schedule specs: parsing, validation messages, descriptions, triggers and due times."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from hypothesis import given
from hypothesis import strategies as st

from app.sync.schedules import (
    DailySchedule,
    IntervalSchedule,
    ManualSchedule,
    ScheduleError,
    parse_schedule,
)

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ManualSchedule()),
        ({"kind": "manual"}, ManualSchedule()),
        ({"kind": "interval", "every": 15, "unit": "minutes"}, IntervalSchedule(every=15)),
        (
            {"kind": "interval", "every": 2, "unit": "hours"},
            IntervalSchedule(every=2, unit="hours"),
        ),
        ({"kind": "interval", "every": "30", "unit": "minutes"}, IntervalSchedule(every=30)),
        ({"kind": "interval", "every": 45.0}, IntervalSchedule(every=45)),
        # The shorthand that older specs use.
        ({"kind": "interval", "minutes": 60}, IntervalSchedule(every=60)),
        ({"kind": "interval", "hours": 3}, IntervalSchedule(every=3, unit="hours")),
        (
            {"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"},
            DailySchedule(at=dt.time(6, 30), timezone="Europe/Berlin"),
        ),
        ({"kind": "daily", "at": "7:05"}, DailySchedule(at=dt.time(7, 5), timezone="UTC")),
        (
            {"kind": "interval", "every": 1, "unit": "hours", "forecast_after": True},
            IntervalSchedule(every=1, unit="hours", forecast_after=True),
        ),
    ],
)
def test_valid_specs_parse(spec, expected) -> None:
    assert parse_schedule(spec) == expected


def test_to_dict_is_the_canonical_spec_and_round_trips() -> None:
    schedule = parse_schedule({"kind": "interval", "minutes": 90, "forecast_after": True})
    assert schedule.to_dict() == {
        "kind": "interval",
        "every": 90,
        "unit": "minutes",
        "forecast_after": True,
    }
    daily = {"kind": "daily", "at": "23:59", "timezone": "America/New_York"}
    assert parse_schedule(daily).to_dict() == daily
    assert parse_schedule(None).to_dict() == {"kind": "manual"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("every 15 minutes", "must be an object"),
        ({}, "kind must be one of manual, interval, daily; got None"),
        ({"kind": "weekly"}, "got 'weekly'"),
        ({"kind": "interval", "every": 4, "unit": "minutes"}, "at most every 5 minutes"),
        ({"kind": "interval", "every": 0}, "at least 1; got 0"),
        ({"kind": "interval", "every": -5}, "at least 1"),
        ({"kind": "interval", "every": 2.5}, "whole number"),
        ({"kind": "interval", "every": True}, "whole number"),
        ({"kind": "interval"}, "whole number of minutes of at least 1; got None"),
        ({"kind": "interval", "every": 10, "unit": "days"}, "minutes or hours; got 'days'"),
        # Seconds are for tests only; production specs cannot use them.
        ({"kind": "interval", "every": 600, "unit": "seconds"}, "minutes or hours"),
        ({"kind": "interval", "every": 800, "unit": "hours"}, "at most 31 days"),
        ({"kind": "interval", "every": 10**30, "unit": "hours"}, "at most 31 days"),
        ({"kind": "interval", "every": 5, "minutes": 5}, '"every" and "unit"'),
        ({"kind": "interval", "every": 15, "interval": 3}, "does not take interval"),
        ({"kind": "daily", "at": "24:00"}, "HH:MM on a 24-hour clock"),
        ({"kind": "daily", "at": "06:60"}, "got '06:60'"),
        ({"kind": "daily", "at": "6.30"}, "such as 06:30"),
        ({"kind": "daily", "at": 630}, "got 630"),
        ({"kind": "daily"}, "got None"),
        ({"kind": "daily", "at": "06:30", "timezone": "Mars/Olympus"}, "IANA name"),
        ({"kind": "daily", "at": "06:30", "timezone": "../etc/passwd"}, "IANA name"),
        ({"kind": "daily", "at": "06:30", "timezone": "localtime"}, "IANA name"),
        ({"kind": "daily", "at": "06:30", "timezone": 1}, "got 1"),
        ({"kind": "manual", "forecast_after": "yes"}, "true or false; got 'yes'"),
    ],
)
def test_invalid_specs_say_what_to_fix(spec, message: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(spec)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_lowered_minimum_admits_short_intervals_in_seconds() -> None:
    schedule = parse_schedule(
        {"kind": "interval", "every": 1, "unit": "seconds"}, min_interval=dt.timedelta(seconds=1)
    )
    assert isinstance(schedule, IntervalSchedule)
    assert schedule.interval == dt.timedelta(seconds=1)
    with pytest.raises(ScheduleError, match="at most every 2 seconds"):
        parse_schedule(
            {"kind": "interval", "every": 1, "unit": "seconds"},
            min_interval=dt.timedelta(seconds=2),
        )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (None, "manual"),
        ({"kind": "interval", "every": 15, "unit": "minutes"}, "every 15 minutes"),
        ({"kind": "interval", "every": 1, "unit": "hours"}, "every hour"),
        ({"kind": "interval", "every": 6, "unit": "hours"}, "every 6 hours"),
        (
            {"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"},
            "daily at 06:30 Europe/Berlin",
        ),
        ({"kind": "daily", "at": "6:05"}, "daily at 06:05 UTC"),
        (
            {"kind": "interval", "every": 30, "forecast_after": True},
            "every 30 minutes, then a forecast run",
        ),
    ],
)
def test_describe_in_plain_words(spec, words: str) -> None:
    assert parse_schedule(spec).describe() == words


def test_triggers_fire_as_the_spec_says() -> None:
    assert parse_schedule(None).to_trigger() is None

    interval = parse_schedule({"kind": "interval", "every": 15}).to_trigger()
    assert isinstance(interval, IntervalTrigger)
    assert interval.get_next_fire_time(NOW, NOW) == NOW + dt.timedelta(minutes=15)

    daily = parse_schedule({"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"})
    trigger = daily.to_trigger()
    assert isinstance(trigger, CronTrigger)
    fire = trigger.get_next_fire_time(None, NOW)
    # 12:00 UTC is 13:00 in Berlin (CET): the next 06:30 is tomorrow's.
    assert fire == dt.datetime(2026, 3, 11, 6, 30, tzinfo=BERLIN)
    assert fire.astimezone(UTC) == dt.datetime(2026, 3, 11, 5, 30, tzinfo=UTC)


def test_interval_next_due_counts_from_the_last_sync() -> None:
    schedule = parse_schedule({"kind": "interval", "every": 2, "unit": "hours"})
    last = NOW - dt.timedelta(minutes=30)
    assert schedule.next_due(last, NOW) == NOW + dt.timedelta(minutes=90)
    # Missed slots do not add up: one due time, in the past.
    long_ago = NOW - dt.timedelta(days=3)
    assert schedule.next_due(long_ago, NOW) == long_ago + dt.timedelta(hours=2)
    assert schedule.next_due(None, NOW) == NOW


def test_daily_next_due_is_the_first_slot_after_the_last_sync() -> None:
    schedule = parse_schedule({"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"})
    before_slot = dt.datetime(2026, 3, 10, 5, 0, tzinfo=UTC)  # 06:00 Berlin
    assert schedule.next_due(before_slot, NOW) == dt.datetime(2026, 3, 10, 5, 30, tzinfo=UTC)
    on_slot = dt.datetime(2026, 3, 10, 5, 30, tzinfo=UTC)
    assert schedule.next_due(on_slot, NOW) == dt.datetime(2026, 3, 11, 5, 30, tzinfo=UTC)
    # Across the spring change to summer time, 06:30 Berlin is 04:30 UTC.
    saturday = dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert schedule.next_due(saturday, NOW) == dt.datetime(2026, 3, 29, 4, 30, tzinfo=UTC)
    assert schedule.next_due(None, NOW) == NOW


def test_manual_is_never_due() -> None:
    assert parse_schedule({"kind": "manual"}).next_due(None, NOW) is None


@given(
    every=st.integers(min_value=5, max_value=600),
    last=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_interval_due_times_respect_the_interval(every: int, last: dt.datetime) -> None:
    schedule = parse_schedule({"kind": "interval", "every": every})
    due = schedule.next_due(last, NOW)
    assert due - last == dt.timedelta(minutes=every)


@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    last=st.datetimes(
        min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
def test_daily_due_is_later_and_within_a_day(
    hour: int, minute: int, zone: str, last: dt.datetime
) -> None:
    schedule = parse_schedule({"kind": "daily", "at": f"{hour:02d}:{minute:02d}", "timezone": zone})
    due = schedule.next_due(last, NOW)
    assert due.tzinfo is not None
    assert last < due <= last + dt.timedelta(hours=25)  # 25: a day that gains an hour
    tz = ZoneInfo(zone)
    local = due.astimezone(tz)
    assert local.minute == minute
    wall = dt.datetime.combine(local.date(), dt.time(hour, minute), tz)
    if wall.astimezone(UTC).astimezone(tz).time() == wall.time():
        assert local.hour == hour
    else:  # spring forward skipped that wall time: it moves by the gap
        assert local.hour in ((hour + 1) % 24, (hour - 1) % 24)
