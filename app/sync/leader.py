"""Locks that at most one process holds, freed by the database or the OS on death.

The scheduler uses one to elect a single leader: of several instances on one
store, only one schedules syncs. The sync engine uses one per connector, so
that a connector never syncs twice at once, whichever process started it.

With PostgreSQL the leader holds a session-level advisory lock on a dedicated
connection; the server frees it when that session ends, however the process
died. With SQLite (one machine) the leader holds an OS file lock next to the
database file. Followers call :meth:`LeaderLock.try_acquire` again every poll
and take over once the lock is free.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
import threading
from collections.abc import Hashable
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.store.db import Database

log = logging.getLogger(__name__)

# "AccuPrdx" in ASCII: one advisory lock key per database, shared by every
# instance of AccuPredix that uses it. Advisory locks are scoped to a database,
# so stores on the same server do not contend.
ADVISORY_LOCK_KEY = 0x4163637550726478
SCHEDULER = "scheduler"

# libpq settings for the lock's connection: notice a dead peer within about a
# minute, so a partitioned leader steps down instead of waiting on TCP for hours.
_PG_CONNECT_ARGS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}


class LeaderLock(abc.ABC):
    """A lock that at most one scheduler holds at a time."""

    @abc.abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock, or confirm it is still held; never waits for another holder.

        Returns False when another instance holds it, or when a held lock was
        lost (its connection dropped, its file was removed): the caller must then
        stop acting as leader.
        """

    @abc.abstractmethod
    def release(self) -> None:
        """Give the lock up, if held, so a follower can take over."""

    @property
    @abc.abstractmethod
    def held(self) -> bool:
        """Whether this instance held the lock at the last acquire or check."""


class PostgresLeaderLock(LeaderLock):
    """``pg_try_advisory_lock`` held on a connection of its own."""

    def __init__(
        self, url: URL | str, *, key: int = ADVISORY_LOCK_KEY, name: str = SCHEDULER
    ) -> None:
        # Its own engine without a pool: the locking session must never be
        # handed to other work, nor kept open by a pool once released.
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={**_PG_CONNECT_ARGS, "application_name": f"accupredix {name} lock"},
        )
        self.name = name
        self._key = key
        self._connection: Connection | None = None
        self._guard = threading.Lock()
        self._failing = False

    @property
    def held(self) -> bool:
        return self._connection is not None

    def try_acquire(self) -> bool:
        with self._guard:
            if self._connection is not None:
                if self._alive(self._connection):
                    return True
                log.warning("The connection holding the %s lock dropped; stepping down.", self.name)
                self._close()
            return self._acquire()

    def release(self) -> None:
        with self._guard:
            if self._connection is None:
                return
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
            except SQLAlchemyError as exc:
                # Closing the session below frees the lock on the server anyway.
                log.debug("unlocking the %s lock failed: %s", self.name, exc)
            self._close()

    @property
    def backend_pid(self) -> int | None:
        """The server process of the locking session, as ``pg_stat_activity`` shows it."""
        with self._guard:
            if self._connection is None:
                return None
            return int(self._connection.execute(text("SELECT pg_backend_pid()")).scalar_one())

    def _acquire(self) -> bool:
        try:
            connection = self._engine.connect()
        except SQLAlchemyError as exc:
            if not self._failing:
                log.warning("Cannot reach the database for the %s lock: %s", self.name, exc)
            self._failing = True
            return False
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar_one()
        except SQLAlchemyError as exc:
            connection.close()
            if not self._failing:
                log.warning("Cannot take the %s lock: %s", self.name, exc)
            self._failing = True
            return False
        self._failing = False
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    @staticmethod
    def _alive(connection: Connection) -> bool:
        # A session-level advisory lock lives exactly as long as its session,
        # so a working session means the lock is still ours.
        try:
            connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.debug("lock session check failed: %s", exc)
            return False
        return True

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.close()
        except SQLAlchemyError as exc:
            log.debug("closing the lock connection failed: %s", exc)


class FileLeaderLock(LeaderLock):
    """An OS lock (``flock``, or ``msvcrt`` on Windows) on a file next to the store."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Not thread-local: the poll thread acquires, stop() may release.
        self._file = FileLock(self.path, timeout=0, thread_local=False)
        self._identity: tuple[int, int] | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._identity is not None

    def try_acquire(self) -> bool:
        with self._guard:
            if self._identity is not None:
                if self._file_identity() == self._identity:
                    return True
                # Another process could lock a new file at the same path.
                log.warning("The lock file %s was removed; stepping down.", self.path)
                self._release()
            try:
                self._file.acquire(blocking=False)
            except Timeout:
                return False
            except OSError as exc:
                log.warning("Cannot take the lock file %s: %s", self.path, exc)
                return False
            self._identity = self._file_identity()
            if self._identity is None:
                self._release()
                return False
            return True

    def release(self) -> None:
        with self._guard:
            self._release()

    def _release(self) -> None:
        self._identity = None
        if self._file.is_locked:
            self._file.release(force=True)

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            status = self.path.stat()
        except OSError:
            return None
        return (status.st_dev, status.st_ino)


_local_holders: set[Hashable] = set()
_local_guard = threading.Lock()


class LocalLeaderLock(LeaderLock):
    """A lock within this process, for stores no other process can open (in-memory SQLite)."""

    def __init__(self, key: Hashable) -> None:
        self._key = key
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        with _local_guard:
            if not self._held and self._key not in _local_holders:
                _local_holders.add(self._key)
                self._held = True
            return self._held

    def release(self) -> None:
        with _local_guard:
            if self._held:
                _local_holders.discard(self._key)
                self._held = False


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a lock name."""
    if name == SCHEDULER:
        return ADVISORY_LOCK_KEY
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_for(database: Database, name: str) -> LeaderLock:
    """The lock called ``name`` on this store, of the kind that fits its dialect."""
    url = database.engine.url
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresLeaderLock(url, key=advisory_key(name), name=name)
    if backend == "sqlite":
        path = sqlite_file(url)
        if path is None:
            return LocalLeaderLock((database.engine, name))
        return FileLeaderLock(path.with_name(f"{path.name}.{name}.lock"))
    raise ValueError(f"No process locks for {backend} stores; use SQLite or PostgreSQL.")


def leader_lock_for(database: Database) -> LeaderLock:
    """The scheduler's leader lock on this store."""
    return lock_for(database, SCHEDULER)


def sqlite_file(url: URL) -> Path | None:
    """The database file of an SQLite URL; None for an in-memory database."""
    name = url.database or ""
    if name.startswith("file:"):
        # An SQLite URI filename (with ?uri=true): file:path?mode=...
        if "mode=memory" in name:
            return None
        name = name.removeprefix("file:").split("?", 1)[0]
    if name in ("", ":memory:"):
        return None
    return Path(name).absolute()
