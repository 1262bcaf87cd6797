"""Order webhook subscriptions and the location names that REST-shaped deliveries lack."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from app.connectors.base import SourceConfig
from app.connectors.errors import ConnectorError
from app.connectors.http import RetryPolicy
from app.connectors.shopify import queries
from app.connectors.shopify.client import connect

log = logging.getLogger(__name__)

TOPICS = ("ORDERS_CREATE", "ORDERS_UPDATED")
_RETRY = RetryPolicy(attempts=3, backoff=0.5, backoff_max=4.0, jitter=0.5, retry_after_cap=30.0)


def register_webhooks(config: SourceConfig, address: str) -> list[str]:
    """Subscribe ``address`` to the shop's order creations and updates; returns the ids.

    A subscription of the same topic to the same address is kept, so calling
    this on every save adds nothing twice.

    Raises:
        ConnectorError: ``address`` is not https (Shopify delivers to https only),
            or Shopify refused a subscription (the message says why).
        AuthError, RetryableError: as for any call to the shop.
    """
    if urlsplit(address).scheme != "https":
        raise ConnectorError(
            f"Shopify delivers webhooks to https:// addresses only, not {address!r}; set "
            "ACCUPREDIX_APP_PUBLIC_URL to the https address of a tunnel or reverse proxy."
        )
    with connect(config, retry=_RETRY) as client:
        existing: dict[str, str] = {}
        after = None
        while True:
            variables = {"topics": list(TOPICS), "after": after}
            page = client.query(queries.WEBHOOKS, variables)["webhookSubscriptions"]
            for node in page.get("nodes") or []:
                if node.get("uri") == address and node.get("topic") in TOPICS:
                    existing.setdefault(node["topic"], node["id"])
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                break
            after = info.get("endCursor")
        ids = []
        for topic in TOPICS:
            if topic in existing:
                ids.append(existing[topic])
                continue
            data = client.query(queries.CREATE_WEBHOOK, {"topic": topic, "uri": address})
            payload = data.get("webhookSubscriptionCreate") or {}
            errors = payload.get("userErrors") or []
            if errors or not payload.get("webhookSubscription"):
                said = "; ".join(str(e.get("message", "")).rstrip(".") for e in errors)
                raise ConnectorError(
                    f"Shopify ({client.shop}) refused the {topic} webhook to {address}: "
                    f"{said or 'no reason given'}."
                )
            ids.append(payload["webhookSubscription"]["id"])
            log.info("Shopify %s: subscribed %s to %s", client.shop, address, topic)
    return ids


def location_names(config: SourceConfig) -> dict[str, str]:
    """The shop's locations, numeric id (as text) to name, for REST-shaped orders."""
    names: dict[str, str] = {}
    with connect(config, retry=_RETRY) as client:
        after = None
        while True:
            page = client.query(queries.LOCATIONS, {"after": after})["locations"]
            for node in page.get("nodes") or []:
                names[str(node.get("legacyResourceId"))] = str(node.get("name") or "")
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return names
            after = info.get("endCursor")
