"""Shopify order deliveries as Shopify sends them, and the store they land in.

Bodies have the REST shape of an order that the ``orders/create`` and
``orders/updated`` topics carry (shopify.dev/docs/api/webhooks, topic
``orders/create``): prices as strings with their ``price_set`` in shop and
presentment money, refunds with ``refund_line_items`` pointing at their line
item, fulfilments with the lines they shipped. Headers are the delivery headers
of shopify.dev/docs/apps/build/webhooks/delivery-structure; the signature is
computed here with hashlib, apart from the code under test.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.config import load_config
from app.services import secrets
from app.services.organisations import default_workspace
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, WebhookEvent
from app.vault import Vault
from app.webhooks.receive import Receipt, receive_shopify

SHOP = "acme-demo.myshopify.com"
# A custom app's API secret key, which signs its webhooks.
APP_SECRET = "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"
ACCESS_TOKEN = "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"
API_VERSION = "2025-10"
T0 = dt.datetime(2025, 3, 1, 9, 30, tzinfo=dt.UTC)


def sign(secret: str, body: bytes) -> str:
    """``X-Shopify-Hmac-Sha256`` as Shopify computes it."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery_headers(
    body: bytes,
    *,
    topic: str = "orders/create",
    secret: str = APP_SECRET,
    webhook_id: str | None = None,
    shop: str = SHOP,
) -> dict[str, str]:
    """The headers of one delivery of ``body``; a fresh webhook id unless given."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(secret, body),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": API_VERSION,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": T0.isoformat().replace("+00:00", "Z"),
    }


def _money(amount: str, currency: str) -> dict[str, Any]:
    return {
        "shop_money": {"amount": amount, "currency_code": currency},
        "presentment_money": {"amount": amount, "currency_code": currency},
    }


def _stamp(moment: dt.datetime) -> str:
    # Shopify renders times in the shop's zone with an offset.
    return moment.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()


@dataclass
class Line:
    id: int
    sku: str
    quantity: int
    price: str = "19.90"
    title: str = "Widget"
    variant_id: int = 0
    fulfilled: bool = False


@dataclass
class Order:
    """An order to render as Shopify's REST payload; change it and render again."""

    id: int
    lines: list[Line]
    created_at: dt.datetime = T0
    updated_at: dt.datetime = T0
    currency: str = "EUR"
    source_name: str = "web"
    customer_id: int = 7001
    cancelled_at: dt.datetime | None = None
    # (refund id, [(refund line item id, line item id, quantity)])
    refunds: list[tuple[int, list[tuple[int, int, int]]]] = field(default_factory=list)
    location_id: int = 655441491

    def _line_item(self, line: Line) -> dict[str, Any]:
        variant = line.variant_id or line.id + 100_000
        return {
            "id": line.id,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{line.id}",
            "variant_id": variant,
            "product_id": variant + 1,
            "sku": line.sku,
            "title": line.title,
            "name": line.title,
            "variant_title": None,
            "vendor": "Acme",
            "quantity": line.quantity,
            "current_quantity": line.quantity,
            "fulfillable_quantity": 0 if line.fulfilled else line.quantity,
            "fulfillment_status": "fulfilled" if line.fulfilled else None,
            "price": line.price,
            "price_set": _money(line.price, self.currency),
            "total_discount": "0.00",
            "gift_card": False,
            "requires_shipping": True,
            "taxable": True,
        }

    def payload(self) -> dict[str, Any]:
        items = {line.id: self._line_item(line) for line in self.lines}
        fulfilled = [items[line.id] for line in self.lines if line.fulfilled]
        return {
            "id": self.id,
            "admin_graphql_api_id": f"gid://shopify/Order/{self.id}",
            "name": f"#{self.id % 100_000}",
            "order_number": self.id % 100_000,
            "email": "buyer@example.com",
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at),
            "processed_at": _stamp(self.created_at),
            "cancelled_at": _stamp(self.cancelled_at) if self.cancelled_at else None,
            "cancel_reason": "customer" if self.cancelled_at else None,
            "closed_at": None,
            "currency": self.currency,
            "presentment_currency": self.currency,
            "financial_status": "paid",
            "fulfillment_status": "fulfilled" if fulfilled else None,
            "source_name": self.source_name,
            "test": False,
            "total_price": "0.00",
            "customer": {
                "id": self.customer_id,
                "admin_graphql_api_id": f"gid://shopify/Customer/{self.customer_id}",
            },
            "line_items": list(items.values()),
            "fulfillments": [
                {
                    "id": self.id * 10 + 1,
                    "admin_graphql_api_id": f"gid://shopify/Fulfillment/{self.id * 10 + 1}",
                    "order_id": self.id,
                    "status": "success",
                    "location_id": self.location_id,
                    "created_at": _stamp(self.updated_at),
                    "line_items": fulfilled,
                }
            ]
            if fulfilled
            else [],
            "refunds": [
                {
                    "id": refund_id,
                    "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
                    "order_id": self.id,
                    "created_at": _stamp(self.updated_at),
                    "processed_at": _stamp(self.updated_at),
                    "restock": True,
                    "refund_line_items": [
                        {
                            "id": refund_line_id,
                            "line_item_id": line_item_id,
                            "quantity": quantity,
                            "restock_type": "return",
                            "location_id": self.location_id,
                            "subtotal": float(Decimal(items[line_item_id]["price"]) * quantity),
                            "subtotal_set": _money(
                                str(Decimal(items[line_item_id]["price"]) * quantity), self.currency
                            ),
                            "total_tax": 0.0,
                            "line_item": items[line_item_id],
                        }
                        for refund_line_id, line_item_id, quantity in refund_lines
                    ],
                }
                for refund_id, refund_lines in self.refunds
            ],
        }

    def body(self) -> bytes:
        """The payload as Shopify's servers serialise it (compact JSON)."""
        return json.dumps(self.payload(), separators=(",", ":")).encode()


