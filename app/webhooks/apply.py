"""Applying one recorded event: its payload mapped and upserted as a sync would.

The payload becomes line records (per provider), the records become rows
through the connector's field mapping (or the preset's default) with the sync's
own :func:`app.sync.rows.map_records`, and the rows are written with the sync's
upsert, keyed by (connector, order, line). One transaction claims the event
(a conditional UPDATE from ``received``), writes the rows and clears the body:
the event is applied exactly when its lines are stored.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy import update
from sqlalchemy.engine import Connection

from app.connectors.base import Record
from app.connectors.registry import get_preset
from app.mapping import MappingError, validate_mapping
from app.services.errors import NotFound
from app.store.db import Database
from app.store.models import Connector, WebhookEvent
from app.store.types import utcnow
from app.sync.rows import RowFormat, map_records
from app.sync.upsert import row_format, statement_for, write_rows
from app.webhooks.events import ERROR_LENGTH, EventStatus, count_attempt, fail_event
from app.webhooks.shopify_orders import LocationsUnavailable, UnreadableDelivery

log = logging.getLogger(__name__)

# Tries of an event that keeps failing in a way that may pass, before it is failed.
MAX_ATTEMPTS = 6


class Reader(Protocol):
    """Turns one provider's delivery bodies into line records for the mapping."""

    def records(self, connector_id: int, body: bytes) -> list[Record]:
        """Raises UnreadableDelivery, or LocationsUnavailable to be tried again later."""
        ...


