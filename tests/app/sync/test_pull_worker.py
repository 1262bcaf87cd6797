"""The sync's worker process: same results as syncing in-process, errors, cancel, kill, logs."""

from __future__ import annotations

import base64
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncRun, SyncStatus
from app.sync import pages as pages_module
from app.sync import worker
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.conftest import TEST_KEY
from tests.fakes.rest_api import ORDER_LINES_MAPPING, TOKEN, FakeRestApi, serve_rest_api

VAULT = Vault(base64.b64decode(TEST_KEY))

# The fake's own mapping, with the product name too.
ORDER_LINES = {
    "columns": {
        **ORDER_LINES_MAPPING["columns"],
        "product_name": {"path": "line_items[].title"},
    }
}
# Quantities 4 and 5 are not in the map: those lines are rejected.
PICKY = {
    "columns": {
        **ORDER_LINES["columns"],
        "quantity": {
            "path": "line_items[].quantity",
            "transforms": [{"type": "map", "values": {"1": "1", "2": "2", "3": "3"}}],
        },
    }
}


class Spy:
    """Counts hand-overs to a worker; waits for the worker to be up, so hand-overs are certain."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.handovers = 0
        original = worker.PullWorker.pages
        original_ready = worker.PullWorker.ready

        def pages(this, *args, **kwargs):
            self.handovers += 1
            return original(this, *args, **kwargs)

        def ready(this):
            deadline = time.monotonic() + 60
            while not original_ready(this):
                assert time.monotonic() < deadline
                time.sleep(0.02)
            return True

        monkeypatch.setattr(worker.PullWorker, "pages", pages)
        monkeypatch.setattr(worker.PullWorker, "ready", ready)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    return Spy(monkeypatch)


def add(database: Database, api: FakeRestApi, mapping=ORDER_LINES, name="shop", **overrides) -> int:
    values = api.connector_settings(**overrides)
    created = service.add_connector(
        database, VAULT, preset="custom_rest", name=name, values=values, mapping=mapping
    )
    return created["id"]


def lines(database: Database, connector_id: int) -> list[tuple]:
    with database.session() as session:
        rows = session.scalars(
            select(DemandLine)
            .where(DemandLine.connector_id == connector_id)
            .order_by(DemandLine.order_id, DemandLine.line_id)
        )
        return [
            (
                r.order_id,
                r.line_id,
                r.order_date,
                r.sku,
                r.quantity,
                r.product_name,
                r.unit_price,
                r.currency,
                r.location,
                r.customer_id,
                r.channel,
                r.status,
                r.source_updated_at,
                r.workspace_id,
            )
            for r in rows
        ]


def run_of(database: Database, run_id: int) -> SyncRun:
    with database.session() as session:
        return session.get(SyncRun, run_id)


def wait_until_no_children(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()


def test_worker_and_in_process_store_the_same(database: Database, monkeypatch, spy) -> None:
    with serve_rest_api(orders=300, pagination="link_header", auth="bearer") as api:
        here = add(database, api, name="here", page_size=20)
        there = add(database, api, name="there", page_size=20)
        monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 10**9)
        first = sync_connector(database, VAULT, here)
        assert spy.handovers == 0
        api.reset_counters()
        monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 60)
        second = sync_connector(database, VAULT, there)
        assert spy.handovers == 1
        # One page read twice, at the hand-over.
        assert api.served == 16
        wait_until_no_children()
    assert first.status is second.status is SyncStatus.COMPLETE, (first, second)
    assert (first.inserted, first.updated, first.rejected, first.pages) == (900, 0, 0, 15)
    assert (second.inserted, second.updated, second.rejected, second.pages) == (900, 0, 0, 15)
    assert lines(database, here) == lines(database, there)
    assert len(lines(database, here)) == 900
    with database.session() as session:
        a = session.get(Connector, here).cursor
        b = session.get(Connector, there).cursor
    assert a["watermark"] == b["watermark"]
    assert "url" not in b


def test_incremental_updates_and_rejections_through_the_worker(
    sqlite_database: Database, monkeypatch, spy
) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    with serve_rest_api(orders=200, pagination="cursor", auth="basic") as api:
        picky = add(sqlite_database, api, mapping=PICKY, name="picky", page_size=25)
        plain = add(sqlite_database, api, name="plain", page_size=25)
        monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 10**9)
        expected = sync_connector(sqlite_database, VAULT, picky)
        monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
        # Same connector again from scratch, through the worker.
        with sqlite_database.session() as session:
            session.get(Connector, picky).cursor = None
        again = sync_connector(sqlite_database, VAULT, picky)
        assert spy.handovers == 1
        assert again.rejected == expected.rejected > 0
        assert again.updated == expected.inserted
        assert again.inserted == 0
        assert (
            run_of(sqlite_database, again.sync_run_id).rejections
            == run_of(sqlite_database, expected.sync_run_id).rejections
        )
        first = sync_connector(sqlite_database, VAULT, plain)
        assert first.inserted == 600
        api.touch(range(1, 120))
        api.add_orders(40)
        second = sync_connector(sqlite_database, VAULT, plain)
        assert second.status is SyncStatus.COMPLETE
        assert second.inserted == 120
        assert second.updated >= 357
        stored = {(o, ln): q for o, ln, _, _, q, *_ in lines(sqlite_database, plain)}
        source = {}
        for order_id in api.matching_ids(None):
            order = api.order(order_id)
            for line in order["line_items"]:
                source[(str(order_id), str(line["id"]))] = Decimal(str(line["quantity"]))
        assert stored == source
    wait_until_no_children()


def test_a_source_error_after_the_hand_over_fails_the_sync_as_before(
    database: Database, monkeypatch, spy
) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    with serve_rest_api(orders=200, pagination="page_number", auth="bearer") as api:
        connector_id = add(database, api, page_size=10)
        api.fail_with_5xx(count=5, status=404, at=12)
        result = sync_connector(database, VAULT, connector_id)
    assert spy.handovers == 1
    assert result.status is SyncStatus.FAILED
    assert "HTTP 404" in result.error
    # Request 12 failed; one page was read twice at the hand-over, so 10 are stored.
    assert result.pages == 10
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector.status is ConnectorStatus.ERROR
        assert connector.cursor["page"] == 11
    assert len(lines(database, connector_id)) == 10 * 30
    wait_until_no_children()


def test_refused_credentials_in_the_worker_need_a_reconnect(
    sqlite_database: Database, monkeypatch, spy
) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    with serve_rest_api(orders=100, pagination="page_number", auth="bearer") as api:
        connector_id = add(sqlite_database, api, page_size=10)
        api.fail_with_5xx(count=5, status=401, at=6)
        result = sync_connector(sqlite_database, VAULT, connector_id)
    assert spy.handovers == 1
    assert result.status is SyncStatus.FAILED
    with sqlite_database.session() as session:
        assert session.get(Connector, connector_id).status is ConnectorStatus.NEEDS_RECONNECT
    wait_until_no_children()


def test_cancel_after_the_hand_over(sqlite_database: Database, monkeypatch, spy) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    with serve_rest_api(orders=400, pagination="link_header", auth="none") as api:
        connector_id = add(sqlite_database, api, page_size=10)
        api.respond_slowly(count=1000, delay=0.05)
        cancel = threading.Event()

        def stop(progress) -> None:
            if progress.pages == 12:
                cancel.set()

        started = time.monotonic()
        result = sync_connector(sqlite_database, VAULT, connector_id, progress=stop, cancel=cancel)
        assert time.monotonic() - started < 20
    assert spy.handovers == 1
    assert result.status is SyncStatus.CANCELLED
    assert len(lines(sqlite_database, connector_id)) == 12 * 30
    with sqlite_database.session() as session:
        assert session.get(Connector, connector_id).status is ConnectorStatus.HEALTHY
    wait_until_no_children()


def test_a_probe_that_differs_keeps_the_sync_here(
    sqlite_database: Database, monkeypatch, spy, caplog
) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    original = worker.PullWorker.__init__

    def init(self, job, probe):
        original(self, job, [("not", "the", "probe")])

    monkeypatch.setattr(worker.PullWorker, "__init__", init)
    with serve_rest_api(orders=300, pagination="link_header", auth="none") as api:
        connector_id = add(sqlite_database, api, page_size=10)
        api.respond_slowly(count=1000, delay=0.02)
        with caplog.at_level(logging.WARNING):
            result = sync_connector(sqlite_database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE
    assert result.inserted == 900
    assert spy.handovers == 0
    assert "converts values differently" in caplog.text
    wait_until_no_children()


def test_worker_logs_arrive_here_masked(
    sqlite_database: Database, monkeypatch, caplog, spy
) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    caplog.set_level(logging.DEBUG)
    with serve_rest_api(orders=200, pagination="next_url", auth="bearer") as api:
        connector_id = add(sqlite_database, api, page_size=10)
        result = sync_connector(sqlite_database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE
    assert spy.handovers == 1
    worker_records = [r for r in caplog.records if r.process != os.getpid()]
    assert worker_records, "nothing logged by the worker arrived"
    assert any("read" in r.getMessage() and "records" in r.getMessage() for r in worker_records)
    assert TOKEN not in caplog.text
    wait_until_no_children()


def _sync_in_child(url: str, connector_id: int) -> subprocess.Popen:
    code = (
        "import sys; from app.sync import pages; pages.WORKER_AFTER_ROWS = 30; "
        "from app.cli.main import main; sys.argv = ['accupredix', 'connector', 'sync', "
        f"'{connector_id}']; main()"
    )
    env = {
        **os.environ,
        "ACCUPREDIX_DATABASE_URL": url,
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": TEST_KEY,
    }
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _children_of_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except ProcessLookupError:
                pass
    return found


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["group", "parent only"])
def test_sigkill_in_the_worker_phase_resumes_and_leaves_no_process(
    database: Database, kill: str
) -> None:
    with serve_rest_api(orders=400, pagination="link_header", auth="bearer") as api:
        connector_id = add(database, api, page_size=20)
        api.respond_slowly(count=1000, delay=0.1)
        process = _sync_in_child(database.url, connector_id)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with database.session() as session:
                    runs = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))
                if runs and runs[-1].pages >= 8:
                    break
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.05)
            else:
                raise AssertionError("the sync never got going")
            # The worker is running in the sync's process group.
            assert len(_children_of_group(process.pid)) >= 2
            if kill == "group":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            deadline = time.monotonic() + 10
            while _children_of_group(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _children_of_group(process.pid) == [], "the worker outlived its parent"
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.stderr.close()
        with database.session() as session:
            killed = list(session.scalars(select(SyncRun).order_by(SyncRun.id)))[-1]
        assert killed.status is SyncStatus.RUNNING
        assert len(lines(database, connector_id)) == killed.rows_inserted == killed.pages * 60
        api.reset_counters()
        api.respond_slowly(count=0, delay=0)
        resumed = sync_connector(database, VAULT, connector_id)
        assert resumed.status is SyncStatus.COMPLETE, resumed.error
        assert resumed.updated == 0
        assert killed.rows_inserted + resumed.inserted == 1200
        assert len(lines(database, connector_id)) == 1200
    wait_until_no_children()


def test_a_worker_that_dies_fails_the_sync_and_the_next_one_resumes(
    sqlite_database: Database, monkeypatch, spy, caplog
) -> None:
    monkeypatch.setattr(pages_module, "WORKER_AFTER_ROWS", 30)
    with serve_rest_api(orders=300, pagination="link_header", auth="bearer") as api:
        connector_id = add(sqlite_database, api, page_size=10)
        api.respond_slowly(count=1000, delay=0.03)

        def kill_worker(progress) -> None:
            if progress.pages == 10:
                for child in multiprocessing.active_children():
                    os.kill(child.pid, signal.SIGKILL)

        result = sync_connector(sqlite_database, VAULT, connector_id, progress=kill_worker)
        assert spy.handovers == 1
        assert result.status is SyncStatus.FAILED
        assert result.error == "Unexpected error during sync; the log file has the details."
        assert "the sync worker stopped" in caplog.text
        wait_until_no_children()
        api.respond_slowly(count=0, delay=0)
        resumed = sync_connector(sqlite_database, VAULT, connector_id)
        assert resumed.status is SyncStatus.COMPLETE
        assert result.inserted + resumed.inserted == 900
        assert resumed.updated == 0
    assert len(lines(sqlite_database, connector_id)) == 900
    wait_until_no_children()


def test_presets_that_sign_in_with_oauth_are_read_here() -> None:
    """A refresh in a child could neither take the store's lock nor save before use."""
    from sqlalchemy.dialects import sqlite

    from app.connectors.custom_rest import CustomRestPreset
    from app.connectors.registry import get_preset
    from app.mapping import validate_mapping
    from app.sync.upsert import row_format

    mapping = validate_mapping(ORDER_LINES_MAPPING)
    form = row_format(sqlite.dialect())
    assert pages_module.worker_starter(CustomRestPreset(), 1, 1, mapping, form) is not None
    for preset_id in ("quickbooks", "shopify"):
        preset = get_preset(preset_id)()
        assert preset.read_ahead
        assert pages_module.worker_starter(preset, 1, 1, mapping, form) is None
