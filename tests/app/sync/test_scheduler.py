"""The sync scheduler and its leader election, on real SQLite and PostgreSQL stores."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from app.store.db import Database
from app.store.models import (
    Connector,
    ConnectorStatus,
    Organisation,
    Plan,
    SyncStatus,
    Workspace,
)
from app.store.types import utcnow
from app.sync.leader import (
    SCHEDULER,
    FileLeaderLock,
    LeaderLock,
    LocalLeaderLock,
    PostgresLeaderLock,
    leader_lock_for,
)
from app.sync.scheduler import SyncScheduler

WAIT = 15.0  # generous: a loaded CI machine must not fail a correct scheduler
EVERY_SECOND = {"kind": "interval", "every": 1, "unit": "seconds"}
HOURLY = {"kind": "interval", "every": 1, "unit": "hours"}
TEST_MIN_INTERVAL = dt.timedelta(seconds=1)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll a condition that no event announces; True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Recorder:
    """A ``run_sync`` (or ``run_forecast``) that records each call; it can fail or block."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.failing: set[int] = set()
        self.results: dict[int, object] = {}
        self.gate: threading.Event | None = None
        self.running = 0
        self.most_running = 0
        self._cond = threading.Condition()

    def __call__(self, key: int) -> object:
        with self._cond:
            self.calls.append(key)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self._cond.notify_all()
        try:
            if self.gate is not None:
                self.gate.wait(WAIT)
            if key in self.failing:
                raise RuntimeError(f"the source refused connector {key}")
            return self.results.get(key)
        finally:
            with self._cond:
                self.running -= 1
                self._cond.notify_all()

    def count(self, key: int) -> int:
        with self._cond:
            return self.calls.count(key)

    def wait_for(self, predicate: Callable[[list[int]], bool], timeout: float = WAIT) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.calls), timeout)


class CountingLeader(LeaderLock):
    """Wraps a real leader lock and counts polls, so tests wait on polls, not on time."""

    def __init__(self, inner: LeaderLock) -> None:
        self.inner = inner
        self.polls = 0
        self._cond = threading.Condition()

    def try_acquire(self) -> bool:
        result = self.inner.try_acquire()
        with self._cond:
            self.polls += 1
            self._cond.notify_all()
        return result

    def release(self) -> None:
        self.inner.release()

    @property
    def held(self) -> bool:
        return self.inner.held

    def wait_polls(self, more: int) -> None:
        """Wait until ``more`` further polls have finished deciding leadership."""
        with self._cond:
            target = self.polls + more
            assert self._cond.wait_for(lambda: self.polls >= target, WAIT)


class SwitchedLeader(LeaderLock):
    """A lock the test hands out and takes back, to drive step-down and takeover."""

    def __init__(self) -> None:
        self.granted = True
        self._held = False
        self.polls = 0

    def try_acquire(self) -> bool:
        self._held = self.granted
        self.polls += 1
        return self._held

    def release(self) -> None:
        self._held = False

    @property
    def held(self) -> bool:
        return self._held


@dataclass
class FakeSyncResult:
    """Shaped like the engine's result: a failed source is returned, not raised."""

    status: SyncStatus
    error: str | None = None


def add_workspace(database: Database, name: str = "Main") -> int:
    with database.session() as session:
        workspace = Workspace(name=name, organisation=Organisation(name="Acme", plan=Plan.GROWTH))
        session.add(workspace)
        session.flush()
        return workspace.id


def add_connector(
    database: Database,
    workspace_id: int,
    schedule: dict[str, Any] | None,
    *,
    status: ConnectorStatus = ConnectorStatus.HEALTHY,
    last_synced_at: dt.datetime | None = None,
    name: str = "Shop",
) -> int:
    with database.session() as session:
        connector = Connector(
            workspace_id=workspace_id,
            preset="custom_rest",
            name=name,
            schedule=schedule,
            status=status,
            last_synced_at=last_synced_at,
        )
        session.add(connector)
        session.flush()
        return connector.id


def set_connector(database: Database, connector_id: int, **values: Any) -> None:
    with database.session() as session:
        session.execute(update(Connector).where(Connector.id == connector_id).values(**values))


@pytest.fixture
def make_scheduler(database: Database) -> Iterator[Callable[..., SyncScheduler]]:
    """Builds schedulers with fast polling and stops every one of them afterwards."""
    made: list[SyncScheduler] = []

    def make(run_sync: Recorder, **options: Any) -> SyncScheduler:
        options.setdefault("poll_seconds", 0.1)
        options.setdefault("catch_up_delay", 0)
        options.setdefault("min_interval", TEST_MIN_INTERVAL)
        scheduler = SyncScheduler(database, run_sync, **options)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.stop()