class Outcome(enum.StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    # Not ours to apply: gone, or settled by another worker.
    SKIPPED = "skipped"
    # The store failed: the event, and the round, wait for a later try.
    RETRY = "retry"
    # The source could not be asked (location names): this event waits, others go on.
    WAITING = "waiting"


@dataclass(frozen=True)
class _Event:
    """What applying needs of an event and its connector, read before writing."""

    id: int
    provider: str
    body: bytes
    connector_id: int
    workspace_id: int
    connector_name: str
    preset: str
    field_mapping: dict[str, Any] | None


def _transient(exc: BaseException) -> bool:
    """Whether a store failure may pass: a lock, a lost connection, a full pool."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError))


class _Unappliable(Exception):
    """The event cannot be applied as it is; the message says why, for the operator."""


def _load(database: Database, event_id: int) -> _Event | None:
    """The event ready to apply, or None if it is not pending."""
    with database.session() as session:
        event = session.get(WebhookEvent, event_id)
        if event is None or event.status != EventStatus.RECEIVED.value:
            return None
        if event.body is None:
            raise _Unappliable("The delivery's body is missing.")
        connector = session.get(Connector, event.connector_id) if event.connector_id else None
        if connector is None:
            raise _Unappliable("The connector of this delivery no longer exists.")
        return _Event(
            id=event.id,
            provider=event.provider,
            body=bytes(event.body),
            connector_id=connector.id,
            workspace_id=connector.workspace_id,
            connector_name=connector.name,
            preset=connector.preset,
            field_mapping=connector.field_mapping,
        )


def _rejections(rejected: Sequence[dict[str, Any]], total: int) -> str:
    first = rejected[0].get("message") if rejected else ""
    return f"{len(rejected)} of {total} lines skipped by the field mapping (first: {first})"


def _newer_stored(
    connection: Connection, form: RowFormat, connector_id: int, rows: list[tuple[Any, ...]]
) -> set[Any]:
    """Orders among ``rows`` of which the store holds a later version than the rows'.

    Shopify retries a failed delivery with the payload it had when the event
    happened, and does not promise order: an older ``orders/updated`` may come
    after a newer one, or after a sync stored the order's current state. Rows
    carry ``source_updated_at`` as the driver binds it, so it is compared as
    stored.
    """
    names = form.plan.names
    order_at, updated_at = names.index("order_id"), names.index("source_updated_at")
    latest: dict[Any, Any] = {}
    for row in rows:
        value = row[updated_at]
        if value is not None and (row[order_at] not in latest or value > latest[row[order_at]]):
            latest[row[order_at]] = value
    mark = statement_for(connection.dialect).placeholder
    query = (
        f"SELECT 1 FROM demand_lines WHERE connector_id = {mark} AND order_id = {mark} "  # noqa: S608 - placeholders only
        f"AND source_updated_at > {mark} LIMIT 1"
    )
    return {
        order_id
        for order_id, value in latest.items()
        if connection.exec_driver_sql(query, (connector_id, order_id, value)).first() is not None
    }


def _write(
    database: Database,
    form: RowFormat,
    event: _Event,
    rows: list[tuple[Any, ...]],
    note: str | None,
) -> tuple[Outcome, int, int]:
    """Claim the event and store its rows in one transaction; (outcome, inserted, updated)."""
    claim = (
        update(WebhookEvent)
        .where(WebhookEvent.id == event.id, WebhookEvent.status == EventStatus.RECEIVED.value)
        .values(
            status=EventStatus.APPLIED.value,
            body=None,
            error=note[:ERROR_LENGTH] if note else None,
            attempts=WebhookEvent.attempts + 1,
            processed_at=utcnow(),
        )
    )
    with database.engine.begin() as connection:
        # The claim comes first: on SQLite it takes the write lock before any
        # read, and elsewhere it locks the event's row until the commit.
        if not connection.execute(claim).rowcount:
            return Outcome.SKIPPED, 0, 0
        stale = _newer_stored(connection, form, event.connector_id, rows)
        if stale:
            order_at = form.plan.names.index("order_id")
            rows = [row for row in rows if row[order_at] not in stale]
            orders = ", ".join(sorted(map(str, stale)))
            older = f"Order {orders}: a later version is already stored."
            connection.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == event.id)
                .values(error="; ".join(filter(None, [older, note]))[:ERROR_LENGTH])
            )
        inserted, updated = write_rows(connection, form, event.connector_id, rows)
    return Outcome.APPLIED, inserted, updated


def _retry_later(database: Database, event_id: int, reason: str, outcome: Outcome) -> Outcome:
    log.warning("webhook event %s: %s; will retry", event_id, reason)
    try:
        attempts = count_attempt(database, event_id)
        if attempts >= MAX_ATTEMPTS:
            fail_event(database, event_id, f"Tried {attempts} times. {reason}")
            return Outcome.FAILED
    except sa_exc.SQLAlchemyError as again:
        log.warning("webhook event %s: could not count the attempt: %s", event_id, again)
    return outcome


def _fail(database: Database, event_id: int, message: str) -> Outcome:
    log.warning("webhook event %s failed: %s", event_id, message)
    return Outcome.FAILED if fail_event(database, event_id, message) else Outcome.SKIPPED


def _prepare(
    database: Database, readers: Mapping[str, Reader], event: _Event
) -> tuple[RowFormat, list[tuple[Any, ...]], str | None]:
    """The event's rows as the upsert takes them, and a note on lines the mapping rejected."""
    reader = readers.get(event.provider)
    if reader is None:
        raise _Unappliable(f"Deliveries of {event.provider!r} are not applied.")
    try:
        records = reader.records(event.connector_id, event.body)
        preset = get_preset(event.preset)
        mapping = validate_mapping(event.field_mapping or preset.default_mapping())
    except (UnreadableDelivery, NotFound) as exc:
        raise _Unappliable(str(exc)) from None
    except MappingError as exc:
        raise _Unappliable(
            f"The field mapping of {event.connector_name!r} is invalid: {exc}"
        ) from None
    form = row_format(database.engine.dialect)
    rows, rejected = map_records(mapping, form, event.connector_id, event.workspace_id, records)
    note = _rejections(rejected, len(rows) + len(rejected)) if rejected else None
    if rejected and not rows:
        raise _Unappliable(f"No line could be stored: {note}.")
    return form, rows, note


def apply_event(database: Database, readers: Mapping[str, Reader], event_id: int) -> Outcome:
    """Apply one ``received`` event; never raises for its content or a store failure.

    ``readers`` turn bodies into line records, by provider. A body that cannot
    be read, or lines that the mapping rejects all of, fail the event with a
    message (the body is kept). A failure that may pass leaves it ``received``
    and counts the attempt (``RETRY`` when the store failed, ``WAITING`` when
    the source could not be asked); after :data:`MAX_ATTEMPTS` it fails.
    """
    try:
        event = _load(database, event_id)
        if event is None:
            return Outcome.SKIPPED
        form, rows, note = _prepare(database, readers, event)
        outcome, inserted, updated = _write(database, form, event, rows, note)
    except _Unappliable as exc:
        return _fail(database, event_id, str(exc))
    except LocationsUnavailable as exc:
        return _retry_later(database, event_id, str(exc), Outcome.WAITING)
    except sa_exc.SQLAlchemyError as exc:
        if _transient(exc):
            reason = f"The store failed ({type(exc).__name__})."
            return _retry_later(database, event_id, reason, Outcome.RETRY)
        log.exception("webhook event %s: the store refused its lines", event_id)
        return _fail(
            database,
            event_id,
            f"The store refused this delivery's lines ({type(exc).__name__}); "
            "the server log has the details.",
        )
    if outcome is Outcome.APPLIED:
        log.info(
            "webhook event %s applied to connector %s: %s lines inserted, %s updated%s",
            event_id,
            event.connector_id,
            inserted,
            updated,
            f" ({note})" if note else "",
        )
    return outcome
