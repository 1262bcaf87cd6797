"""The applier runs with the process's background work: started, woken, stopped with it."""

from __future__ import annotations

from app.config import load_config
from app.runtime import Runtime
from app.services.scheduling import BackgroundWork
from app.store.db import Database
from app.vault import Vault
from app.webhooks import doorbell
from tests.app.webhooks.support import (
    add_shopify_connector,
    deliver,
    events,
    simple_order,
    stored_lines,
    wait_until,
)


def test_background_work_applies_what_is_pending_and_what_the_route_rings_for(
    sqlite_database: Database,
) -> None:
    vault = Vault(bytes(32))
    runtime = Runtime(config=load_config(), database=sqlite_database, vault=vault)
    connector_id = add_shopify_connector(sqlite_database, vault)
    deliver(sqlite_database, vault, connector_id, simple_order(9401))
    work = BackgroundWork(runtime)
    work.start()
    try:
        wait_until(lambda: events(sqlite_database)[0].status == "applied")
        deliver(sqlite_database, vault, connector_id, simple_order(9402))
        doorbell.ring()
        wait_until(lambda: all(event.status == "applied" for event in events(sqlite_database)))
    finally:
        work.stop()
    assert len(stored_lines(sqlite_database, connector_id)) == 4
    # Stopped: a ring reaches nobody, and the event waits for the next start.
    deliver(sqlite_database, vault, connector_id, simple_order(9403))
    doorbell.ring()
    assert events(sqlite_database)[-1].status == "received"
