"""Shopify's cost-based throttling, 429 storms and a bulk result read in constant memory."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.connectors.base import SourceConfig
from app.connectors.errors import RateLimited
from app.connectors.http import RetryPolicy
from app.connectors.shopify import ShopifyPreset
from app.connectors.shopify import settings as shopify_settings
from app.connectors.shopify.client import AdminClient, ThrottleStatus, connect, throttle_status
from app.connectors.shopify.lines import lines_from_graphql
from app.connectors.shopify.queries import ORDERS_PAGE
from app.connectors.shopify.reader import Tuning
from tests.fakes import shopify as fake

FAST = RetryPolicy(attempts=6, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)


@pytest.fixture
def admin_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Serves a fake shop made by the test and points the preset at it."""
    started: list[fake.FakeShopify] = []

    def serve(shop: fake.FakeShopify) -> fake.FakeShopify:
        shop.start()
        started.append(shop)
        monkeypatch.setattr(shopify_settings, "ADMIN_URL", shop.admin_url)
        return shop

    yield serve
    for shop in started:
        shop.stop()


def preset(tuning: Tuning | None = None) -> ShopifyPreset:
    instance = ShopifyPreset()
    instance.retry_policy = FAST
    instance.probe_retry_policy = FAST
    instance.tuning = tuning or Tuning(page_orders=10, orders_per_query=5, poll=(0.01, 0.02))
    return instance


def all_lines(shop: fake.FakeShopify) -> set[tuple[str, str]]:
    return {
        (record["order_id"], record["line_id"])
        for number in shop.orders
        for record in lines_from_graphql(shop.graphql_order(number))
    }


def page_variables(first: int) -> dict[str, Any]:
    return {"first": first, "after": None, "query": None, "reverse": False, "lines": 20}


# -- the bucket's arithmetic ---------------------------------------------------------


def test_the_wait_is_what_the_restore_rate_needs_to_refill_the_missing_points() -> None:
    status = ThrottleStatus(maximum=1_000, available=100, restore_rate=50, observed=10.0)
    assert status.wait_for(600, now=10.0) == pytest.approx(10.0)
    assert status.wait_for(600, now=12.0) == pytest.approx(8.0), "two seconds refilled 100"
    assert status.wait_for(80, now=10.0) == 0.0
    assert status.wait_for(5_000, now=10.0) == pytest.approx(18.0), "at most a full bucket"
    assert status.available_at(100.0) == 1_000


def test_the_status_is_read_from_the_responses_extensions() -> None:
    body = {
        "data": {},
        "extensions": {
            "cost": {
                "requestedQueryCost": 101,
                "actualQueryCost": 46,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 1954,
                    "restoreRate": 100.0,
                },
            }
        },
    }
    status, requested = throttle_status(body, now=3.0)
    assert status == ThrottleStatus(2000.0, 1954.0, 100.0, 3.0)
    assert requested == 101
    assert throttle_status({"data": {}}, now=0.0) == (None, 0.0)


# -- waiting before and after a THROTTLED answer ----------------------------------------


def frozen(client: AdminClient) -> list[tuple[float, float, float, float]]:
    """Freeze the client's clock and record each wait with the status it was computed from."""
    waits: list[tuple[float, float, float, float]] = []
    client.clock = lambda: 0.0

    def sleep(seconds: float) -> None:
        status = client.throttle
        cost = client.costs.get("ShopifyOrders", 0.0)
        assert status is not None
        waits.append((seconds, cost, status.available, status.restore_rate))
        time.sleep(seconds)

    client.sleep = sleep
    return waits


def test_the_client_waits_for_room_before_the_shop_would_throttle(admin_url: Any) -> None:
    shop = admin_url(
        fake.FakeShopify(20, maximum=400, restore_rate=1_000, refund_unused_cost=False)
    )
    with connect(SourceConfig(shop.settings()), retry=FAST) as client:
        waits = frozen(client)
        for _ in range(5):
            client.query(ORDERS_PAGE, page_variables(2))
    assert not any(served.throttled for served in shop.served), "never throttled"
    assert len(waits) >= 2
    for seconds, cost, available, rate in waits:
        assert cost > available
        assert seconds == pytest.approx((cost - available) / rate)


