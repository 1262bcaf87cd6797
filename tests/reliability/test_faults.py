"""Faults: `serve` killed mid-sync, mid-run and mid-rotation; SQLite under concurrent writers.

Each test kills real processes with SIGKILL (no chance to clean up) and then
checks the store as an operator would after a restart: every source line there
exactly once, no run left `running`, every secret readable.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from app.services import api_keys, organisations
from app.services import connectors as connector_service
from app.services import runs as run_service
from app.store.db import Database
from app.store.models import (
    Connector,
    DemandLine,
    Forecast,
    ForecastRun,
    RunStatus,
    SyncRun,
    SyncStatus,
)
from app.vault import Vault, connector_context
from tests.app.runs.test_execute import shapes
from tests.conftest import TEST_KEY
from tests.fakes.rest_api import ORDER_LINES_MAPPING, FakeRestApi, serve_rest_api
from tests.reliability.support import FIGURES, SCALE, Serve, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

VAULT = Vault(base64.b64decode(TEST_KEY))


def open_store(data_dir: Path) -> Database:
    data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(f"sqlite:///{data_dir / 'accupredix.db'}")
    database.upgrade()
    with database.session() as session:
        organisations.default_workspace(session)
        organisations.set_plan(session, "growth")
    return database


def add_rest_connector(database: Database, api: FakeRestApi, name: str = "shop") -> int:
    created = connector_service.add_connector(
        database,
        VAULT,
        preset="custom_rest",
        name=name,
        values=api.connector_settings(),
        mapping=ORDER_LINES_MAPPING,
        schedule={"kind": "interval", "every": 60, "unit": "minutes"},
    )
    return created["id"]


def source_line_keys(api: FakeRestApi) -> set[tuple[str, str]]:
    return {
        (str(order_id), str(line["id"]))
        for order_id in api.matching_ids(None)
        for line in api.order(order_id)["line_items"]
    }


def stored_line_keys(database: Database, connector_id: int) -> list[tuple[str, str]]:
    with database.session() as session:
        rows = session.execute(
            select(DemandLine.order_id, DemandLine.line_id).where(
                DemandLine.connector_id == connector_id
            )
        )
        return [(order_id, line_id) for order_id, line_id in rows]


def sync_runs(database: Database, connector_id: int) -> list[SyncRun]:
    with database.session() as session:
        return list(
            session.scalars(
                select(SyncRun).where(SyncRun.connector_id == connector_id).order_by(SyncRun.id)
            )
        )


def test_serve_killed_during_a_scheduled_sync_loses_and_doubles_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = open_store(data)
    with serve_rest_api(4_000 * SCALE, pagination="link_header", default_page_size=100) as api:
        connector_id = add_rest_connector(database, api)
        expected = source_line_keys(api)
        server = Serve(data).start()
        try:
            # The scheduler syncs a never-synced connector at once; kill it a few pages in.
            wait_for(
                lambda: any(r.pages >= 3 for r in sync_runs(database, connector_id)),
                120,
                "the scheduled sync to store a few pages",
            )
            server.kill()
            partial = stored_line_keys(database, connector_id)
            assert 0 < len(partial) < len(expected), "killed part-way through"

            server = Serve(data).start()
            wait_for(
                lambda: any(
                    r.status == SyncStatus.COMPLETE for r in sync_runs(database, connector_id)
                ),
                180,
                "the sync to complete after the restart",
            )
            assert server.stop() == 0
        finally:
            server.stop()
    stored = stored_line_keys(database, connector_id)
    assert len(stored) == len(set(stored)), "no line stored twice"
    assert set(stored) == expected, "every source line stored"
    runs = sync_runs(database, connector_id)
    assert [r.status for r in runs if r.status == SyncStatus.RUNNING] == []
    assert any(r.status == SyncStatus.FAILED for r in runs), "the killed sync is marked failed"
    FIGURES.add("lines synced", len(stored))
    FIGURES.add("rows lost", len(expected - set(stored)))
    database.dispose()


def test_serve_killed_during_a_forecast_run_leaves_no_half_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = open_store(data)
    rng = np.random.default_rng(5)
    series = {}
    for i in range(60 * SCALE):
        series.update({f"{name}-{i}": values for name, values in shapes(rng).items()})
    with database.session() as session:
        workspace_id = organisations.default_workspace(session).id
    seed_into(database, workspace_id, series)
    with database.session() as session:
        key = api_keys.create_key(session, name="ops", scopes=["read", "write"]).secret

    server = Serve(data).start()
    try:
        status, body = server.request("POST", "/api/v1/runs", key, {"horizon": 8})
        assert status == 202, body
        run_id = body["id"]
        wait_for(
            lambda: run_service.get_run(database, run_id)["status"] == "running",
            120,
            "the run to start",
            step=0.05,
        )
        server.kill()

        server = Serve(data).start()
        failed = wait_for(
            lambda: (r := run_service.get_run(database, run_id))["status"] == "failed" and r,
            60,
            "the interrupted run to be marked failed",
        )
        assert "Interrupted" in failed["error"]
        with database.session() as session:
            half = session.scalar(
                select(func.count()).select_from(Forecast).where(Forecast.run_id == run_id)
            )
        assert half == 0, "a killed run leaves no forecasts"

        status, body = server.request("POST", "/api/v1/runs", key, {"horizon": 8})
        assert status == 202, body
        again = body["id"]
        done = wait_for(
            lambda: (
                (r := run_service.get_run(database, again))["status"] in ("complete", "failed")
                and r
            ),
            300,
            "the next run to finish",
        )
        assert done["status"] == "complete", done
        assert server.stop() == 0
    finally:
        server.stop()
    with database.session() as session:
        stuck = session.scalar(
            select(func.count())
            .select_from(ForecastRun)
            .where(ForecastRun.status == RunStatus.RUNNING)
        )
    assert stuck == 0
    database.dispose()


def seed_into(database: Database, workspace_id: int, series: dict) -> None:
    from tests.app.runs.test_execute import write_weeks

    with database.session() as session:
        connector = Connector(workspace_id=workspace_id, preset="demo", name="history")
        session.add(connector)
        session.flush()
        connector_id = connector.id
    write_weeks(database, workspace_id, connector_id, series, first_week=0)


def test_key_rotation_killed_part_way_leaves_every_secret_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = open_store(data)
    count = 150 * SCALE
    for n in range(count):
        connector_service.add_connector(
            database,
            VAULT,
            preset="custom_rest",
            name=f"api {n}",
            values={
                "base_url": "http://127.0.0.1:9",
                "auth": "bearer",
                "token": f"token-{n}",
            },
        )
    new_key = base64.b64encode(os.urandom(32)).decode()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ACCUPREDIX_")},
        "ACCUPREDIX_DATA_DIR": str(data),
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": new_key,
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS": TEST_KEY,
    }
    command = [sys.executable, "-c", "from app.cli.main import main; main()", "vault", "rotate"]
    rotating = subprocess.Popen(command, env=env, start_new_session=True)
    # Kill it once some secrets carry the new key (or when it is done, if it was quick).
    both = Vault(base64.b64decode(new_key), [base64.b64decode(TEST_KEY)])
    wait_for(
        lambda: rotated_count(database, both) > 0 or rotating.poll() is not None,
        60,
        "the rotation to begin",
        step=0.01,
    )
    if rotating.poll() is None:
        os.killpg(rotating.pid, signal.SIGKILL)
        FIGURES.add("faults injected")
    rotating.wait(10)
    assert read_all(database, both) == {f"token-{n}" for n in range(count)}

    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    only_new = Vault(base64.b64decode(new_key))
    assert read_all(database, only_new) == {f"token-{n}" for n in range(count)}
    database.dispose()


def rotated_count(database: Database, vault: Vault) -> int:
    with database.session() as session:
        tokens = [c.secrets["token"] for c in session.scalars(select(Connector))]
    return sum(not vault.needs_rotation(token) for token in tokens)


def read_all(database: Database, vault: Vault) -> set[str]:
    with database.session() as session:
        return {
            vault.decrypt(c.secrets["token"], connector_context(c.id, "token"))
            for c in session.scalars(select(Connector))
        }


def test_sqlite_under_concurrent_writers_never_says_locked(tmp_path: Path) -> None:
    """Syncs, API writes and a CLI run on one SQLite file at once: none is refused."""
    data = tmp_path / "data"
    database = open_store(data)
    with database.session() as session:
        key = api_keys.create_key(session, name="ops", scopes=["read", "write"]).secret
        workspace_id = organisations.default_workspace(session).id
    seed_into(database, workspace_id, shapes(np.random.default_rng(2)))
    with serve_rest_api(1_500 * SCALE, pagination="link_header", default_page_size=50) as api:
        connectors = [add_rest_connector(database, api, f"shop {n}") for n in range(3)]
        server = Serve(data).start()
        errors: list[str] = []

        def post_runs() -> None:
            for n in range(20):
                status, body = server.request(
                    "POST",
                    "/api/v1/runs",
                    key,
                    {"horizon": 4},
                )
                if status != 202 and "Idempotency" not in str(body):
                    errors.append(f"POST /runs {n}: {status} {body}")

        def cli_syncs() -> None:
            for connector_id in connectors[:2]:
                result = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "from app.cli.main import main; main()",
                        "connector",
                        "sync",
                        str(connector_id),
                    ],
                    env=server.env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                # Another process syncing the same connector is a clear refusal, not a lock.
                if result.returncode != 0 and "already" not in result.stderr:
                    errors.append(result.stderr)
                if "locked" in (result.stdout + result.stderr):
                    errors.append(result.stderr)

        threads = [threading.Thread(target=post_runs), threading.Thread(target=cli_syncs)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(300)
            wait_for(
                lambda: all(
                    any(r.status == SyncStatus.COMPLETE for r in sync_runs(database, c))
                    for c in connectors
                ),
                300,
                "every connector to sync",
            )
            assert server.stop() == 0
        finally:
            server.stop()
        output = server.output()
        expected = source_line_keys(api)
    assert errors == []
    assert "database is locked" not in output
    for connector_id in connectors:
        stored = stored_line_keys(database, connector_id)
        assert sorted(stored) == sorted(expected)
    database.dispose()
