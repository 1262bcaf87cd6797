"""A sync killed, throttled or failing mid-way ends with exactly the source's rows.

The source is the fake REST API served for real on 127.0.0.1; the sync runs the
custom REST preset end to end (HTTP, pagination, mapping, upsert).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.services import connectors as service
from app.store.db import Database
from app.store.models import Connector, DemandLine, SyncRun, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.conftest import TEST_KEY
from tests.fakes.rest_api import ORDER_LINES_MAPPING, FakeRestApi, serve_rest_api

VAULT = Vault(base64.b64decode(TEST_KEY))


def add(database: Database, api: FakeRestApi, **overrides) -> int:
    values = api.connector_settings(**overrides)
    created = service.add_connector(
        database,
        VAULT,
        preset="custom_rest",
        name="shop",
        values=values,
        mapping=ORDER_LINES_MAPPING,
    )
    return created["id"]


def source_lines(api: FakeRestApi) -> dict[tuple[str, str], Decimal]:
    lines = {}
    for order_id in api.matching_ids(None):
        order = api.order(order_id)
        for line in order["line_items"]:
            lines[(str(order["id"]), str(line["id"]))] = Decimal(str(line["quantity"]))
    return lines


def stored_lines(database: Database) -> dict[tuple[str, str], Decimal]:
    with database.session() as session:
        return {
            (row.order_id, row.line_id): row.quantity for row in session.scalars(select(DemandLine))
        }


def runs(database: Database) -> list[SyncRun]:
    with database.session() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


@pytest.mark.slow
@pytest.mark.parametrize("pagination", ["link_header", "page_number"])
def test_a_sync_killed_with_sigkill_resumes_with_nothing_lost_or_doubled(
    database: Database, isolated_env, pagination: str
) -> None:
    with serve_rest_api(orders=400, pagination=pagination, auth="bearer") as api:
        connector_id = add(database, api, page_size=20)  # 20 pages of 60 lines
        api.respond_slowly(count=1_000, delay=0.15)  # slow enough to kill mid-way
        env = {
            **os.environ,
            "ACCUPREDIX_DATABASE_URL": database.url,
            "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": TEST_KEY,
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from app.cli.main import main; main()",
                "connector",
                "sync",
                str(connector_id),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                done = [r.pages for r in runs(database)]
                if done and done[-1] >= 4:
                    break
                assert process.poll() is None, "the sync finished before it could be killed"
                time.sleep(0.05)
            else:
                raise AssertionError("the sync never got going")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)

        killed = runs(database)[-1]
        assert killed.status is SyncStatus.RUNNING
        assert 4 <= killed.pages < 20
        partial = stored_lines(database)
        assert len(partial) == killed.rows_inserted == killed.pages * 60

        api.reset_counters()
        api.respond_slowly(count=0, delay=0)
        resumed = sync_connector(database, VAULT, connector_id)
        assert resumed.status is SyncStatus.COMPLETE, resumed.error
        # Nothing re-read: the resumed sync starts right after the last committed page.
        assert resumed.updated == 0
        assert killed.rows_inserted + resumed.inserted == 1_200
        assert stored_lines(database) == source_lines(api)

    first, second = runs(database)
    assert first.status is SyncStatus.FAILED
    assert "Interrupted" in first.error
    assert second.status is SyncStatus.COMPLETE


@pytest.mark.parametrize(
    "fault",
    ["429", "5xx", "timeout"],
)
def test_throttling_errors_and_timeouts_mid_sync_lose_nothing(
    sqlite_database: Database, fault: str
) -> None:
    with serve_rest_api(orders=120, pagination="next_url", auth="api_key_header") as api:
        connector_id = add(sqlite_database, api, page_size=20, timeout_seconds=1)
        if fault == "429":
            api.fail_with_429(count=3, retry_after="1", at=3)
        elif fault == "5xx":
            api.fail_with_5xx(count=3, status=502, at=3)
        else:
            api.respond_slowly(count=2, delay=2.5, at=3)
        result = sync_connector(sqlite_database, VAULT, connector_id)
        assert result.status is SyncStatus.COMPLETE, result.error
        assert (result.inserted, result.updated) == (360, 0)
        assert stored_lines(sqlite_database) == source_lines(api)
        statuses = [entry.status for entry in api.log]
        if fault == "429":
            assert statuses.count(429) == 3
            throttled = [e for e in api.log if e.status == 429]
            retry = api.log[api.log.index(throttled[-1]) + 1]
            assert retry.started - throttled[-1].finished >= 0.9, "Retry-After was not honoured"
        elif fault == "5xx":
            assert statuses.count(502) == 3
        assert api.served == 6 + (3 if fault != "timeout" else 2)


def test_an_incremental_sync_brings_changes_and_refunds(sqlite_database: Database) -> None:
    with serve_rest_api(orders=50, pagination="cursor", auth="basic") as api:
        connector_id = add(sqlite_database, api, page_size=25)
        first = sync_connector(sqlite_database, VAULT, connector_id)
        assert (first.inserted, first.updated) == (150, 0)
        api.touch([3, 7])
        api.add_orders(2)
        second = sync_connector(sqlite_database, VAULT, connector_id)
        assert second.status is SyncStatus.COMPLETE
        # The changed orders and the new ones; the overlap window may re-read a few.
        assert second.inserted == 6
        assert second.updated >= 6
        assert stored_lines(sqlite_database) == source_lines(api)
        with sqlite_database.session() as session:
            assert session.get(Connector, connector_id).cursor is not None


def test_revoked_credentials_set_needs_reconnect(sqlite_database: Database) -> None:
    with serve_rest_api(orders=30, pagination="page_number", auth="bearer") as api:
        connector_id = add(sqlite_database, api, token="not-the-token")
        result = sync_connector(sqlite_database, VAULT, connector_id)
    assert result.status is SyncStatus.FAILED
    with sqlite_database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector.status.value == "needs_reconnect"
        assert "not-the-token" not in connector.status_message