def test_a_throttled_answer_is_waited_out_for_as_long_as_its_status_says(admin_url: Any) -> None:
    shop = admin_url(fake.FakeShopify(20, restore_rate=1_000))
    shop.drain()  # another app on the shop spent the bucket
    with connect(SourceConfig(shop.settings()), retry=FAST) as client:
        waits = frozen(client)
        data = client.query(ORDERS_PAGE, page_variables(5))
    assert len(data["orders"]["nodes"]) == 5
    throttled, answered = shop.served
    assert throttled.throttled
    assert not answered.throttled
    seconds, cost, available, rate = waits[0]
    assert cost == throttled.requested_cost
    assert rate == 1_000
    assert available == pytest.approx(throttled.available_before, abs=0.1)
    assert seconds == pytest.approx((throttled.requested_cost - available) / rate)


# -- 429 -----------------------------------------------------------------------------


def test_a_429_storm_slows_a_pull_without_failing_or_restarting_it(admin_url: Any) -> None:
    shop = admin_url(fake.FakeShopify(30))
    shop.storm(5, retry_after="0.05")
    pages = list(preset().pull(SourceConfig(shop.settings()), None))
    found = {(r["order_id"], r["line_id"]) for page in pages for r in page.records}
    assert found == all_lines(shop)
    assert sum(1 for served in shop.served if served.status == 429) == 5
    assert len(shop.bulk_operations) == 1, "nothing started over"


def test_a_storm_longer_than_every_retry_ends_with_a_clear_message(admin_url: Any) -> None:
    shop = admin_url(fake.FakeShopify(5))
    shop.storm(50, retry_after="0.01")
    with pytest.raises(RateLimited) as caught:
        preset().probe(SourceConfig(shop.settings()))
    assert "HTTP 429" in str(caught.value)
    assert "Gave up after 6 attempts" in str(caught.value)


def test_pages_too_costly_for_one_query_are_asked_for_smaller(admin_url: Any) -> None:
    shop = admin_url(fake.FakeShopify(30))
    tuning = Tuning(orders_per_query=40, lines_per_order=20, poll=(0.01, 0.02))
    cursor = {"phase": "incremental", "high_water": None}
    pages = list(preset(tuning).pull(SourceConfig(shop.settings()), cursor))
    found = {(r["order_id"], r["line_id"]) for page in pages for r in page.records}
    assert found == all_lines(shop)
    costs = [served.requested_cost for served in shop.served if served.operation == "ShopifyOrders"]
    assert costs[0] > fake.MAX_QUERY_COST
    assert all(cost <= fake.MAX_QUERY_COST for cost in costs[-3:])


# -- memory --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_large_bulk_result_is_streamed_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shop runs in its own process, so that only the client's memory is traced.
    command = [
        sys.executable,
        "-m",
        "tests.fakes.shopify",
        "--orders=400",
        "--name-padding=10000",
        "--restore-rate=100000",
    ]
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(
        command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None
            monkeypatch.setattr(shopify_settings, "ADMIN_URL", server.stdout.readline().strip())
            shop = fake.FakeShopify(400, name_padding=10_000)  # the same shop, for the answers
            reader = preset(Tuning(page_orders=10, poll=(0.01, 0.02)))
            pull = reader.pull(SourceConfig(shop.settings()), None)
            lines, largest = 0, 0
            tracemalloc.start()
            try:
                for page in pull:
                    lines += len(page.records)
                    largest = max(largest, sum(len(r["product_name"]) for r in page.records))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
        finally:
            server.communicate("")
    size = 400 * 2 * 10_000  # at least: 400 orders of 1 to 3 lines with 10 kB names
    assert lines == len(all_lines(shop))
    assert largest > 100_000, "pages carry the long names"
    assert peak < size / 4, f"peak {peak} bytes for a result of more than {size} bytes"
