"""Soak: one `accupredix serve` doing everything at once for a while, then counted.

The scheduler syncs three REST sources (three kinds of pagination) when the
server starts; afterwards a churn thread changes each source and syncs it with
`accupredix connector sync`, as an operator or cron job would. Meanwhile a
Shopify shop delivers signed order webhooks at a steady rate (new orders,
updates, and Shopify's redeliveries of the same webhook id), automation tools
poll `/api/v1` and a BI tool pulls `/odata/Forecasts` page by page, and forecast
runs of the shop's workspace are posted one after another. Afterwards every
source line is in the store exactly once with its latest quantity, every
accepted delivery was applied once, nothing answered 5xx, no run or sync was
left running, and the server stopped cleanly.

The REST sources feed a workspace of their own: their 500 SKUs make a run of
half a minute on a loaded two-core machine, where the shop's few dozen make
runs of seconds, so that several runs happen while the rest goes on.

A source is changed only between its own syncs: the fake's clock moves 7
minutes for every order it adds, so a change made during a pull could fall
outside the incremental overlap, which a real source whose clock follows the
wall clock does not do. Syncs racing source changes are the connector tests'
business; here the point is the server's parts under load together.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.store.db import Database
from app.store.models import RunStatus, SyncStatus, WebhookEvent
from tests.app.webhooks.support import T0, Line, Order, delivery_headers
from tests.fakes.rest_api import FakeRestApi, serve_rest_api
from tests.reliability.clients import Answers, Client, LoadThread, odata_pages
from tests.reliability.stores import (
    LineKey,
    add_rest_connector,
    add_shopify_connector,
    add_workspace,
    cli_sync,
    count_runs,
    count_syncs,
    create_key,
    open_store,
    source_lines,
    stored_lines,
    synced_once,
)
from tests.reliability.support import FIGURES, SCALE, Serve, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

SOAK_SECONDS = 30 * SCALE
ORDERS = 400 * SCALE
PAGINATIONS = ("link_header", "cursor", "page_number")
WEBHOOK_INTERVAL = 0.15  # about 6 deliveries a second
FIRST_SHOPIFY_ORDER = 7_000_001


class ShopifyShop:
    """Sends signed order deliveries to one connector and remembers what was accepted."""

    def __init__(self, client: Client, connector_id: int, seed: int = 11) -> None:
        self.client = client
        self.path = f"/webhooks/connectors/shopify/{connector_id}"
        self.rng = random.Random(seed)
        self.orders: dict[int, Order] = {}
        self.next_order = FIRST_SHOPIFY_ORDER
        self.versions = itertools.count(1)
        self.sent: list[tuple[bytes, dict[str, str]]] = []
        # The latest accepted state of each order's lines: what the store must hold.
        self.expected: dict[LineKey, Decimal] = {}
        self.outcomes: Counter[str] = Counter()
        self.recorded_ids: set[str] = set()

    def step(self) -> None:
        roll = self.rng.random()
        if self.sent and roll < 0.15:
            # Shopify redelivers when it missed our answer: same webhook id, same body.
            body, headers = self.rng.choice(self.sent)
            self.deliver(body, headers, None)
        elif self.orders and roll < 0.4:
            self.update(self.rng.choice(list(self.orders)))
        else:
            self.create()

    def create(self) -> None:
        order_id, self.next_order = self.next_order, self.next_order + 1
        lines = [
            Line(id=order_id * 10 + n, sku=f"WH-{self.rng.randrange(40):02d}", quantity=n)
            for n in range(1, self.rng.randint(1, 3) + 1)
        ]
        self.send(Order(id=order_id, lines=lines), "orders/create")

    def update(self, order_id: int) -> None:
        order = self.orders[order_id]
        lines = [Line(id=line.id, sku=line.sku, quantity=line.quantity + 1) for line in order.lines]
        changed = Order(
            id=order_id,
            lines=lines,
            updated_at=T0 + dt.timedelta(seconds=next(self.versions)),
        )
        self.send(changed, "orders/updated")

    def send(self, order: Order, topic: str) -> None:
        body = order.body()
        headers = delivery_headers(body, topic=topic)
        if self.deliver(body, headers, order):
            self.sent.append((body, headers))

    def deliver(self, body: bytes, headers: dict[str, str], order: Order | None) -> bool:
        response = self.client.request(
            "POST", self.path, "POST /webhooks", data=body, headers=headers
        )
        if response is None or response.status_code != 200:
            if response is not None:
                self.client.answers.flag(f"webhook: {response.status_code} {response.text}")
            return False
        outcome = response.json()["status"]
        self.outcomes[outcome] += 1
        if outcome == "recorded":
            self.recorded_ids.add(headers["X-Shopify-Webhook-Id"])
        if order is not None and outcome == "recorded":
            self.orders[order.id] = order
            for line in order.lines:
                self.expected[(str(order.id), str(line.id))] = Decimal(line.quantity)
        return True


class ApiPoller:
    """A Zapier-like client: the trigger lists, newest first, one after another."""

    PATHS = ("/api/v1/runs?limit=20", "/api/v1/series?limit=100", "/api/v1/alerts?limit=20")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.paths = itertools.cycle(self.PATHS)

    def step(self) -> None:
        path = next(self.paths)
        response = self.client.get(path)
        if response.status_code != 200 or not isinstance(response.json(), list):
            self.client.answers.flag(f"GET {path}: {response.status_code} {response.text}")


class RunPoster:
    """Posts a forecast run, waits for it to end, and posts the next one a little later.

    One at a time: a run takes longer than the pause between posts, and a queue
    that only grows would leave runs queued when the soak ends.
    """

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ended: dict[int, str] = {}

    def step(self) -> None:
        # The organisation's first workspace, the shop's: the API's default.
        response = self.client.request("POST", "/api/v1/runs", json={"horizon": 4})
        if response is None or response.status_code != 202:
            detail = "no answer" if response is None else f"{response.status_code} {response.text}"
            self.client.answers.flag(f"POST /api/v1/runs: {detail}")
            return
        run_id = response.json()["id"]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            run = self.client.get(f"/api/v1/runs/{run_id}", route="GET /api/v1/runs/{id}")
            if run.status_code == 200 and run.json()["status"] in ("complete", "failed"):
                self.ended[run_id] = run.json()["status"]
                return
            time.sleep(0.5)
        raise AssertionError(f"forecast run {run_id} did not end within 240 s")


class Churn:
    """Changes one source at a time and syncs its connector from the CLI."""

    def __init__(self, server: Serve, sources: dict[int, FakeRestApi]) -> None:
        self.server = server
        self.sources = sources
        self.turns = itertools.cycle(sorted(sources))
        self.rng = random.Random(5)
        self.syncs = 0

    def step(self) -> None:
        connector_id = next(self.turns)
        api = self.sources[connector_id]
        api.touch(self.rng.sample(range(1, api.count + 1), 5))
        api.add_orders(10)
        cli_sync(self.server.env, connector_id)
        self.syncs += 1


def test_everything_at_once_and_nothing_lost_or_doubled(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = open_store(data)
    answers = Answers()
    with (
        serve_rest_api(ORDERS, pagination=PAGINATIONS[0], default_page_size=100) as first,
        serve_rest_api(ORDERS, pagination=PAGINATIONS[1], default_page_size=100) as second,
        serve_rest_api(ORDERS, pagination=PAGINATIONS[2], default_page_size=100) as third,
    ):
        sources_workspace = add_workspace(database, "REST sources")
        sources = {
            add_rest_connector(database, api, f"source {n}", workspace_id=sources_workspace): api
            for n, api in enumerate((first, second, third), start=1)
        }
        shop_id = add_shopify_connector(database)
        server = Serve(data).start()
        # A key per client, as each tool has its own: the rate limit is per key.
        clients = [Client(server.url, create_key(database), answers) for _ in range(4)]
        webhook_client = Client(server.url, None, answers)
        shop = ShopifyShop(webhook_client, shop_id)
        stopping = threading.Event()
        runs = RunPoster(clients[2])
        churn = Churn(server, sources)
        try:
            # The first syncs are the scheduler's: due at once for new connectors.
            wait_for(lambda: synced_once(database, list(sources)), 120, "the scheduled syncs")
            threads = [
                LoadThread("webhooks", shop.step, stopping, pause=WEBHOOK_INTERVAL),
                LoadThread("api", ApiPoller(clients[0]).step, stopping, pause=0.05),
                LoadThread("api-2", ApiPoller(clients[1]).step, stopping, pause=0.2),
                LoadThread(
                    "odata",
                    lambda: odata_pages(clients[3], "/odata/Forecasts?$top=1000"),
                    stopping,
                    pause=0.2,
                ),
                LoadThread("churn", churn.step, stopping, pause=2.0),
            ]
            for thread in threads:
                thread.start()
            # Runs of the shop's workspace, once it has lines to forecast.
            wait_for(lambda: shop.outcomes["recorded"] >= 5, 60, "the first deliveries")
            threads.append(LoadThread("runs", runs.step, stopping, pause=2.0))
            threads[-1].start()
            stopping.wait(SOAK_SECONDS)
            stopping.set()
            for thread in threads:
                thread.finish(timeout=300)

            # Catch up with the last changes, as the next scheduled syncs would.
            with ThreadPoolExecutor(len(sources)) as pool:
                list(pool.map(lambda cid: cli_sync(server.env, cid), sources))
            wait_for(
                lambda: all(e.status != "received" for e in webhook_events(database)),
                60,
                "every recorded delivery to be applied",
            )
            assert server.stop() == 0, server.output()
        finally:
            stopping.set()
            server.stop()
            for client in [*clients, webhook_client]:
                client.close()
        expected = {cid: source_lines(api) for cid, api in sources.items()}

    stored = {cid: stored_lines(database, cid) for cid in expected}
    shop_lines = stored_lines(database, shop_id)
    events = webhook_events(database)
    lost = sum(len(wanted.keys() - dict(stored[cid]).keys()) for cid, wanted in expected.items())
    lost += len(shop.expected.keys() - dict(shop_lines).keys())
    FIGURES.add("lines synced", sum(map(len, stored.values())) + len(shop_lines))
    FIGURES.add("webhooks accepted", sum(shop.outcomes.values()))
    FIGURES.add("rows lost", lost)

    assert answers.server_errors() == {}, answers.unexpected
    assert answers.unexpected == []
    assert churn.syncs >= len(sources), "each source was changed and synced at least once"
    assert runs.ended, "forecast runs were posted"
    assert set(runs.ended.values()) == {"complete"}, runs.ended
    assert shop.outcomes["recorded"] > 50, shop.outcomes
    assert shop.outcomes["duplicate"] > 0, shop.outcomes

    for connector_id, wanted in expected.items():
        keys = [key for key, _ in stored[connector_id]]
        assert len(keys) == len(set(keys)), f"connector {connector_id}: a line stored twice"
        assert dict(stored[connector_id]) == wanted, f"connector {connector_id}: lines differ"

    assert {e.delivery_id for e in events} == shop.recorded_ids, "every recorded delivery kept"
    assert Counter(e.status for e in events) == {"applied": len(shop.recorded_ids)}
    assert {e.attempts for e in events} == {1}, "each delivery applied at its first try"
    assert len(shop_lines) == len(dict(shop_lines)), "a webhook line stored twice"
    assert dict(shop_lines) == shop.expected, "the stored lines are the latest accepted versions"

    assert count_runs(database, RunStatus.RUNNING) == 0, "no run left running"
    assert count_syncs(database, SyncStatus.RUNNING) == 0, "no sync left running"
    database.dispose()


def webhook_events(database: Database) -> list[WebhookEvent]:
    with database.session() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
