"""Xero's call limits, read from every response and honoured before the next call.

Xero allows per organisation 60 calls a minute and 5,000 a day (and an app
10,000 a minute across organisations), and says on every response how many
are left: ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and
``X-AppMinLimit-Remaining``. Past a limit it answers 429 with ``Retry-After``
and ``X-Rate-Limit-Problem`` naming the limit (``minute``, ``day``...).

- As the minute allowance nears zero the reader waits longer between calls,
  a whole window when none is left, so that a long pull does not run into 429
  (which the HTTP client would still wait out, as ``Retry-After`` asks).
- The daily allowance cannot be waited out within a sync: when it is used up
  the pull stops with a :class:`RetryableError` saying when it resets, and
  the next sync resumes from the last stored page.

:class:`Quota` is installed as a ``requests`` response hook, so it sees every
response, retried ones included.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests

from app.connectors.errors import Cancelled, RateLimited, RetryableError
from app.connectors.http import parse_retry_after

log = logging.getLogger(__name__)

MINUTE_HEADER = "X-MinLimit-Remaining"
DAY_HEADER = "X-DayLimit-Remaining"
APP_MINUTE_HEADER = "X-AppMinLimit-Remaining"
PROBLEM_HEADER = "X-Rate-Limit-Problem"


@dataclass(frozen=True)
class Pacing:
    """How the reader slows down as the minute allowance runs out.

    Below ``low`` calls left it waits ``window * (low - left) / (low * (left + 1))``
    seconds before the next call: a fraction of a second at first, a whole
    ``window`` when no call is left.
    """

    window: float = 60.0
    low: int = 10

    def wait(self, left: int | None) -> float:
        if left is None or left >= self.low:
            return 0.0
        left = max(left, 0)
        return self.window * (self.low - left) / (self.low * (left + 1))


class DailyLimitReached(Exception):
    """Raised by the hook on a 429 for the day limit, so that no retry waits for it.

    It is not a :class:`RetryableError` on purpose: the HTTP client retries
    those within the request. :meth:`Quota.as_error` makes the operator's error.
    """

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("Xero's daily call limit is used up")
        self.retry_after = retry_after


def _count(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


class Quota:
    """The allowances left, as the last response said; a ``requests`` response hook."""

    def __init__(self, pacing: Pacing | None = None, *, organisation: str = "the organisation"):
        self.pacing = pacing or Pacing()
        self.organisation = organisation
        self.minute: int | None = None
        self.day: int | None = None
        self.app_minute: int | None = None
        self.rate_limited = 0
        self._lock = threading.Lock()

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        headers = response.headers
        with self._lock:
            for attribute, name in (
                ("minute", MINUTE_HEADER),
                ("day", DAY_HEADER),
                ("app_minute", APP_MINUTE_HEADER),
            ):
                value = _count(headers.get(name))
                if value is not None:
                    setattr(self, attribute, value)
            if response.status_code == 429:
                self.rate_limited += 1
        if response.status_code == 429:
            problem = (headers.get(PROBLEM_HEADER) or "").strip().lower()
            log.info("Xero answered 429 (limit: %s)", problem or "not named")
            if problem == "day":
                response.close()
                raise DailyLimitReached(parse_retry_after(headers.get("Retry-After")))
        return response

    @property
    def minute_left(self) -> int | None:
        """The smaller of the organisation's and the app's minute allowances."""
        known = [n for n in (self.minute, self.app_minute) if n is not None]
        return min(known) if known else None

    def before_call(self, cancel: threading.Event) -> None:
        """Stop when the day's calls are used up; wait as the minute's run out.

        Raises:
            RetryableError: no call is left today.
            Cancelled: ``cancel`` was set during the wait.
        """
        if self.day is not None and self.day <= 0:
            raise self.as_error(DailyLimitReached(None))
        seconds = self.pacing.wait(self.minute_left)
        if seconds > 0:
            log.debug("Xero: %s calls left this minute; waiting %.1f s", self.minute_left, seconds)
            if cancel.wait(seconds):
                raise Cancelled("Cancelled by the operator.")

    def as_error(self, reached: DailyLimitReached) -> RetryableError:
        """The operator's error for a used-up day: it resumes by itself, and says when."""
        if reached.retry_after is not None:
            at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=reached.retry_after)
            when = f"it resets in about {_duration(reached.retry_after)} ({at:%H:%M} UTC)"
        else:
            when = "Xero counts calls over the last 24 hours, so it frees up within a day"
        return RateLimited(
            f"Xero: the daily limit of API calls for {self.organisation} is used up; {when}. "
            "The next sync resumes where this one stopped; nothing needs changing.",
            retry_after=reached.retry_after,
        )
