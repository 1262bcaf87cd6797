"""Insert-or-update of canonical demand lines, keyed by (connector, order, line)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.canonical import COLUMN_NAMES, DEFAULT_LOCATION
from app.store.models import DemandLine
from app.store.types import utcnow

_TABLE = DemandLine.__table__
_KEY = ("connector_id", "order_id", "line_id")
# Bound parameters per statement stay well below SQLite's limit (32,766).
_KEYS_PER_QUERY = 5_000


def existing_keys(
    session: Session, connector_id: int, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (order_id, line_id) pairs among ``keys`` already stored for the connector."""
    found: set[tuple[str, str]] = set()
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[start : start + _KEYS_PER_QUERY]
        rows = session.execute(
            select(DemandLine.order_id, DemandLine.line_id).where(
                DemandLine.connector_id == connector_id,
                tuple_(DemandLine.order_id, DemandLine.line_id).in_(chunk),
            )
        )
        found.update((order_id, line_id) for order_id, line_id in rows)
    return found


def upsert_lines(
    session: Session, connector_id: int, workspace_id: int, rows: Sequence[dict[str, Any]]
) -> tuple[int, int]:
    """Write canonical rows; returns (inserted, updated).

    Rows must be unique by (order_id, line_id) within the call. A row pulled
    again replaces the stored values, so a cancelled or refunded line updates
    its status and quantity rather than adding a second line.
    """
    if not rows:
        return 0, 0
    now = utcnow()
    values = [
        {
            **{name: row.get(name) for name in COLUMN_NAMES},
            "location": row.get("location") or DEFAULT_LOCATION,
            "connector_id": connector_id,
            "workspace_id": workspace_id,
            "synced_at": now,
        }
        for row in rows
    ]
    keys = [(row["order_id"], row["line_id"]) for row in values]
    updated = len(existing_keys(session, connector_id, keys))
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            name: statement.excluded[name]
            for name in (*COLUMN_NAMES, "synced_at")
            if name not in _KEY
        },
    )
    session.execute(statement, values)
    return len(values) - updated, updated
