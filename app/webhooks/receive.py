"""Taking in a Shopify delivery: find the connector, check the signature, record it.

Nothing of the body is parsed here: it is checked as raw bytes and stored as
such, and the worker reads it after the sender has had its answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from app.config import Config
from app.redaction import register_secret
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus
from app.vault import Vault, VaultError, connector_context
from app.webhooks.events import DELIVERY_ID_LENGTH, record_event
from app.webhooks.signature import signature_matches

log = logging.getLogger(__name__)

PROVIDER = "shopify"
HMAC_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
DELIVERY_HEADER = "X-Shopify-Webhook-Id"
SHOP_HEADER = "X-Shopify-Shop-Domain"
# The topics whose bodies are orders; anything else is acknowledged and dropped.
ORDER_TOPICS = frozenset({"orders/create", "orders/updated"})
# The connector's own signing secret (a custom app's API secret key).
SECRET_FIELD = "api_secret_key"  # noqa: S105 - a field name
# Connector ids are 32-bit in the store; a larger number in a URL names none.
_MAX_ID = 2**31 - 1


class WebhookRefused(Exception):
    """A delivery that is not taken; ``status`` is the HTTP answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# One answer for every connector that cannot take deliveries, so the answer
# tells an outsider nothing about which connectors exist.
_NO_ENDPOINT = (404, "No webhook endpoint here.")
_BAD_SIGNATURE = (401, "The delivery's signature does not match its body.")


@dataclass(frozen=True)
class Receipt:
    """What became of an accepted delivery.

    ``outcome`` is ``recorded`` (a new event, ``event_id``), ``duplicate`` (this
    delivery id was recorded before) or ``ignored`` (a topic that is not applied,
    or another shop's delivery).
    """

    outcome: str
    event_id: int | None = None
    topic: str | None = None


def _signing_secret(vault: Vault, connector: Connector, config: Config) -> str | None:
    token = (connector.secrets or {}).get(SECRET_FIELD)
    if token:
        return vault.decrypt(token, connector_context(connector.id, SECRET_FIELD))
    client = config.oauth_clients.get(PROVIDER)
    if client is None:
        return None
    register_secret(client.client_secret)
    return client.client_secret


def delivery_id(headers: Mapping[str, str], body: bytes) -> str:
    """The delivery's id for de-duplication: Shopify's, else one derived from the body.

    Shopify sends the same ``X-Shopify-Webhook-Id`` with every retry of a
    delivery. Without it (a hand-made request), identical bodies count as one
    delivery, which applying twice would not change anyway.
    """
    given = (headers.get(DELIVERY_HEADER) or "").strip()
    if given and len(given) <= DELIVERY_ID_LENGTH:
        return given
    return "sha256:" + hashlib.sha256(body).hexdigest()


def receive_shopify(
    database: Database,
    vault: Vault,
    config: Config,
    *,
    connector_id: int,
    body: bytes,
    headers: Mapping[str, str],
) -> Receipt:
    """Check a delivery for a Shopify connector and record it for the worker.

    The signing secret is the connector's ``api_secret_key`` when set, else the
    client secret of the Shopify OAuth app (``ACCUPREDIX_OAUTH_SHOPIFY_*``).

    Raises:
        WebhookRefused: 404 for a connector that is missing, disabled or not a
            Shopify one; 401 when the signature is missing or does not match;
            503 when the connector's secret cannot be decrypted.
    """
    if not 0 < connector_id <= _MAX_ID:
        raise WebhookRefused(*_NO_ENDPOINT)
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        if (
            connector is None
            or connector.preset != PROVIDER
            or connector.status is ConnectorStatus.DISABLED
        ):
            raise WebhookRefused(*_NO_ENDPOINT)
        shop = str((connector.config or {}).get("shop") or "").lower()
        try:
            secret = _signing_secret(vault, connector, config)
        except VaultError as exc:
            log.warning("webhook for connector %s: secret unreadable: %s", connector_id, exc)
            raise WebhookRefused(
                503, "The webhook secret cannot be read; the server log says why."
            ) from None
    if secret is None:
        # Shopify retries a refused delivery for hours: time enough to set the secret.
        log.warning(
            "webhook for connector %s refused: no secret to check it with (set the "
            "connector's API secret key, or ACCUPREDIX_OAUTH_SHOPIFY_CLIENT_SECRET)",
            connector_id,
        )
        raise WebhookRefused(*_BAD_SIGNATURE)
    if not signature_matches(secret, body, headers.get(HMAC_HEADER)):
        # A secret rotated in Shopify signs with the old one for up to an hour;
        # those deliveries are refused here and land on one of Shopify's retries.
        log.info("webhook for connector %s refused: bad or missing signature", connector_id)
        raise WebhookRefused(*_BAD_SIGNATURE)

    sender = (headers.get(SHOP_HEADER) or "").strip().lower()
    if shop and sender and sender != shop:
        # Signed by the app, but for another shop: a subscription left pointing
        # here after the connector moved shops. Acknowledged, so Shopify stops.
        log.warning(
            "webhook for connector %s ignored: it is from %s, the connector reads %s",
            connector_id,
            sender[:100],
            shop,
        )
        return Receipt("ignored")
    topic = (headers.get(TOPIC_HEADER) or "").strip()
    if topic not in ORDER_TOPICS:
        log.debug("webhook for connector %s: topic %r ignored", connector_id, topic[:64])
        return Receipt("ignored", topic=topic[:64] or None)
    event_id = record_event(
        database,
        provider=PROVIDER,
        delivery_id=delivery_id(headers, body),
        connector_id=connector_id,
        topic=topic,
        body=body,
    )
    if event_id is None:
        log.debug("webhook for connector %s: delivery already recorded", connector_id)
        return Receipt("duplicate", topic=topic)
    log.debug("webhook for connector %s: %s recorded as event %s", connector_id, topic, event_id)
    return Receipt("recorded", event_id=event_id, topic=topic)