def simple_order(order_id: int, *, lines: int = 2, quantity: int = 1) -> Order:
    """An open order with ``lines`` lines of ``quantity`` each (line ids order id × 10 + n)."""
    return Order(
        id=order_id,
        lines=[
            Line(id=order_id * 10 + n, sku=f"SKU-{n}", quantity=quantity)
            for n in range(1, lines + 1)
        ],
    )


def add_shopify_connector(
    database: Database,
    vault: Vault,
    *,
    secret: str | None = APP_SECRET,
    preset: str = "shopify",
    status: ConnectorStatus = ConnectorStatus.HEALTHY,
    shop: str = SHOP,
) -> int:
    """A connector stored as the service stores it, with its app's secret when given."""
    with database.session() as session:
        workspace = default_workspace(session)
        connector = Connector(
            workspace_id=workspace.id,
            preset=preset,
            name=f"Shop {shop}",
            config={"shop": shop, "api_version": API_VERSION},
            status=status,
        )
        session.add(connector)
        session.flush()
        values = {"access_token": ACCESS_TOKEN}
        if secret is not None:
            values["api_secret_key"] = secret
        secrets.set_secrets(vault, connector, values)
        return connector.id


def stored_lines(database: Database, connector_id: int) -> dict[tuple[str, str], DemandLine]:
    """The connector's demand lines by (order id, line id)."""
    with database.session() as session:
        rows = session.scalars(select(DemandLine).where(DemandLine.connector_id == connector_id))
        return {(row.order_id, row.line_id): row for row in rows}


def events(database: Database) -> list[WebhookEvent]:
    with database.session() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def deliver_body(
    database: Database,
    vault: Vault,
    connector_id: int,
    body: bytes,
    *,
    topic: str = "orders/create",
    webhook_id: str | None = None,
) -> Receipt:
    """What the route does with a signed delivery: check it and record it."""
    headers = delivery_headers(body, topic=topic, webhook_id=webhook_id)
    return receive_shopify(
        database, vault, load_config(), connector_id=connector_id, body=body, headers=headers
    )


def deliver(
    database: Database, vault: Vault, connector_id: int, order: Order, **kwargs: str
) -> Receipt:
    receipt = deliver_body(database, vault, connector_id, order.body(), **kwargs)
    assert receipt.outcome == "recorded"
    return receipt


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
