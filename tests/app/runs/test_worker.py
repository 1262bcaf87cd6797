"""Runs executed in a child process, interrupted runs recognised, and the CLI."""

from __future__ import annotations

import time

import numpy as np
from click.testing import CliRunner
from sqlalchemy import update

from app.cli.main import cli
from app.config import load_config
from app.runs.worker import RunWorker, fail_interrupted, run_lock_name
from app.services import runs as service
from app.store.db import Database, open_database
from app.store.models import ForecastRun, RunStatus
from app.sync.leader import lock_for
from tests.app.runs.test_execute import seed, shapes


def wait_for(database: Database, run_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = service.get_run(database, run_id)
        if view["status"] in ("complete", "failed"):
            return view
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish: {view}")


def test_the_worker_executes_queued_runs_in_a_child_process(sqlite_database: Database) -> None:
    workspace_id = seed(sqlite_database, shapes(np.random.default_rng(5)))
    worker = RunWorker(sqlite_database, poll_seconds=60)
    worker.start()
    try:
        created, _ = service.create_run(sqlite_database, workspace_id=workspace_id, horizon=4)
        worker.wake()
        view = wait_for(sqlite_database, created["id"])
    finally:
        worker.stop()
    assert view["status"] == "complete", view["error"]
    assert view["series_done"] == 4


def test_a_run_whose_process_died_is_marked_failed(sqlite_database: Database) -> None:
    workspace_id = seed(sqlite_database, {})
    alive, _ = service.create_run(sqlite_database, workspace_id=workspace_id)
    dead, _ = service.create_run(sqlite_database, workspace_id=workspace_id)
    with sqlite_database.session() as session:
        session.execute(update(ForecastRun).values(status=RunStatus.RUNNING))
    held = lock_for(sqlite_database, run_lock_name(alive["id"]))
    assert held.try_acquire()  # as the child executing it would
    try:
        assert fail_interrupted(sqlite_database) == 1
    finally:
        held.release()
    assert service.get_run(sqlite_database, alive["id"])["status"] == "running"
    died = service.get_run(sqlite_database, dead["id"])
    assert died["status"] == "failed"
    assert "Interrupted" in died["error"]


def test_run_commands() -> None:
    database = open_database(load_config())
    seed(database, shapes(np.random.default_rng(6)))
    runner = CliRunner()
    queued = runner.invoke(cli, ["run", "create"], catch_exceptions=False)
    assert queued.exit_code == 0
    assert queued.stdout.startswith("queued run 1")
    done = runner.invoke(cli, ["run", "create", "--wait", "--horizon", "4"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "run 2 complete: 4 series" in done.stdout
    listed = runner.invoke(cli, ["run", "list"], catch_exceptions=False)
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["2", "complete", "4/4"]
    assert lines[1].split()[:2] == ["1", "queued"]
    bad = runner.invoke(cli, ["run", "create", "--horizon", "0"])
    assert bad.exit_code == 1
    assert "horizon must be between" in bad.output
    database.dispose()
