"""The in-process sync scheduler: runs each connector's sync on its schedule.

It runs inside the desktop app and inside ``accupredix serve``. Jobs live in
memory and are rebuilt from ``Connector.schedule`` on every poll, so a change
made by another process (the CLI) is picked up within ``poll_seconds``. When
several instances share a store, only the one holding the leader lock runs
jobs; the others keep polling and take over when it goes away.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, SyncStatus
from app.store.types import utcnow
from app.sync.leader import LeaderLock, leader_lock_for
from app.sync.schedules import MIN_INTERVAL, Schedule, ScheduleError, parse_schedule

log = logging.getLogger(__name__)

# Connectors that wait for the operator: nothing is scheduled for them.
PAUSED = frozenset({ConnectorStatus.DISABLED, ConnectorStatus.NEEDS_RECONNECT})
POLL_JOB = "scheduler-poll"
POLL_EXECUTOR = "scheduler-poll"
# The poll runs every poll_seconds; APScheduler's two INFO lines per run would bury the log.
logging.getLogger(f"apscheduler.executors.{POLL_EXECUTOR}").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ScheduledSync:
    """A connector's schedule and its next sync, for the UI."""

    connector_id: int
    connector_name: str
    description: str
    next_run_at: dt.datetime | None
    # False when another instance leads: next_run_at is then an estimate.
    here: bool


@dataclass(frozen=True)
class _Job:
    schedule: Schedule
    name: str


@dataclass(frozen=True)
class _Row:
    id: int
    name: str
    workspace_id: int
    schedule: Any
    status: ConnectorStatus
    last_synced_at: dt.datetime | None