@pytest.fixture
def postgres_database(postgres_templates) -> Iterator[Database]:
    url = postgres_templates.fresh()
    database = Database(url)
    yield database
    database.dispose()
    postgres_templates.drop(url)


# Scheduling


def test_an_interval_job_runs_again_and_again(database: Database, make_scheduler) -> None:
    workspace = add_workspace(database)
    connector = add_connector(
        database, workspace, EVERY_SECOND, last_synced_at=utcnow() - dt.timedelta(hours=1)
    )
    run_sync = Recorder()
    scheduler = make_scheduler(run_sync)
    scheduler.start()

    # The catch-up run, then the trigger's.
    assert run_sync.wait_for(lambda calls: calls.count(connector) >= 2)
    assert set(run_sync.calls) == {connector}
    [job] = scheduler.jobs()
    assert (job.connector_id, job.connector_name, job.description) == (
        connector,
        "Shop",
        "every second",
    )
    assert job.here
    assert job.next_run_at is not None
    assert job.next_run_at.tzinfo is not None


def test_catch_up_runs_an_overdue_connector_once(database: Database, make_scheduler) -> None:
    workspace = add_workspace(database)
    now = utcnow()
    # Five hourly slots missed: one catch-up run, not five.
    overdue = add_connector(
        database, workspace, HOURLY, last_synced_at=now - dt.timedelta(hours=5), name="Overdue"
    )
    recent = add_connector(
        database, workspace, HOURLY, last_synced_at=now - dt.timedelta(minutes=10), name="Recent"
    )
    never = add_connector(
        database, workspace, {"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"}
    )
    manual = add_connector(database, workspace, {"kind": "manual"}, name="Manual")
    leader = CountingLeader(leader_lock_for(database))
    run_sync = Recorder()
    scheduler = make_scheduler(run_sync, leader=leader)
    scheduler.start()

    assert run_sync.wait_for(lambda calls: {overdue, never} <= set(calls))
    leader.wait_polls(5)
    assert sorted(run_sync.calls) == sorted([overdue, never])
    assert manual not in run_sync.calls

    jobs = {job.connector_id: job for job in scheduler.jobs()}
    assert set(jobs) == {overdue, recent, never}
    hour = dt.timedelta(hours=1)
    # After the catch-up the overdue one waits a full interval; the recent one
    # keeps its slot an hour after its last sync.
    assert now + hour - dt.timedelta(minutes=1) < jobs[overdue].next_run_at < utcnow() + hour
    assert jobs[recent].next_run_at == now - dt.timedelta(minutes=10) + hour
    assert jobs[never].description == "daily at 06:30 Europe/Berlin"
    assert utcnow() < jobs[never].next_run_at <= utcnow() + dt.timedelta(hours=24)


