"""The demo connectors sync like real ones: the same lines as seeded, never doubled."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from app.demo import seed_demo
from app.store.db import Database
from app.store.models import Connector, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault

VAULT = Vault(bytes(range(32)))


def snapshot(database: Database) -> dict:
    with database.session() as session:
        return {
            (row.connector_id, row.order_id, row.line_id): (
                row.order_date,
                row.sku,
                row.quantity,
                row.location,
                row.status,
                row.unit_price,
                row.source_updated_at,
            )
            for row in session.scalars(select(DemandLine))
        }


def test_resyncing_the_demo_from_scratch_reproduces_the_seed(sqlite_database: Database) -> None:
    summary = seed_demo(sqlite_database, seed=3, end=dt.date(2026, 6, 30), days=90, skus=12)
    seeded = snapshot(sqlite_database)

    # Nothing new after the seed: the cursor says the history is in.
    web = summary.connectors[0]
    result = sync_connector(sqlite_database, VAULT, web)
    assert (result.status, result.inserted, result.updated) == (SyncStatus.COMPLETE, 0, 0)

    # From scratch: every line comes again, updates in place, none is added.
    with sqlite_database.session() as session:
        session.execute(update(Connector).values(cursor=None))
    total = 0
    for connector_id in summary.connectors:
        result = sync_connector(sqlite_database, VAULT, connector_id)
        assert result.status is SyncStatus.COMPLETE, result.error
        assert (result.inserted, result.rejected) == (0, 0)
        total += result.updated
    assert total == summary.lines
    assert snapshot(sqlite_database) == seeded
