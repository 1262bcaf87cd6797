"""Sync schedules: the JSON spec stored in ``Connector.schedule``, validated and explained.

Three kinds, each with an optional ``"forecast_after": true`` (start a forecast
run after a successful sync)::

    {"kind": "manual"}                                   # also what None means
    {"kind": "interval", "every": 15, "unit": "minutes"}  # or "hours"
    {"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"}

The shorthand ``{"kind": "interval", "minutes": 60}`` (or ``"hours": 2``) is
read as the same interval, so specs written in that form keep working.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

# Polling a source more often than this buys little and invites rate limits.
MIN_INTERVAL = dt.timedelta(minutes=5)
MAX_INTERVAL = dt.timedelta(days=31)
KINDS = ("manual", "interval", "daily")
UNITS = {"minutes": 60, "hours": 3600}
# Seconds exist only so tests can run an interval job quickly; they are accepted
# only when the caller lowers ``min_interval`` below a minute.
_TEST_UNITS = {"seconds": 1}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_FIELDS = {
    "manual": {"kind", "forecast_after"},
    "interval": {"kind", "forecast_after", "every", "unit", "minutes", "hours"},
    "daily": {"kind", "forecast_after", "at", "timezone"},
}


class ScheduleError(ValueError):
    """A schedule spec is invalid; the message says what to change."""


@dataclass(frozen=True)
class Schedule:
    """A validated schedule; subclasses say when syncs are due."""

    kind: ClassVar[str] = "manual"
    forecast_after: bool = False

    def describe(self) -> str:
        """The schedule in plain words, for the UI."""
        return self._describe() + (", then a forecast run" if self.forecast_after else "")

    def _describe(self) -> str:
        return "manual"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON spec, as stored in ``Connector.schedule``."""
        spec: dict[str, Any] = {"kind": self.kind, **self._fields()}
        if self.forecast_after:
            spec["forecast_after"] = True
        return spec

    def _fields(self) -> dict[str, Any]:
        return {}

    def to_trigger(self) -> BaseTrigger | None:
        """The APScheduler trigger that fires the syncs; None for manual."""
        return None

    def next_due(self, last_synced_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        """When the next sync is due after ``last_synced_at``; None for manual.

        A time at or before ``now`` means the connector is overdue. A connector
        that never synced is due ``now``.
        """
        return None


@dataclass(frozen=True)
class ManualSchedule(Schedule):
    """Syncs only when someone asks."""


@dataclass(frozen=True)
class IntervalSchedule(Schedule):
    """A sync every ``every`` ``unit`` (minutes or hours)."""

    kind: ClassVar[str] = "interval"
    every: int = 60
    unit: str = "minutes"

    @property
    def interval(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.every * {**UNITS, **_TEST_UNITS}[self.unit])

    def _describe(self) -> str:
        singular = self.unit.removesuffix("s")
        return f"every {singular}" if self.every == 1 else f"every {self.every} {self.unit}"

    def _fields(self) -> dict[str, Any]:
        return {"every": self.every, "unit": self.unit}

    def to_trigger(self) -> BaseTrigger:
        return IntervalTrigger(seconds=self.interval.total_seconds(), timezone=dt.UTC)

    def next_due(self, last_synced_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        return now if last_synced_at is None else last_synced_at + self.interval


@dataclass(frozen=True)
class DailySchedule(Schedule):
    """A sync once a day at a wall-clock time in an IANA time zone."""

    kind: ClassVar[str] = "daily"
    at: dt.time = dt.time(6, 0)
    timezone: str = "UTC"

    def _describe(self) -> str:
        return f"daily at {self.at:%H:%M} {self.timezone}"

    def _fields(self) -> dict[str, Any]:
        return {"at": f"{self.at:%H:%M}", "timezone": self.timezone}

    def to_trigger(self) -> CronTrigger:
        return CronTrigger(
            hour=self.at.hour, minute=self.at.minute, timezone=zoneinfo.ZoneInfo(self.timezone)
        )

    def next_due(self, last_synced_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if last_synced_at is None:
            return now
        # The trigger answers "first slot at or after"; a microsecond later makes
        # it "after", so a sync that ran exactly on the slot is not due again.
        after = last_synced_at + dt.timedelta(microseconds=1)
        due = self.to_trigger().get_next_fire_time(None, after)
        return due.astimezone(dt.UTC)


def parse_schedule(
    value: Mapping[str, Any] | None, *, min_interval: dt.timedelta = MIN_INTERVAL
) -> Schedule:
    """Validate a stored or submitted spec; None is manual.

    ``min_interval`` is the shortest interval allowed; only tests lower it.

    Raises:
        ScheduleError: with a message that names the field and the fix.
    """
    if value is None:
        return ManualSchedule()
    if not isinstance(value, Mapping):
        raise ScheduleError(
            f'A schedule must be an object such as {{"kind": "interval", "every": 15, '
            f'"unit": "minutes"}}; got {type(value).__name__}.'
        )
    kind = value.get("kind")
    if kind not in KINDS:
        raise ScheduleError(f"Schedule kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    unknown = sorted(str(key) for key in set(value) - _FIELDS[kind])
    if unknown:
        raise ScheduleError(
            f"A {kind} schedule does not take {', '.join(unknown)}; it takes "
            f"{', '.join(sorted(_FIELDS[kind] - {'kind', 'minutes', 'hours'}))}."
        )
    forecast_after = value.get("forecast_after", False)
    if not isinstance(forecast_after, bool):
        raise ScheduleError(f"forecast_after must be true or false; got {forecast_after!r}.")
    if kind == "interval":
        every, unit = _interval_fields(value, min_interval)
        return IntervalSchedule(forecast_after=forecast_after, every=every, unit=unit)
    if kind == "daily":
        return DailySchedule(
            forecast_after=forecast_after,
            at=_time_of_day(value.get("at")),
            timezone=_timezone(value.get("timezone", "UTC")),
        )
    return ManualSchedule(forecast_after=forecast_after)


def _interval_fields(value: Mapping[str, Any], min_interval: dt.timedelta) -> tuple[int, str]:
    shorthand = [unit for unit in ("minutes", "hours") if unit in value]
    if shorthand and ("every" in value or "unit" in value or len(shorthand) > 1):
        raise ScheduleError('Give an interval as "every" and "unit", such as every 15 minutes.')
    if shorthand:
        unit = shorthand[0]
        raw_every = value[unit]
    else:
        unit = value.get("unit", "minutes")
        raw_every = value.get("every")
    units = {**UNITS, **_TEST_UNITS} if min_interval < dt.timedelta(minutes=1) else UNITS
    if unit not in units:
        raise ScheduleError(f"An interval's unit must be {' or '.join(units)}; got {unit!r}.")
    every = _whole_number(raw_every)
    if every is None or every < 1:
        raise ScheduleError(
            f"An interval needs a whole number of {unit} of at least 1; got {raw_every!r}."
        )
    # Compared in seconds: a huge count would overflow a timedelta.
    seconds = every * units[unit]
    if seconds < min_interval.total_seconds():
        raise ScheduleError(
            f"Syncs can run at most every {_words(min_interval)}; got every {every} {unit}."
        )
    if seconds > MAX_INTERVAL.total_seconds():
        raise ScheduleError(
            f"An interval can be at most {_words(MAX_INTERVAL)}; got every {every} {unit}. "
            "Use a daily schedule or sync manually."
        )
    return every, unit


def _whole_number(value: Any) -> int | None:
    # Forms send numbers as text; JSON may carry 15.0. Booleans are not numbers here.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _time_of_day(value: Any) -> dt.time:
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour < 24 and minute < 60:
            return dt.time(hour, minute)
    raise ScheduleError(
        f"A daily time must be HH:MM on a 24-hour clock, such as 06:30; got {value!r}."
    )


def _timezone(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if name not in _zone_names():
        raise ScheduleError(
            f"Time zone must be an IANA name such as Europe/Berlin or UTC; got {value!r}."
        )
    return name


@functools.cache
def _zone_names() -> frozenset[str]:
    # The listed IANA names, not whatever file ZoneInfo can open: "localtime"
    # is this machine's zone, which another machine reads differently.
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "posixrules"}


def _words(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} seconds"