def test_paused_manual_and_invalid_connectors_are_not_run(
    database: Database, make_scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = add_workspace(database)
    long_ago = utcnow() - dt.timedelta(days=2)
    healthy = add_connector(database, workspace, HOURLY, last_synced_at=long_ago)
    disabled = add_connector(
        database, workspace, HOURLY, status=ConnectorStatus.DISABLED, last_synced_at=long_ago
    )
    reconnect = add_connector(
        database, workspace, HOURLY, status=ConnectorStatus.NEEDS_RECONNECT, last_synced_at=long_ago
    )
    manual = add_connector(database, workspace, None, last_synced_at=long_ago)
    invalid = add_connector(database, workspace, {"kind": "hourly"}, name="Broken")
    leader = CountingLeader(leader_lock_for(database))
    run_sync = Recorder()
    scheduler = make_scheduler(run_sync, leader=leader)
    caplog.set_level(logging.WARNING, logger="app.sync.scheduler")
    scheduler.start()

    assert run_sync.wait_for(lambda calls: healthy in calls)
    leader.wait_polls(5)
    assert run_sync.calls == [healthy]
    assert {job.connector_id for job in scheduler.jobs()} == {healthy}
    # Said once, however many polls read it.
    warnings = [r.getMessage() for r in caplog.records if f"Connector {invalid}" in r.getMessage()]
    assert len(warnings) == 1
    assert "Broken" in warnings[0]
    assert "kind must be one of manual, interval, daily; got 'hourly'" in warnings[0]

    # Another process (the CLI) re-enables one and fixes another: the poll notices.
    set_connector(database, disabled, status=ConnectorStatus.HEALTHY)
    set_connector(database, invalid, schedule=HOURLY)
    assert run_sync.wait_for(lambda calls: {disabled, invalid} <= set(calls))
    assert reconnect not in run_sync.calls
    assert manual not in run_sync.calls


def test_a_failing_sync_does_not_stop_the_others(
    database: Database, make_scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = add_workspace(database)
    failing = add_connector(database, workspace, EVERY_SECOND, name="Flaky")
    working = add_connector(database, workspace, EVERY_SECOND, name="Steady")
    run_sync = Recorder()
    run_sync.failing.add(failing)
    scheduler = make_scheduler(run_sync)
    caplog.set_level(logging.WARNING)
    scheduler.start()

    # Both keep their schedules: the failing one is tried again too.
    assert run_sync.wait_for(lambda calls: calls.count(failing) >= 2 and calls.count(working) >= 2)
    scheduler.stop()
    messages = [r.getMessage() for r in caplog.records if r.name == "app.sync.scheduler"]
    assert (
        f"Scheduled sync of connector {failing} (Flaky) failed: the source refused connector "
        f"{failing}" in messages
    )
    assert not any(str(working) in m and "failed" in m for m in messages)
    # Caught and told as a warning, not left to APScheduler's error trace.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_forecast_after_a_successful_sync_only(database: Database, make_scheduler) -> None:
    first = add_workspace(database, "First")
    second = add_workspace(database, "Second")
    forecast_hourly = {**HOURLY, "forecast_after": True}
    wanted = add_connector(database, second, forecast_hourly, name="Forecast me")
    plain = add_connector(database, first, HOURLY, name="Plain")
    raising = add_connector(database, first, forecast_hourly, name="Raises")
    returned_failure = add_connector(database, first, forecast_hourly, name="Returns failure")
    run_sync, run_forecast = Recorder(), Recorder()
    run_sync.failing.add(raising)
    run_sync.results[wanted] = FakeSyncResult(SyncStatus.COMPLETE)
    run_sync.results[returned_failure] = FakeSyncResult(SyncStatus.FAILED, "HTTP 500")
    scheduler = make_scheduler(run_sync, run_forecast=run_forecast)
    scheduler.start()

    assert run_sync.wait_for(lambda calls: {wanted, plain, raising, returned_failure} <= set(calls))
    assert run_forecast.wait_for(lambda calls: len(calls) >= 1)
    scheduler.stop(wait=True)  # lets every started job finish before we count
    assert run_forecast.calls == [second]


def test_one_sync_at_a_time_per_connector(database: Database, make_scheduler) -> None:
    workspace = add_workspace(database)
    connector = add_connector(database, workspace, EVERY_SECOND)
    run_sync = Recorder()
    run_sync.gate = threading.Event()
    skipped = threading.Event()

    class SkipWatcher(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "maximum number of running instances reached" in record.getMessage():
                skipped.set()

    watcher = SkipWatcher()
    logging.getLogger("apscheduler").addHandler(watcher)
    try:
        scheduler = make_scheduler(run_sync)
        scheduler.start()
        assert run_sync.wait_for(lambda calls: len(calls) == 1)
        # The next slot comes while the first sync still runs: it is skipped.
        assert skipped.wait(WAIT)
        assert run_sync.count(connector) == 1
        run_sync.gate.set()
        scheduler.stop(wait=True)
    finally:
        run_sync.gate.set()
        logging.getLogger("apscheduler").removeHandler(watcher)
    assert run_sync.most_running == 1


def test_reload_applies_added_edited_and_deleted_schedules(
    database: Database, make_scheduler
) -> None:
    workspace = add_workspace(database)
    leader = CountingLeader(leader_lock_for(database))
    run_sync = Recorder()
    scheduler = make_scheduler(run_sync, leader=leader, poll_seconds=60)
    scheduler.start()
    assert wait_until(lambda: scheduler.is_leader)
    assert scheduler.jobs() == []

    connector = add_connector(database, workspace, HOURLY, name="New")
    scheduler.reload()
    assert run_sync.wait_for(lambda calls: calls == [connector])

    synced = utcnow()
    set_connector(database, connector, last_synced_at=synced, schedule={**HOURLY, "every": 3})
    scheduler.reload()
    [job] = scheduler.jobs()
    assert job.description == "every 3 hours"
    assert job.next_run_at == synced + dt.timedelta(hours=3)

    set_connector(database, connector, name="Renamed")
    scheduler.reload()
    assert [job.connector_name for job in scheduler.jobs()] == ["Renamed"]

    with database.session() as session:
        session.execute(delete(Connector).where(Connector.id == connector))
    scheduler.reload()
    assert scheduler.jobs() == []
    assert leader.polls == 1  # all of it through reload(), none through polling


# Leadership


def test_two_schedulers_one_leader_and_takeover(database: Database, make_scheduler) -> None:
    workspace = add_workspace(database)
    connector = add_connector(database, workspace, EVERY_SECOND)
    first_sync, second_sync = Recorder(), Recorder()
    first_lock = CountingLeader(leader_lock_for(database))
    second_lock = CountingLeader(leader_lock_for(database))
    first = make_scheduler(first_sync, leader=first_lock)
    second = make_scheduler(second_sync, leader=second_lock)
    first.start()
    second.start()

    assert wait_until(lambda: len(first_sync.calls) + len(second_sync.calls) >= 1)
    first_lock.wait_polls(3)
    second_lock.wait_polls(3)
    leader, follower = (first, second) if first.is_leader else (second, first)
    leader_sync, follower_sync = (
        (first_sync, second_sync) if leader is first else (second_sync, first_sync)
    )
    assert leader.is_leader
    assert not follower.is_leader
    assert follower_sync.calls == []
    assert [job.here for job in leader.jobs()] == [True]
    # The follower still tells the UI what the leader will do.
    [estimate] = follower.jobs()
    assert (estimate.connector_id, estimate.here) == (connector, False)

    leader.stop()
    done = len(leader_sync.calls)
    assert follower_sync.wait_for(lambda calls: calls == [connector])
    assert follower.is_leader
    assert len(leader_sync.calls) == done


def test_a_scheduler_that_loses_the_lock_stops_running_jobs(
    database: Database, make_scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    workspace = add_workspace(database)
    add_connector(database, workspace, EVERY_SECOND)
    lock = SwitchedLeader()
    run_sync = Recorder()
    scheduler = make_scheduler(run_sync, leader=lock)
    caplog.set_level(logging.WARNING, logger="app.sync.scheduler")
    scheduler.start()
    assert run_sync.wait_for(lambda calls: len(calls) >= 1)

    lock.granted = False
    assert wait_until(lambda: not scheduler.is_leader)
    assert scheduler.jobs()[0].here is False
    stopped_at = len(run_sync.calls)
    polls = lock.polls
    assert wait_until(lambda: lock.polls >= polls + 12)  # over a second: a slot would have come
    after = len(run_sync.calls)
    assert after <= stopped_at + 1  # at most the run already under way
    assert "Lost the scheduler lock" in caplog.text

    lock.granted = True
    assert run_sync.wait_for(lambda calls: len(calls) > after)
    assert scheduler.is_leader


def test_leader_lock_for_fits_the_dialect(database: Database) -> None:
    lock = leader_lock_for(database)
    if database.engine.dialect.name == "postgresql":
        assert isinstance(lock, PostgresLeaderLock)
    else:
        assert isinstance(lock, FileLeaderLock)
        store = database.engine.url.database
        assert str(lock.path) == f"{store}.{SCHEDULER}.lock"
    memory = Database("sqlite://")
    try:
        assert isinstance(leader_lock_for(memory), LocalLeaderLock)
    finally:
        memory.dispose()


def test_leader_locks_exclude_each_other(database: Database) -> None:
    first, second = leader_lock_for(database), leader_lock_for(database)
    try:
        assert first.try_acquire()
        assert first.held
        assert not second.try_acquire()
        assert not second.held
        assert first.try_acquire()  # a check, while held
        first.release()
        assert not first.held
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()


def test_local_leader_lock_excludes_within_the_process() -> None:
    memory = Database("sqlite://")
    first, second = leader_lock_for(memory), leader_lock_for(memory)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        first.release()
        second.release()
        memory.dispose()


def test_file_lock_steps_down_when_its_file_is_removed(
    sqlite_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = leader_lock_for(sqlite_database), leader_lock_for(sqlite_database)
    assert isinstance(first, FileLeaderLock)
    try:
        assert first.try_acquire()
        first.path.unlink()
        # The lock no longer excludes anyone: a second holder appears...
        assert second.try_acquire()
        # ...and the first notices at its next check and stands down.
        assert not first.try_acquire()
        assert not first.held
        assert "was removed; stepping down" in caplog.text
    finally:
        first.release()
        second.release()


@pytest.mark.postgres
def test_postgres_lock_steps_down_when_its_connection_drops(
    postgres_database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    first = leader_lock_for(postgres_database)
    second = leader_lock_for(postgres_database)
    assert isinstance(first, PostgresLeaderLock)
    try:
        assert first.try_acquire()
        pid = first.backend_pid
        with postgres_database.engine.connect() as connection:
            application = connection.execute(
                text("SELECT application_name FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            ).scalar_one()
            assert application == "accupredix scheduler lock"
            # As when the server restarts or the network drops the session.
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # The server frees a dead session's advisory locks.
        assert wait_until(second.try_acquire)
        assert not first.try_acquire()
        assert not first.held
        assert "dropped; stepping down" in caplog.text
    finally:
        first.release()
        second.release()