class SyncScheduler:
    """Runs ``run_sync(connector_id)`` on each connector's schedule, while leader."""

    def __init__(
        self,
        database: Database,
        run_sync: Callable[[int], object],
        *,
        run_forecast: Callable[[int], object] | None = None,
        leader: LeaderLock | None = None,
        poll_seconds: float = 30,
        catch_up_delay: float = 5,
        max_workers: int = 4,
        min_interval: dt.timedelta = MIN_INTERVAL,
    ) -> None:
        """Set up; nothing runs before :meth:`start`.

        Args:
            database: the store whose connectors are scheduled.
            run_sync: the sync engine's entry point. It fails by raising, or by
                returning a result whose ``status`` is not complete (as the
                engine's ``SyncResult`` does); either way it is logged and the
                schedule carries on.
            run_forecast: starts a forecast run of a workspace; called after a
                successful sync whose schedule says ``forecast_after``.
            leader: the election lock; by default the one that fits the store.
            poll_seconds: how often to re-read schedules and retry leadership.
            catch_up_delay: seconds after start before an overdue sync runs.
            max_workers: syncs of different connectors that may run at once.
            min_interval: the shortest interval accepted; only tests lower it.
        """
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self._database = database
        self._run_sync = run_sync
        self._run_forecast = run_forecast
        self._leader = leader if leader is not None else leader_lock_for(database)
        self._poll_seconds = poll_seconds
        self._catch_up_delay = dt.timedelta(seconds=catch_up_delay)
        self._max_workers = max_workers
        self._min_interval = min_interval
        self._lock = threading.RLock()
        self._scheduler: BackgroundScheduler | None = None
        self._leading = False
        self._jobs: dict[int, _Job] = {}
        # The invalid specs already warned about, so each is logged once.
        self._invalid: dict[int, str] = {}
        self._store_failing = False

    @property
    def is_leader(self) -> bool:
        """Whether this instance runs the jobs (as of its last poll)."""
        return self._leading

    def start(self) -> None:
        """Start polling; the first poll (leadership, schedules) runs at once."""
        with self._lock:
            if self._scheduler is not None:
                return
            scheduler = BackgroundScheduler(
                executors={
                    "default": ThreadPoolExecutor(self._max_workers),
                    POLL_EXECUTOR: ThreadPoolExecutor(1),
                },
                job_defaults={
                    # Missed runs after downtime or sleep become one run, late
                    # rather than never; a run still going makes the next skip.
                    "coalesce": True,
                    "max_instances": 1,
                    "misfire_grace_time": None,
                },
                timezone=dt.UTC,
            )
            scheduler.add_job(
                self._poll,
                IntervalTrigger(seconds=self._poll_seconds, timezone=dt.UTC),
                id=POLL_JOB,
                name="scheduler poll",
                executor=POLL_EXECUTOR,
                next_run_time=utcnow(),
            )
            scheduler.start()
            self._scheduler = scheduler

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling and give up leadership.

        With ``wait`` running syncs finish first. Without it they go on after the
        lock is released; the engine's per-connector lock keeps a new leader from
        syncing the same connector meanwhile.
        """
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        # Outside the lock: a poll in flight needs it to finish.
        scheduler.shutdown(wait=wait)
        with self._lock:
            self._leading = False
            self._jobs.clear()
        self._leader.release()

    def reload(self) -> None:
        """Re-read every connector's schedule now; call after adding, editing or deleting one.

        Only the leader holds jobs; a follower has nothing to reload, and the
        leader (maybe in another process) picks the change up at its next poll.
        """
        with self._lock:
            if self._scheduler is not None and self._leading:
                self._reconcile(self._scheduler)

    def jobs(self) -> list[ScheduledSync]:
        """Each scheduled connector with its next sync, soonest first.

        On a follower (or before the first poll) the times are estimated from the
        store, and ``here`` is False.
        """
        with self._lock:
            if self._scheduler is not None and self._leading:
                found = [
                    ScheduledSync(cid, job.name, job.schedule.describe(), self._next_run(cid), True)
                    for cid, job in self._jobs.items()
                ]
                return sorted(found, key=_by_next_run)
            # Not leading: say when the leader should run each, from the store.
            now = utcnow()
            found = []
            for row in self._scheduled_rows():
                schedule = self._parse(row)
                if schedule is None:
                    continue
                due = schedule.next_due(row.last_synced_at, now)
                next_run = max(due, now) if due is not None else None
                found.append(ScheduledSync(row.id, row.name, schedule.describe(), next_run, False))
            return sorted(found, key=_by_next_run)

    # Polling and leadership

    def _poll(self) -> None:
        try:
            leading = self._leader.try_acquire()
        except Exception:
            log.exception("The scheduler's leader check failed; not scheduling until it works.")
            leading = False
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None:
                # Stopped while acquiring: stop() may already have released.
                if leading:
                    self._leader.release()
                return
            if leading != self._leading:
                self._leading = leading
                if leading:
                    log.info("This instance now schedules connector syncs.")
                else:
                    log.warning("Lost the scheduler lock; another instance schedules syncs now.")
                    self._remove_all(scheduler)
            if leading:
                self._reconcile(scheduler)

    def _remove_all(self, scheduler: BackgroundScheduler) -> None:
        for cid in list(self._jobs):
            self._remove(scheduler, cid)

    def _remove(self, scheduler: BackgroundScheduler, cid: int) -> None:
        self._jobs.pop(cid, None)
        with contextlib.suppress(JobLookupError):
            scheduler.remove_job(_job_id(cid))

    # Reading schedules

    def _reconcile(self, scheduler: BackgroundScheduler) -> None:
        """Make the jobs match the store: add, replace and remove."""
        now = utcnow()
        wanted: dict[int, tuple[_Job, _Row]] = {}
        for row in self._scheduled_rows():
            schedule = self._parse(row)
            if schedule is not None:
                wanted[row.id] = (_Job(schedule, row.name), row)
        if self._store_failing:
            return  # keep the jobs we have rather than drop them all
        for cid, job in list(self._jobs.items()):
            if cid not in wanted or wanted[cid][0].schedule != job.schedule:
                self._remove(scheduler, cid)
        for cid, (job, row) in wanted.items():
            if cid in self._jobs:
                self._jobs[cid] = job  # the name may have changed
                continue
            due = job.schedule.next_due(row.last_synced_at, now)
            trigger = job.schedule.to_trigger()
            if due is None or trigger is None:
                continue
            if due <= now:
                # Once, however many slots were missed.
                log.info("Connector %s (%s) is overdue; syncing it once now.", cid, row.name)
            scheduler.add_job(
                self._run,
                trigger,
                args=(cid,),
                id=_job_id(cid),
                name=f"sync connector {cid}",
                next_run_time=max(due, now + self._catch_up_delay),
                replace_existing=True,
            )
            self._jobs[cid] = job

    def _scheduled_rows(self) -> list[_Row]:
        """Every connector that is not paused; a read failure is logged once and gives none."""
        try:
            with self._database.session() as session:
                rows = session.execute(
                    select(
                        Connector.id,
                        Connector.name,
                        Connector.workspace_id,
                        Connector.schedule,
                        Connector.status,
                        Connector.last_synced_at,
                    )
                ).all()
        except SQLAlchemyError as exc:
            if not self._store_failing:
                log.warning("The scheduler cannot read connectors: %s", exc)
            self._store_failing = True
            return []
        if self._store_failing:
            log.info("The scheduler reads connectors again.")
        self._store_failing = False
        return [_Row(*row) for row in rows if row.status not in PAUSED]

    def _parse(self, row: _Row) -> Schedule | None:
        """The row's schedule; None when manual or invalid (warned about once)."""
        try:
            schedule = parse_schedule(row.schedule, min_interval=self._min_interval)
        except ScheduleError as exc:
            with self._lock:
                if self._invalid.get(row.id) == repr(row.schedule):
                    return None
                self._invalid[row.id] = repr(row.schedule)
            log.warning(
                "Connector %s (%s) is not scheduled: its schedule is invalid. %s",
                row.id,
                row.name,
                exc,
            )
            return None
        with self._lock:
            self._invalid.pop(row.id, None)
        return None if schedule.to_trigger() is None else schedule

    def _next_run(self, cid: int) -> dt.datetime | None:
        scheduler = self._scheduler
        job = scheduler.get_job(_job_id(cid)) if scheduler is not None else None
        if job is None or job.next_run_time is None:
            return None
        return job.next_run_time.astimezone(dt.UTC)

    # Running

    def _run(self, cid: int) -> None:
        """One scheduled sync; never raises, so one connector cannot stop the others."""
        if not self._leading:
            return  # stepped down after this run fell due
        row = self._current(cid)
        if row is None:
            return
        schedule = self._parse(row)
        if schedule is None:
            return
        log.info("Scheduled sync of connector %s (%s) starting.", cid, row.name)
        try:
            result = self._run_sync(cid)
        except Exception as exc:
            log.warning("Scheduled sync of connector %s (%s) failed: %s", cid, row.name, exc)
            log.debug("sync failure of connector %s", cid, exc_info=True)
            return
        # The engine records a source's failure on the sync run and returns it.
        status = getattr(result, "status", None)
        if status is not None and status != SyncStatus.COMPLETE:
            log.warning(
                "Scheduled sync of connector %s (%s) ended %s: %s",
                cid,
                row.name,
                status,
                getattr(result, "error", None) or "no message",
            )
            return
        if schedule.forecast_after and self._run_forecast is not None:
            try:
                self._run_forecast(row.workspace_id)
            except Exception as exc:
                log.warning(
                    "The forecast run after the sync of connector %s (%s) failed to start: %s",
                    cid,
                    row.name,
                    exc,
                )
                log.debug("forecast failure after connector %s", cid, exc_info=True)

    def _current(self, cid: int) -> _Row | None:
        """The connector as it is now, or None when it must not sync now."""
        try:
            with self._database.session() as session:
                connector = session.get(Connector, cid)
                row = None if connector is None else _row(connector)
        except SQLAlchemyError as exc:
            log.warning("Scheduled sync of connector %s skipped: cannot read it: %s", cid, exc)
            return None
        if row is None:
            log.info("Scheduled sync of connector %s skipped: it was deleted.", cid)
            return None
        if row.status in PAUSED:
            log.info("Scheduled sync of connector %s skipped: it is %s.", cid, row.status.value)
            return None
        return row


def _row(connector: Connector) -> _Row:
    return _Row(
        connector.id,
        connector.name,
        connector.workspace_id,
        connector.schedule,
        connector.status,
        connector.last_synced_at,
    )


def _job_id(cid: int) -> str:
    return f"sync-{cid}"


def _by_next_run(job: ScheduledSync) -> tuple[bool, dt.datetime, int]:
    unset = job.next_run_at is None
    return (unset, job.next_run_at or dt.datetime.max.replace(tzinfo=dt.UTC), job.connector_id)
