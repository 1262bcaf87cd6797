"""Webhook use cases: where a connector's deliveries go, registering them, their state.

Shopify delivers order webhooks to ``<public URL>/webhooks/connectors/shopify/<id>``.
The public URL (``ACCUPREDIX_APP_PUBLIC_URL``) is a tunnel or reverse proxy to
the embedded server, which listens on the loopback interface by default: without
one, Shopify cannot reach the server, and the connector lives on its syncs alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from app.config import Config, load_config
from app.connectors import shopify
from app.connectors.base import SourceConfig
from app.connectors.errors import ConnectorError
from app.services.errors import NotFound
from app.services.urls import base_urls, local_base_url
from app.store.db import Database
from app.store.models import Connector, WebhookEvent
from app.sync.engine import source_config
from app.vault import Vault
from app.webhooks.events import EventStatus, retry_failed_events

log = logging.getLogger(__name__)

# How each preset whose source delivers webhooks here subscribes an address.
REGISTRARS: dict[str, Callable[[SourceConfig, str], object]] = {
    "shopify": shopify.register_webhooks
}
# Prefix of the status message that says registration failed, so a later
# success clears that message and no other.
NOT_REGISTERED = "Webhooks are not registered: "


def _config(config: Config | None) -> Config:
    return config if config is not None else load_config()


def supports_webhooks(preset: str) -> bool:
    """Whether connectors of ``preset`` can receive webhooks here."""
    return preset in REGISTRARS


def webhook_url(connector_id: int, config: Config | None = None) -> str | None:
    """The address Shopify delivers to for the connector; None without a public URL."""
    config = _config(config)
    if not config.public_url:
        return None
    return base_urls(config).connector_webhook("shopify", connector_id)


def public_url_explanation(config: Config | None = None) -> str | None:
    """Why webhooks cannot arrive, for the desktop app; None when a public URL is set."""
    config = _config(config)
    if config.public_url:
        return None
    return (
        "Shopify can only reach this server through a public URL: set "
        "ACCUPREDIX_APP_PUBLIC_URL to a tunnel or reverse proxy that forwards to "
        f"{local_base_url(config.host, config.port)}"
    )


@dataclass(frozen=True)
class WebhookStatus:
    """What the desktop app shows about a connector's webhooks."""

    url: str | None
    explanation: str | None
    pending: int
    applied: int
    failed: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def webhook_status(
    database: Database, connector_id: int, config: Config | None = None
) -> WebhookStatus:
    """The connector's webhook address (or why there is none) and its deliveries by state.

    Raises:
        NotFound: no such connector.
    """
    config = _config(config)
    with database.session() as session:
        if session.get(Connector, connector_id) is None:
            raise NotFound(f"No connector with id {connector_id}.")
        counts = dict(
            session.execute(
                select(WebhookEvent.status, func.count())
                .where(WebhookEvent.connector_id == connector_id)
                .group_by(WebhookEvent.status)
            ).all()
        )
        last_error = session.scalars(
            select(WebhookEvent.error)
            .where(
                WebhookEvent.connector_id == connector_id,
                WebhookEvent.status == EventStatus.FAILED.value,
            )
            .order_by(WebhookEvent.id.desc())
            .limit(1)
        ).first()
    return WebhookStatus(
        url=webhook_url(connector_id, config),
        explanation=public_url_explanation(config),
        pending=counts.get(EventStatus.RECEIVED.value, 0),
        applied=counts.get(EventStatus.APPLIED.value, 0),
        failed=counts.get(EventStatus.FAILED.value, 0),
        last_error=last_error,
    )


def retry_failed_deliveries(database: Database, connector_id: int) -> int:
    """Queue the connector's failed deliveries again (after fixing its mapping); how many.

    The server's applier takes them at its next poll.
    """
    return retry_failed_events(database, connector_id)


def _note(database: Database, connector_id: int, message: str | None) -> None:
    """Set or clear the registration failure in the connector's status message."""
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            return
        current = connector.status_message or ""
        if message is not None:
            connector.status_message = NOT_REGISTERED + message
        elif current.startswith(NOT_REGISTERED):
            connector.status_message = None


def register_webhooks(
    database: Database, vault: Vault, connector_id: int, config: Config | None = None
) -> str | None:
    """Subscribe the connector's source to deliver to this server; the URL, or None.

    Does nothing (None) without a public URL or for a preset without webhooks.
    A failure is not raised: it is logged and shown in the connector's status
    message, and the connector goes on syncing as before.
    """
    url = webhook_url(connector_id, config)
    if url is None:
        return None
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        if connector is None or not supports_webhooks(connector.preset):
            return None
        register = REGISTRARS[connector.preset]
        source = source_config(database, vault, connector)
    try:
        register(source, url)
    except ConnectorError as exc:
        log.warning("connector %s: webhooks not registered: %s", connector_id, exc)
        _note(database, connector_id, str(exc))
        return None
    except Exception:
        log.exception("connector %s: webhooks not registered", connector_id)
        _note(database, connector_id, "unexpected error; the log file has the details.")
        return None
    log.info("connector %s: webhooks registered at %s", connector_id, url)
    _note(database, connector_id, None)
    return url


def after_connector_saved(
    database: Database,
    vault: Vault,
    connector: dict[str, Any],
    *,
    credentials_changed: bool,
    config: Config | None = None,
) -> dict[str, Any]:
    """Register webhooks of a connector just created or given new settings.

    Returns the public view of the connector, with ``webhook_url`` (and, when
    there is no public URL, ``webhook_explanation``) for a preset with webhooks.
    """
    if not supports_webhooks(str(connector.get("preset"))):
        return connector
    config = _config(config)
    connector_id = int(connector["id"])
    url = webhook_url(connector_id, config)
    if url is not None and credentials_changed:
        register_webhooks(database, vault, connector_id, config)
        with database.session() as session:
            stored = session.get(Connector, connector_id)
            if stored is not None:
                connector = {**connector, "status_message": stored.status_message}
    shown = {**connector, "webhook_url": url}
    if url is None:
        shown["webhook_explanation"] = public_url_explanation(config)
    return shown
