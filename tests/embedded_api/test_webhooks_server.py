"""Shopify deliveries over real HTTP to the Waitress server: many at once, none lost."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

from app.config import load_config
from app.runtime import Runtime
from app.store.db import Database
from app.vault import Vault
from app.webhooks.worker import WebhookApplier
from embedded_api.app import create_app
from embedded_api.server import EmbeddedServer
from tests.app.webhooks.support import (
    add_shopify_connector,
    delivery_headers,
    events,
    simple_order,
    stored_lines,
)

DISTINCT_ORDERS = 170
REPLAYS = 30


@dataclass
class Served:
    runtime: Runtime
    server: EmbeddedServer
    connector_id: int

    @property
    def url(self) -> str:
        return f"{self.server.url}/webhooks/connectors/shopify/{self.connector_id}"


@pytest.fixture
def served(database: Database) -> Iterator[Served]:
    runtime = Runtime(config=load_config(), database=database, vault=Vault(bytes(32)))
    connector_id = add_shopify_connector(database, runtime.vault)
    # A long poll: deliveries are applied because the route wakes the applier.
    applier = WebhookApplier(database, runtime.vault, poll_seconds=600)
    applier.start()
    server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
    server.start()
    try:
        yield Served(runtime, server, connector_id)
    finally:
        server.stop()
        applier.stop()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    with requests.Session() as session:
        response = session.post(url, data=body, headers=headers, timeout=30)
        status = response.json().get("status", "") if response.ok else response.text
        return response.status_code, status


def wait_until_applied(database: Database, expected: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        recorded = events(database)
        if len(recorded) == expected and all(e.status == "applied" for e in recorded):
            return
        assert time.monotonic() < deadline, Counter(e.status for e in recorded)
        time.sleep(0.05)


def test_a_signed_delivery_over_http_lands_as_lines(served: Served) -> None:
    body = simple_order(9001).body()
    assert post(served.url, body, delivery_headers(body)) == (200, "recorded")
    wait_until_applied(served.runtime.database, 1, timeout=15)
    assert set(stored_lines(served.runtime.database, served.connector_id)) == {
        ("9001", "90011"),
        ("9001", "90012"),
    }


def test_a_body_streamed_past_the_limit_is_refused(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        # Chunked: no Content-Length to refuse it by; the limit applies as it is read.
        for _ in range(40):
            yield b"x" * 32_768

    status, _ = post(served.url, chunks(), delivery_headers(b"{}"))  # type: ignore[arg-type]
    assert status == 413
    assert events(served.runtime.database) == []


@pytest.mark.slow
def test_two_hundred_concurrent_deliveries_are_all_answered_and_applied_once(
    served: Served,
) -> None:
    deliveries = []
    for order_id in range(100_001, 100_001 + DISTINCT_ORDERS):
        body = simple_order(order_id, lines=2, quantity=order_id % 7 + 1).body()
        deliveries.append((body, delivery_headers(body, webhook_id=f"wh-{order_id}")))
    rng = random.Random(20250301)
    # Shopify's retries of deliveries it thinks failed: same id, same body.
    replays = rng.sample(deliveries, REPLAYS)
    sent = deliveries + replays
    rng.shuffle(sent)
    assert len(sent) == 200

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(lambda item: post(served.url, *item), sent))

    assert {status for status, _ in answers} == {200}
    outcomes = Counter(outcome for _, outcome in answers)
    assert outcomes == {"recorded": DISTINCT_ORDERS, "duplicate": REPLAYS}
    database = served.runtime.database
    wait_until_applied(database, DISTINCT_ORDERS)
    assert {event.attempts for event in events(database)} == {1}
    lines = stored_lines(database, served.connector_id)
    assert len(lines) == 2 * DISTINCT_ORDERS
    for order_id in range(100_001, 100_001 + DISTINCT_ORDERS):
        assert lines[(str(order_id), f"{order_id}1")].quantity == order_id % 7 + 1
