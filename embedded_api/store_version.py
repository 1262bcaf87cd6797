"""A marker of the store's committed state that changes whenever anyone commits to it.

Caches of rendered answers read it on every request, so that nothing they keep
outlives a change to the store, whoever made it: the API, the desktop app, the
run worker, a sync in another process.

- SQLite: ``PRAGMA data_version`` on a connection of the marker's own, which
  changes when any other connection, in any process, commits to the file.
- PostgreSQL: the current snapshot (``pg_current_snapshot()``, PostgreSQL 13 or
  later), which changes whenever a transaction that wrote anything ends.

Both err only towards change (a commit to an unrelated table, or to another
database of the same PostgreSQL server), which costs a cache its entries but
never serves an outdated answer. When the marker cannot be read, or the store
is an in-memory SQLite database that another connection cannot see, every
reading is a value of its own, so nothing is ever reused.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

_QUERIES = {
    "sqlite": "PRAGMA data_version",
    "postgresql": "SELECT pg_current_snapshot()::text",
}


class StoreVersion:
    """Reads the store's commit marker through a connection kept for nothing else."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._query = _QUERIES.get(engine.dialect.name)
        if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
            self._query = None
        self._lock = threading.Lock()
        self._connection: Any = None
        self._finalizer: weakref.finalize[Any, StoreVersion] | None = None
        # Told apart from the readings of an earlier connection, whose counter
        # (SQLite's data_version) may have held the same number.
        self._connections = itertools.count()
        self._generation = 0
        self._warned = False

    @property
    def available(self) -> bool:
        """Whether readings can ever repeat (a cache keyed on them can hit)."""
        return self._query is not None

    def current(self) -> Hashable:
        """The marker now; equal to an earlier reading only if nothing was committed since."""
        if self._query is None:
            return object()
        with self._lock:
            try:
                if self._connection is None:
                    self._open()
                cursor = self._connection.cursor()
                try:
                    cursor.execute(self._query)
                    value = cursor.fetchall()[0][0]
                finally:
                    cursor.close()
            except Exception as exc:  # noqa: BLE001 (any failure only turns reuse off)
                self._fail(exc)
                return object()
            self._warned = False
            return (self._generation, value)

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> None:
        pooled = self._engine.raw_connection()
        # Taken out of the pool for good: the pool opens another in its place.
        pooled.detach()
        connection = pooled.dbapi_connection
        if self._engine.dialect.name == "postgresql":
            connection.autocommit = True
        self._connection = connection
        self._generation = next(self._connections)
        self._finalizer = weakref.finalize(self, connection.close)

    def _close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._connection = None
        self._finalizer = None

    def _fail(self, exc: Exception) -> None:
        if not self._warned:
            # The message names the error's type only: a driver's text may hold the URL.
            log.warning(
                "cannot read the store's commit marker (%s); answers are not reused until it can",
                type(exc).__name__,
            )
            self._warned = True
        self._close()
