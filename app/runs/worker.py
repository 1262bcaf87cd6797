"""Executes queued runs in a child process, one at a time, off the caller's threads.

The desktop app and ``accupredix serve`` each run one worker; with several
instances on one store, a run is claimed by exactly one of them. The child
holds a lock on its run, so a run left ``running`` by a process that died is
recognised (its lock is free) and marked failed rather than shown forever.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading

from sqlalchemy import select, update

from app.config import ConfigError, load_config
from app.logs import configure_logging
from app.store.db import Database
from app.store.models import ForecastRun, RunStatus
from app.store.types import utcnow
from app.sync.leader import lock_for

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0


def run_lock_name(run_id: int) -> str:
    return f"forecast-run-{run_id}"


def execute_in_child(database_url: str, run_id: int, cluster: str | None = None) -> None:
    """The child's entry point: hold the run's lock while executing it."""
    # Only the child loads the forecasting libraries; the server keeps its memory.
    from app.runs.execute import RunNotQueued, execute_run

    # The parent validated the settings; logging here is a convenience.
    with contextlib.suppress(ConfigError):
        configure_logging(load_config(), console=False)
    database = Database(database_url)
    lock = lock_for(database, run_lock_name(run_id))
    if not lock.try_acquire():
        return
    try:
        execute_run(database, run_id, cluster=cluster)
    except RunNotQueued:
        log.info("run %s was taken by another worker", run_id)
    finally:
        lock.release()
        database.dispose()


def fail_interrupted(database: Database) -> int:
    """Mark failed the running runs whose executor is gone; returns how many."""
    with database.session() as session:
        running = list(
            session.scalars(select(ForecastRun.id).where(ForecastRun.status == RunStatus.RUNNING))
        )
    failed = 0
    for run_id in running:
        lock = lock_for(database, run_lock_name(run_id))
        if not lock.try_acquire():
            continue  # alive somewhere
        try:
            with database.session() as session:
                failed += session.execute(
                    update(ForecastRun)
                    .where(ForecastRun.id == run_id, ForecastRun.status == RunStatus.RUNNING)
                    .values(
                        status=RunStatus.FAILED,
                        completed_at=utcnow(),
                        error="Interrupted: the process running it stopped.",
                    )
                ).rowcount
        finally:
            lock.release()
    return failed


class RunWorker:
    """Polls for queued runs and executes each in a child process."""

    def __init__(
        self,
        database: Database,
        *,
        poll_seconds: float = POLL_SECONDS,
        cluster: str | None = None,
    ) -> None:
        self.database = database
        self.cluster = cluster
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: multiprocessing.process.BaseProcess | None = None
        # Spawn: a fork of a process with Qt or Waitress threads is not safe.
        self._context = multiprocessing.get_context("spawn")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="run-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for queued runs now (after creating one)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; a run in flight is given ``timeout`` seconds, then ended.

        An ended run is marked failed at the next start of any worker.
        """
        self._stop.set()
        self._wake.set()
        child = self._child
        if child is not None and child.is_alive():
            child.join(timeout)
            if child.is_alive():
                child.terminate()
                child.join(5)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                fail_interrupted(self.database)
                self._run_queued()
            except Exception:
                log.exception("run worker: polling failed; retrying")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _run_queued(self) -> None:
        from app.services.runs import queued_run_ids

        for run_id in queued_run_ids(self.database):
            if self._stop.is_set():
                return
            child = self._context.Process(
                target=execute_in_child,
                args=(self.database.url, run_id, self.cluster),
                name=f"forecast-run-{run_id}",
            )
            self._child = child
            child.start()
            child.join()
            self._child = None
