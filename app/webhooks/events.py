"""The ``webhook_events`` table as a queue: record once, list pending, settle.

A delivery is recorded once per (provider, delivery id): a redelivery inserts
nothing (``ON CONFLICT DO NOTHING`` on the unique key), so concurrent copies of
one delivery cannot both be recorded. Every statement that changes an event is
conditional on its status, which is what keeps several processes from applying
or settling one event twice.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.store.db import Database
from app.store.models import WebhookEvent
from app.store.types import utcnow

log = logging.getLogger(__name__)

# What the ``delivery_id`` column holds at most.
DELIVERY_ID_LENGTH = 128
# Messages kept on an event are for the operator; a page of text is plenty.
ERROR_LENGTH = 2_000


class EventStatus(enum.StrEnum):
    RECEIVED = "received"
    APPLIED = "applied"
    FAILED = "failed"


def record_event(
    database: Database,
    *,
    provider: str,
    delivery_id: str,
    connector_id: int,
    topic: str,
    body: bytes,
) -> int | None:
    """Store a delivery as ``received``; its event id, or None if it was recorded before."""
    dialect = database.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(WebhookEvent)
        .values(
            provider=provider,
            delivery_id=delivery_id,
            connector_id=connector_id,
            topic=topic,
            status=EventStatus.RECEIVED.value,
            body=body,
            attempts=0,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "delivery_id"])
        .returning(WebhookEvent.id)
    )
    # The insert is the transaction's first statement: on SQLite it takes the
    # write lock (waiting for it if need be) before reading anything.
    with database.engine.begin() as connection:
        return connection.execute(statement).scalar_one_or_none()


def pending_event_ids(database: Database, *, after: int = 0, limit: int = 100) -> list[int]:
    """Ids of ``received`` events above ``after``, oldest first."""
    with database.session() as session:
        return list(
            session.scalars(
                select(WebhookEvent.id)
                .where(WebhookEvent.status == EventStatus.RECEIVED.value, WebhookEvent.id > after)
                .order_by(WebhookEvent.id)
                .limit(limit)
            )
        )


def fail_event(database: Database, event_id: int, message: str) -> bool:
    """Mark a ``received`` event failed, keeping its body; False if it was settled already."""
    with database.engine.begin() as connection:
        changed = connection.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.id == event_id,
                WebhookEvent.status == EventStatus.RECEIVED.value,
            )
            .values(
                status=EventStatus.FAILED.value,
                error=message[:ERROR_LENGTH],
                attempts=WebhookEvent.attempts + 1,
                processed_at=utcnow(),
            )
        ).rowcount
    return bool(changed)


def count_attempt(database: Database, event_id: int) -> int:
    """Count a failed try at a ``received`` event; returns its tries so far (0: settled)."""
    with database.engine.begin() as connection:
        connection.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.id == event_id,
                WebhookEvent.status == EventStatus.RECEIVED.value,
            )
            .values(attempts=WebhookEvent.attempts + 1)
        )
        attempts = connection.execute(
            select(WebhookEvent.attempts).where(
                WebhookEvent.id == event_id, WebhookEvent.status == EventStatus.RECEIVED.value
            )
        ).scalar_one_or_none()
    return attempts or 0


def retry_failed_events(database: Database, connector_id: int) -> int:
    """Put a connector's failed events that kept their body back in the queue; how many."""
    with database.engine.begin() as connection:
        return connection.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.connector_id == connector_id,
                WebhookEvent.status == EventStatus.FAILED.value,
                WebhookEvent.body.is_not(None),
            )
            .values(status=EventStatus.RECEIVED.value, error=None, attempts=0, processed_at=None)
        ).rowcount
