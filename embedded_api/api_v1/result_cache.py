"""Rendered answers built from complete runs' results, reused until another run completes.

A complete run's forecasts never change, so an answer built from them stays
right until a newer run completes (which changes what "the latest run" is).
The cache asks for the results' generation (see
``app.services.series.results_generation``) at most every ``check_every``
seconds, and drops everything when it changed. The application checks on
every request, cheaply: :func:`after_commits` asks the store for the
generation again only when something was committed since it last asked (see
``embedded_api.store_version``), so a completed run is seen by the very next
request. An answer is also dropped after ``max_age`` seconds, which bounds how
long a deleted series or a moved workspace (which change no run) can still be
served.

Why: automation tools read the same series' forecasts in bursts, and with
SQLite every read from a Waitress thread pays for the database's file locks;
answering from memory keeps such bursts cheap. Errors are never cached.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_UNSET = object()

CHECK_EVERY = 0.25
MAX_AGE = 30.0
MAX_ENTRIES = 4096


class ResultCache:
    """A bounded LRU of rendered answers, valid for one results generation."""

    def __init__(
        self,
        generation: Callable[[], Any],
        *,
        check_every: float = CHECK_EVERY,
        max_age: float = MAX_AGE,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._generation = generation
        self.check_every = check_every
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._current: Any = None
        self._checked_at = -float("inf")

    def _refresh(self, now: float) -> None:
        # One thread at a time asks; a request never goes on with a generation
        # older than its own arrival.
        with self._refreshing:
            generation = self._generation()
            with self._lock:
                if generation != self._current:
                    self._entries.clear()
                    self._current = generation
                self._checked_at = now

    def get(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """The answer for ``key``, built by ``build`` when missing or outdated."""
        now = self._clock()
        if now - self._checked_at >= self.check_every:
            self._refresh(now)
        with self._lock:
            generation = self._current
            entry = self._entries.get(key)
            if entry is not None and now - entry[0] < self.max_age:
                self._entries.move_to_end(key)
                return entry[1]
        body = build()
        with self._lock:
            # Built while a newer generation arrived: answer it, but do not keep it.
            if self._current == generation:
                self._entries[key] = (now, body)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return body


def after_commits(
    marker: Callable[[], Hashable], generation: Callable[[], Any]
) -> Callable[[], Any]:
    """``generation``, asked again only when the store's commit ``marker`` has moved."""
    lock = threading.Lock()
    seen: list[Any] = [_UNSET, None]  # the marker last read, and the generation then

    def current() -> Any:
        with lock:
            now = marker()
            if now != seen[0]:
                # Read after the marker: a commit in between only costs one more ask.
                seen[1] = generation()
                seen[0] = now
            return seen[1]

    return current
