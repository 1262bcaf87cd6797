"""Applying recorded Shopify deliveries: lines through the preset's mapping, once each."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import event as sa_event

from app.connectors.base import SourceConfig
from app.connectors.errors import RetryableError
from app.connectors.shopify import ShopifyPreset
from app.services.webhooks import retry_failed_deliveries
from app.store.db import Database
from app.store.models import Connector
from app.vault import Vault
from app.webhooks import doorbell
from app.webhooks.apply import MAX_ATTEMPTS, Outcome
from app.webhooks.shopify_orders import ShopifyOrders
from app.webhooks.worker import WebhookApplier
from tests.app.webhooks.support import (
    SHOP,
    T0,
    Line,
    Order,
    add_shopify_connector,
    deliver,
    deliver_body,
    events,
    simple_order,
    stored_lines,
    wait_until,
)


@pytest.fixture
def vault() -> Vault:
    return Vault(bytes(32))


@pytest.fixture
def connector_id(database: Database, vault: Vault) -> int:
    return add_shopify_connector(database, vault)


def test_an_order_lands_as_lines_through_the_presets_mapping(
    database: Database, vault: Vault, connector_id: int
) -> None:
    # 02:30 UTC is the evening before in the shop's zone (-05:00): the date is UTC's.
    created = dt.datetime(2025, 3, 1, 2, 30, tzinfo=dt.UTC)
    order = Order(
        id=450789469,
        lines=[
            Line(466157049, "IPOD2008GREEN", 1, "199.00", title="IPod Nano - 8gb"),
            Line(518995019, "", 2, "24.50", title="Gift wrap", variant_id=49148385),
        ],
        created_at=created,
        updated_at=created + dt.timedelta(minutes=5),
    )
    deliver(database, vault, connector_id, order)
    counts = WebhookApplier(database, vault).drain()
    assert counts[Outcome.APPLIED] == 1

    lines = stored_lines(database, connector_id)
    assert set(lines) == {("450789469", "466157049"), ("450789469", "518995019")}
    ipod = lines[("450789469", "466157049")]
    assert (ipod.sku, ipod.quantity, ipod.unit_price) == ("IPOD2008GREEN", Decimal(1), Decimal(199))
    assert (ipod.currency, ipod.status, ipod.location) == ("EUR", "open", "default")
    assert (ipod.channel, ipod.customer_id, ipod.product_name) == ("web", "7001", "IPod Nano - 8gb")
    assert ipod.order_date == dt.date(2025, 3, 1)
    assert ipod.source_updated_at == created + dt.timedelta(minutes=5)
    # A line without a SKU is kept, under its variant.
    assert lines[("450789469", "518995019")].sku == "variant-49148385"

    (event,) = events(database)
    assert (event.status, event.attempts, event.error) == ("applied", 1, None)
    assert event.body is None  # applied: the payload is not kept
    assert event.processed_at is not None


def test_updates_replace_lines_refunds_net_out_and_cancelling_cancels_all(
    database: Database, vault: Vault, connector_id: int
) -> None:
    applier = WebhookApplier(database, vault)
    order = simple_order(6001, lines=2, quantity=3)
    deliver(database, vault, connector_id, order)
    applier.drain()

    order.updated_at = T0 + dt.timedelta(hours=1)
    order.refunds = [(9001, [(9101, 60011, 1)])]
    deliver(database, vault, connector_id, order, topic="orders/updated")
    applier.drain()
    lines = stored_lines(database, connector_id)
    assert {key: (row.quantity, row.status) for key, row in lines.items()} == {
        ("6001", "60011"): (Decimal(3), "open"),
        ("6001", "60012"): (Decimal(3), "open"),
        ("6001", "refund-9101"): (Decimal(-1), "refunded"),
    }
    assert lines[("6001", "refund-9101")].sku == "SKU-1"

    order.updated_at = order.cancelled_at = T0 + dt.timedelta(hours=2)
    deliver(database, vault, connector_id, order, topic="orders/updated")
    applier.drain()
    lines = stored_lines(database, connector_id)
    assert len(lines) == 3
    assert {row.status for row in lines.values()} == {"cancelled"}


def test_an_older_delivery_does_not_overwrite_a_newer_one(
    database: Database, vault: Vault, connector_id: int
) -> None:
    applier = WebhookApplier(database, vault)
    newer = simple_order(6002, lines=1, quantity=5)
    newer.updated_at = T0 + dt.timedelta(hours=2)
    older = simple_order(6002, lines=1, quantity=4)
    older.updated_at = T0 + dt.timedelta(hours=1)
    deliver(database, vault, connector_id, newer, topic="orders/updated")
    applier.drain()
    # Shopify retries with the payload of the moment: it can come after a newer one.
    deliver(database, vault, connector_id, older, topic="orders/updated")
    assert applier.drain()[Outcome.APPLIED] == 1

    (line,) = stored_lines(database, connector_id).values()
    assert line.quantity == Decimal(5)
    assert line.source_updated_at == T0 + dt.timedelta(hours=2)
    assert "later version is already stored" in (events(database)[1].error or "")

    # The same version again (a second subscription, a re-sent event) applies alike.
    same = simple_order(6002, lines=1, quantity=5)
    same.updated_at = newer.updated_at
    deliver(database, vault, connector_id, same, topic="orders/updated")
    assert applier.drain()[Outcome.APPLIED] == 1
    assert events(database)[2].error is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"this is not json", "not JSON"),
        (b'{"id": 7001, "line_items": [', "not JSON"),
        (b"[]", "not a Shopify order"),
        (b'{"line_items": []}', "not a Shopify order"),
        (b'{"id": 7002, "line_items": "not a list"}', "could not be turned into lines"),
    ],
)
def test_a_body_that_is_not_an_order_fails_alone(
    database: Database, vault: Vault, connector_id: int, body: bytes, says: str
) -> None:
    assert deliver_body(database, vault, connector_id, body).outcome == "recorded"
    deliver(database, vault, connector_id, simple_order(7003))
    counts = WebhookApplier(database, vault).drain()
    assert (counts[Outcome.FAILED], counts[Outcome.APPLIED]) == (1, 1)

    bad, good = events(database)
    assert bad.status == "failed"
    assert says in (bad.error or "")
    assert bad.body == body  # kept, nothing lost
    assert good.status == "applied"
    assert set(stored_lines(database, connector_id)) == {("7003", "70031"), ("7003", "70032")}


def _rejecting_mapping(connector_id: int, database: Database) -> None:
    """A mapping that knows SKU-1 only: lines of other SKUs are rejected."""
    mapping = ShopifyPreset.default_mapping()
    mapping["columns"]["sku"] = {
        "path": "sku",
        "transforms": [{"type": "map", "values": {"SKU-1": "WIDGET-1"}}],
    }
    with database.session() as session:
        stored = session.get(Connector, connector_id)
        assert stored is not None
        stored.field_mapping = mapping


def test_lines_the_mapping_rejects_are_noted_and_an_all_rejected_order_fails(
    database: Database, vault: Vault, connector_id: int
) -> None:
    _rejecting_mapping(connector_id, database)
    deliver(database, vault, connector_id, simple_order(7101, lines=2))
    only_rejected = Order(id=7102, lines=[Line(71021, "SKU-2", 1)])
    deliver(database, vault, connector_id, only_rejected)
    counts = WebhookApplier(database, vault).drain()
    assert (counts[Outcome.APPLIED], counts[Outcome.FAILED]) == (1, 1)

    assert {row.sku for row in stored_lines(database, connector_id).values()} == {"WIDGET-1"}
    partly, wholly = events(database)
    assert partly.status == "applied"
    assert "1 of 2 lines skipped by the field mapping" in (partly.error or "")
    assert "SKU-2" in (partly.error or "")
    assert wholly.status == "failed"
    assert "No line could be stored" in (wholly.error or "")

    # With the mapping put right, the failed delivery is taken again.
    with database.session() as session:
        stored = session.get(Connector, connector_id)
        assert stored is not None
        stored.field_mapping = None
    assert retry_failed_deliveries(database, connector_id) == 1
    assert WebhookApplier(database, vault).drain()[Outcome.APPLIED] == 1
    assert ("7102", "71021") in stored_lines(database, connector_id)


def test_a_locked_store_leaves_the_event_for_a_later_try(
    sqlite_database: Database, vault: Vault
) -> None:
    connector_id = add_shopify_connector(sqlite_database, vault)
    deliver(sqlite_database, vault, connector_id, simple_order(7201))
    # Another process holds the write lock longer than this one waits for it.
    impatient = Database(sqlite_database.url)
    sa_event.listen(
        impatient.engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=50")
    )
    path = sqlite_database.engine.url.database
    assert path is not None
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        counts = WebhookApplier(impatient, vault).drain()
        assert counts[Outcome.RETRY] == 1
        assert events(sqlite_database)[0].status == "received"
        blocker.execute("ROLLBACK")
        assert WebhookApplier(impatient, vault).drain()[Outcome.APPLIED] == 1
    finally:
        blocker.close()
        impatient.dispose()
    (event,) = events(sqlite_database)
    assert event.status == "applied"
    assert len(stored_lines(sqlite_database, connector_id)) == 2


def test_an_event_waits_for_its_source_without_holding_up_others_then_fails(
    database: Database, vault: Vault, connector_id: int
) -> None:
    asked: list[str] = []

    def unreachable(config: SourceConfig) -> dict[str, str]:
        asked.append(config["shop"])
        raise RetryableError("Shopify answered 503 Service Unavailable.")

    now = [1000.0]
    shipped = Order(id=7301, lines=[Line(73011, "SKU-1", 1, fulfilled=True)])
    deliver(database, vault, connector_id, shipped)
    deliver(database, vault, connector_id, simple_order(7302))
    applier = WebhookApplier(
        database,
        vault,
        readers={"shopify": ShopifyOrders(database, vault, names=unreachable)},
        clock=lambda: now[0],
    )
    counts = applier.drain()
    # The fulfilled order needs the location names; the other one does not wait.
    assert (counts[Outcome.WAITING], counts[Outcome.APPLIED]) == (1, 1)
    assert set(stored_lines(database, connector_id)) == {("7302", "73021"), ("7302", "73022")}
    # A burst of deliveries (each draining again) does not spend its attempts.
    assert applier.drain()[Outcome.WAITING] == 0
    assert events(database)[0].attempts == 1

    for attempt in range(2, MAX_ATTEMPTS):
        now[0] += 3600
        assert applier.drain()[Outcome.WAITING] == 1
        assert (events(database)[0].status, events(database)[0].attempts) == ("received", attempt)
    now[0] += 3600
    assert applier.drain()[Outcome.FAILED] == 1
    event = events(database)[0]
    assert event.status == "failed"
    assert "location names could not be read" in (event.error or "")
    assert "503" in (event.error or "")
    assert event.body is not None
    assert ("7301", "73011") not in stored_lines(database, connector_id)
    assert asked == [SHOP] * MAX_ATTEMPTS


def test_location_names_are_asked_once_and_reused(
    database: Database, vault: Vault, connector_id: int
) -> None:
    asked: list[str] = []

    def names(config: SourceConfig) -> dict[str, str]:
        asked.append(config["shop"])
        return {"655441491": "Berlin warehouse"}

    applier = WebhookApplier(
        database, vault, readers={"shopify": ShopifyOrders(database, vault, names=names)}
    )
    for order_id in (7401, 7402):
        shipped = Order(id=order_id, lines=[Line(order_id * 10 + 1, "SKU-1", 2, fulfilled=True)])
        deliver(database, vault, connector_id, shipped)
    assert applier.drain()[Outcome.APPLIED] == 2
    lines = stored_lines(database, connector_id).values()
    assert {(row.location, row.status) for row in lines} == {("Berlin warehouse", "fulfilled")}
    assert len(asked) == 1


@pytest.fixture
def started() -> Iterator[list[WebhookApplier]]:
    appliers: list[WebhookApplier] = []
    yield appliers
    for applier in appliers:
        applier.stop()


def test_events_left_received_by_a_crash_are_applied_when_the_applier_starts(
    database: Database, vault: Vault, connector_id: int, started: list[WebhookApplier]
) -> None:
    # Recorded while no applier ran: the process stopped before applying them.
    for order_id in (7501, 7502, 7503):
        deliver(database, vault, connector_id, simple_order(order_id))
    applier = WebhookApplier(database, vault, poll_seconds=600)
    started.append(applier)
    applier.start()
    wait_until(lambda: all(event.status == "applied" for event in events(database)))
    assert len(stored_lines(database, connector_id)) == 6


def test_the_doorbell_wakes_the_applier_at_once(
    database: Database, vault: Vault, connector_id: int, started: list[WebhookApplier]
) -> None:
    applier = WebhookApplier(database, vault, poll_seconds=600)
    started.append(applier)
    applier.start()
    wait_until(lambda: not applier._wake.is_set())  # the start's round is done
    deliver(database, vault, connector_id, simple_order(7601))
    doorbell.ring()
    # Well before the 600 s poll: rung, it drains now.
    wait_until(lambda: events(database)[0].status == "applied", timeout=10)


def test_two_processes_on_one_store_apply_each_event_once(
    database: Database, vault: Vault, connector_id: int, started: list[WebhookApplier]
) -> None:
    other_process = Database(database.url)
    try:
        for store in (database, other_process):
            applier = WebhookApplier(store, vault, poll_seconds=0.05)
            started.append(applier)
            applier.start()
        orders = range(8001, 8061)
        for order_id in orders:
            deliver(database, vault, connector_id, simple_order(order_id))
        wait_until(lambda: all(event.status == "applied" for event in events(database)))
        for applier in started:
            applier.stop()
    finally:
        other_process.dispose()
    recorded = events(database)
    assert len(recorded) == len(orders)
    # Claimed once each: a second claim would have counted a second attempt.
    assert {event.attempts for event in recorded} == {1}
    assert len(stored_lines(database, connector_id)) == 2 * len(orders)
