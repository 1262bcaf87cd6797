"""A line delivered by webhook and pulled by a sync is one line, with the same values.

The shop is the fake Shopify Admin API on 127.0.0.1; deliveries carry its own
REST rendering of an order (``FakeShopify.rest_order``), and the applier reads
location names from it as it would from Shopify.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app.config import load_config
from app.connectors.http import RetryPolicy
from app.connectors.shopify import ShopifyPreset
from app.connectors.shopify import settings as shopify_settings
from app.connectors.shopify.reader import Tuning
from app.services import connectors as service
from app.store.db import Database
from app.store.models import DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from app.webhooks.apply import Outcome
from app.webhooks.receive import receive_shopify
from app.webhooks.worker import WebhookApplier
from tests.app.webhooks.support import delivery_headers, stored_lines
from tests.fakes import shopify as fake

APP_SECRET = "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"
# Orders of the fake shop covering its cases: no SKU on the first line (7), two
# fulfilment locations (10 is shipped and refunded; 2 from two locations),
# cancelled (11), plain (1).
ORDERS = (1, 2, 7, 10, 11)
COLUMNS = (
    "order_date",
    "sku",
    "quantity",
    "product_name",
    "unit_price",
    "currency",
    "location",
    "customer_id",
    "channel",
    "status",
    "source_updated_at",
)


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[fake.FakeShopify]:
    fast = RetryPolicy(attempts=6, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)
    monkeypatch.setattr(ShopifyPreset, "retry_policy", fast)
    monkeypatch.setattr(ShopifyPreset, "probe_retry_policy", fast)
    monkeypatch.setattr(
        ShopifyPreset, "tuning", Tuning(page_orders=7, orders_per_query=5, poll=(0.01, 0.02))
    )
    with fake.serve_shopify(12) as served:
        monkeypatch.setattr(shopify_settings, "ADMIN_URL", served.admin_url)
        yield served


@pytest.fixture
def vault() -> Vault:
    return Vault(bytes(32))


@pytest.fixture
def connector_id(shop: fake.FakeShopify, database: Database, vault: Vault) -> int:
    created = service.add_connector(
        database,
        vault,
        preset="shopify",
        name="Tidewater",
        values=shop.settings(api_secret_key=APP_SECRET),
    )
    return int(created["id"])


def deliver(
    shop: fake.FakeShopify,
    database: Database,
    vault: Vault,
    connector_id: int,
    *,
    number: int,
    topic: str = "orders/updated",
) -> None:
    body = json.dumps(shop.rest_order(number), separators=(",", ":")).encode()
    headers = delivery_headers(body, topic=topic, secret=APP_SECRET, shop=fake.SHOP)
    receipt = receive_shopify(
        database, vault, load_config(), connector_id=connector_id, body=body, headers=headers
    )
    assert receipt.outcome == "recorded"


def values(lines: dict[tuple[str, str], DemandLine]) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {key: tuple(getattr(row, name) for name in COLUMNS) for key, row in lines.items()}


def test_webhook_first_then_sync_gives_one_set_of_lines(
    shop: fake.FakeShopify, database: Database, vault: Vault, connector_id: int
) -> None:
    for number in ORDERS:
        deliver(shop, database, vault, connector_id, number=number, topic="orders/create")
    assert WebhookApplier(database, vault).drain()[Outcome.APPLIED] == len(ORDERS)
    by_webhook = values(stored_lines(database, connector_id))
    assert {key[0] for key in by_webhook} == {str(5_000_000 + n) for n in ORDERS}
    # The delivered orders' fulfilled lines carry the location's name, not an id.
    shipped = {row[6] for key, row in by_webhook.items() if key[0] == "5000010"}
    assert shipped <= {location["name"] for location in fake.LOCATIONS}
    assert shipped

    result = sync_connector(database, vault, connector_id)
    assert result.status is SyncStatus.COMPLETE, result.error
    after_sync = values(stored_lines(database, connector_id))
    # Updated in place: the delivered lines are the pulled lines, value for value.
    assert result.updated == len(by_webhook)
    for key, row in by_webhook.items():
        assert after_sync[key] == row, key
    assert len(after_sync) == result.inserted + result.updated


def test_sync_first_then_an_update_by_webhook_changes_lines_in_place(
    shop: fake.FakeShopify, database: Database, vault: Vault, connector_id: int
) -> None:
    assert sync_connector(database, vault, connector_id).status is SyncStatus.COMPLETE
    pulled = values(stored_lines(database, connector_id))

    shop.refund(3)
    shop.fulfil(3, location=1)
    deliver(shop, database, vault, connector_id, number=3)
    assert WebhookApplier(database, vault).drain()[Outcome.APPLIED] == 1
    by_webhook = values(stored_lines(database, connector_id))
    assert len(by_webhook) == len(pulled) + 1  # the refund line, nothing doubled
    changed = {key for key in by_webhook if by_webhook[key] != pulled.get(key)}
    assert changed
    assert {key[0] for key in changed} == {"5000003"}
    refunds = [row for key, row in by_webhook.items() if key[1].startswith("refund-")]
    (refund,) = [row for row in refunds if row not in pulled.values()]
    assert (refund[2], refund[9]) == (-1, "refunded")

    # The next sync pulls order 3 again, and finds nothing to change.
    again = sync_connector(database, vault, connector_id)
    assert again.status is SyncStatus.COMPLETE, again.error
    assert values(stored_lines(database, connector_id)) == by_webhook
