"""Orders the source deleted: their stored lines become ``cancelled``.

A source that reports deletions (QuickBooks' change data capture, Xero's
deleted or voided documents) tells the sync by putting a marker among a page's
records::

    yield Page([*records, deleted_order("1042")], cursor)

The sync takes markers out before the field mapping sees the records, and in
the page's own transaction sets ``status = 'cancelled'`` on every stored line of
that order for the connector. The series builder leaves cancelled lines out, so
the order drops out of demand while its history stays readable; an order the
store never held costs nothing.

The marker names the order as the stored ``order_id``, which is what the
preset's default mapping makes of its records' ``order_id``: a mapping that
builds the order id otherwise (a prefix, another field) does not match it.

This module stays light at import (no SQLAlchemy): the sync's worker process
splits markers out too, and it starts quickly by loading little.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from app.connectors.base import Record

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# A key no source record has: a record holding it is a marker, not data.
MARKER = "__accupredix_deleted_order__"
# Order ids per UPDATE, well below SQLite's variable limit.
_IDS_PER_STATEMENT = 5_000


def deleted_order(order_id: str) -> Record:
    """A marker record: every stored line of ``order_id`` is to be cancelled."""
    return {MARKER: str(order_id)}


def split_deleted(records: Iterable[Record]) -> tuple[list[Record], tuple[str, ...]]:
    """The page's data records, and the order ids its markers name (in order, once each)."""
    data: list[Record] = []
    gone: dict[str, None] = {}
    for record in records:
        order_id = record.get(MARKER) if isinstance(record, dict) else None
        if order_id is None:
            data.append(record)
        else:
            gone[str(order_id)] = None
    return data, tuple(gone)


def cancel_orders(connection: Connection, connector_id: int, order_ids: Sequence[str]) -> int:
    """Set ``cancelled`` on the connector's stored lines of ``order_ids``; returns lines changed.

    Runs in the caller's transaction. Lines already cancelled are left as they are.
    """
    if not order_ids:
        return 0
    from sqlalchemy import or_, update

    from app.store.models import DemandLine
    from app.store.types import utcnow

    changed = 0
    now = utcnow()
    ids = sorted(set(order_ids))
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk: list[Any] = ids[start : start + _IDS_PER_STATEMENT]
        result = connection.execute(
            update(DemandLine)
            .where(
                DemandLine.connector_id == connector_id,
                DemandLine.order_id.in_(chunk),
                or_(DemandLine.status.is_(None), DemandLine.status != "cancelled"),
            )
            .values(status="cancelled", synced_at=now)
        )
        changed += result.rowcount or 0
    return changed
