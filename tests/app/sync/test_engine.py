"""The sync engine: page transactions, statuses, counts, rejections, locks."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from app.services import connectors as service
from app.services.errors import ServiceError
from app.services.secrets import read_secrets
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncRun, SyncStatus
from app.sync.engine import SyncInProgress, connector_lock, sync_connector
from app.vault import Vault
from tests.app.sync.memory_preset import MAPPING, orders

VAULT = Vault(bytes(range(32)))


def add(database: Database, records: list[dict], **values) -> int:
    created = service.add_connector(
        database,
        VAULT,
        preset="test_memory",
        name="mem",
        values={"records": json.dumps(records), **values},
        mapping=MAPPING,
    )
    return created["id"]


def lines(database: Database) -> dict[tuple[str, str], tuple[str, float, str | None]]:
    with database.session() as session:
        return {
            (row.order_id, row.line_id): (row.sku, float(row.quantity), row.status)
            for row in session.scalars(select(DemandLine))
        }


def set_records(database: Database, connector_id: int, records: list[dict]) -> None:
    service.update_connector(database, VAULT, connector_id, values={"records": json.dumps(records)})


def test_first_sync_inserts_pages_and_records_the_run(database: Database) -> None:
    connector_id = add(database, orders(25), page_size=10)
    seen = []
    result = sync_connector(database, VAULT, connector_id, progress=seen.append)
    assert result.status is SyncStatus.COMPLETE
    assert (result.pages, result.inserted, result.updated, result.rejected) == (3, 50, 0, 0)
    assert [p.rows for p in seen] == [20, 40, 50]
    assert seen[-1].total == 25
    assert len(lines(database)) == 50
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector.status is ConnectorStatus.HEALTHY
        assert connector.last_synced_at is not None
        assert connector.cursor == {"offset": 25}
        run = session.get(SyncRun, result.sync_run_id)
        assert (run.status, run.pages, run.rows_inserted) == (SyncStatus.COMPLETE, 3, 50)
        assert run.finished_at is not None


def test_pulling_again_updates_and_never_duplicates(database: Database) -> None:
    connector_id = add(database, orders(5), page_size=2)
    sync_connector(database, VAULT, connector_id)
    # The source changed: a line cancelled, a quantity refunded; the cursor is
    # reset so the same lines come again.
    changed = orders(5)
    changed[0]["status"] = "cancelled"
    changed[1]["lines"][0]["qty"] = "-3"
    set_records(database, connector_id, changed)
    with database.session() as session:
        session.get(Connector, connector_id).cursor = None
    result = sync_connector(database, VAULT, connector_id)
    assert (result.inserted, result.updated) == (0, 10)
    stored = lines(database)
    assert len(stored) == 10
    assert stored[("o0", "0")][2] == "cancelled"
    assert stored[("o1", "0")][1] == -3.0


def test_rows_the_mapping_rejects_are_counted_with_examples(database: Database) -> None:
    records = orders(4)
    records[1]["lines"][0]["qty"] = "many"
    del records[2]["date"]
    connector_id = add(database, records)
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.COMPLETE
    assert (result.inserted, result.rejected) == (5, 3)
    with database.session() as session:
        run = session.get(SyncRun, result.sync_run_id)
        assert run.rows_rejected == 3
        messages = " | ".join(r["message"] for r in run.rejections)
        assert "quantity" in messages
        assert "order_date" in messages
        connector = session.get(Connector, connector_id)
        assert connector.status is ConnectorStatus.HEALTHY
        assert connector.status_message.startswith("3 rows skipped")


@pytest.mark.parametrize(
    ("failure", "status", "message"),
    [
        ("auth", ConnectorStatus.NEEDS_RECONNECT, "token expired"),
        ("retry", ConnectorStatus.ERROR, "still down"),
        ("crash", ConnectorStatus.ERROR, "Unexpected error"),
    ],
)
def test_failures_keep_committed_pages_and_set_the_status(
    database: Database, failure: str, status: ConnectorStatus, message: str, caplog
) -> None:
    connector_id = add(
        database, orders(30), page_size=10, fail_at_page=3, failure=failure, token="tok-secret-99"
    )
    result = sync_connector(database, VAULT, connector_id)
    assert result.status is SyncStatus.FAILED
    assert message in result.error
    assert "tok-secret-99" not in result.error
    assert len(lines(database)) == 40, "the two committed pages stay"
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector.status is status
        assert message in connector.status_message
        assert connector.cursor == {"offset": 20}
        run = session.get(SyncRun, result.sync_run_id)
        assert (run.status, run.pages, run.rows_inserted) == (SyncStatus.FAILED, 2, 40)
        assert message in run.error

    # Fixed at the source: the next sync resumes after page two.
    service.update_connector(database, VAULT, connector_id, values={"fail_at_page": 0})
    resumed = sync_connector(database, VAULT, connector_id)
    assert resumed.status is SyncStatus.COMPLETE
    assert (resumed.pages, resumed.inserted, resumed.updated) == (1, 20, 0)
    assert len(lines(database)) == 60


def test_a_second_sync_of_the_same_connector_is_refused(database: Database) -> None:
    connector_id = add(database, orders(3))
    lock = connector_lock(database, connector_id)
    assert lock.try_acquire()
    try:
        with pytest.raises(SyncInProgress):
            sync_connector(database, VAULT, connector_id)
    finally:
        lock.release()
    assert sync_connector(database, VAULT, connector_id).status is SyncStatus.COMPLETE


def test_cancel_stops_between_pages(database: Database) -> None:
    connector_id = add(database, orders(50), page_size=10)
    cancel = threading.Event()

    def stop_after_two(progress) -> None:
        if progress.pages == 2:
            cancel.set()

    result = sync_connector(database, VAULT, connector_id, progress=stop_after_two, cancel=cancel)
    assert result.status is SyncStatus.CANCELLED
    assert len(lines(database)) == 40
    with database.session() as session:
        assert session.get(Connector, connector_id).status is ConnectorStatus.HEALTHY


def test_a_rotated_token_is_saved_even_when_the_sync_fails(database: Database) -> None:
    connector_id = add(
        database,
        orders(30),
        page_size=10,
        token="first-token",
        rotate_token=True,
        fail_at_page=3,
        failure="retry",
    )
    sync_connector(database, VAULT, connector_id)
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        assert read_secrets(VAULT, connector)["token"] == "rotated-2"


def test_disabled_connectors_do_not_sync(database: Database) -> None:
    connector_id = add(database, orders(3))
    service.update_connector(database, VAULT, connector_id, enabled=False)
    with pytest.raises(ServiceError, match="disabled"):
        sync_connector(database, VAULT, connector_id)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(SyncRun)) == 0
