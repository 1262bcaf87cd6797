"""Connect and Reconnect: the use cases the wizard and the CLI call.

A Connect runs in three steps: :func:`start_connect` (or :func:`start_reconnect`)
gives the URL to open in the system browser; :func:`poll` or :func:`wait_for`
follow the sign-in, which the embedded server's callback finishes; and for a new
connector :func:`add_connected` saves it with the grant's tokens and settings.
A Reconnect needs no third step: the callback stores the new tokens into the
connector and sets it ``healthy``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from app.config import Config
from app.connectors.registry import get_preset, presets
from app.oauth import flow
from app.oauth.clients import client_for
from app.oauth.flow import Authorization, ConnectStatus
from app.oauth.providers import get_provider
from app.services import connectors
from app.services.errors import InvalidInput, NotFound
from app.services.urls import base_urls
from app.store.db import Database
from app.store.models import Connector
from app.vault import Vault

# How often :func:`wait_for` looks at the sign-in, in seconds.
POLL_INTERVAL = 0.5


def redirect_uri(
    config: Config, provider: str, *, host: str | None = None, port: int | None = None
) -> str:
    """The callback URL to register with ``provider``'s app, and to send with each sign-in.

    ``ACCUPREDIX_APP_PUBLIC_URL`` when set, else the embedded server's address
    (``host``/``port``: where it actually listens, when not the configured ones).
    """
    return base_urls(config, host=host, port=port).oauth_callback(get_provider(provider).id)


def connect_options(config: Config) -> list[dict[str, Any]]:
    """The presets that sign in with OAuth, and whether their Connect button works here."""
    return [
        {
            "preset": cls.id,
            "provider": cls.oauth_provider,
            "provider_name": get_provider(cls.oauth_provider).display_name,
            "available": client_for(cls.oauth_provider, config) is not None,
            "per_shop": get_provider(cls.oauth_provider).per_shop,
            "redirect_uri": redirect_uri(config, cls.oauth_provider),
        }
        for cls in presets()
        if cls.oauth_provider
    ]


def start_connect(
    database: Database,
    vault: Vault,
    config: Config,
    provider: str,
    *,
    preset: str | None = None,
    shop: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> Authorization:
    """Begin signing a new connector in; open the returned URL in the browser."""
    return flow.start_connect(
        database,
        vault,
        provider,
        redirect_uri=redirect_uri(config, provider, host=host, port=port),
        preset=preset,
        shop=shop,
        config=config,
    )


def start_reconnect(
    database: Database,
    vault: Vault,
    config: Config,
    connector_id: int,
    *,
    shop: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> Authorization:
    """Begin signing a connector in again; its mapping, schedule and history stay.

    Raises:
        NotFound: no such connector.
        InvalidInput: its preset does not sign in with OAuth.
    """
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise NotFound(f"No connector with id {connector_id}.")
        preset_cls = get_preset(connector.preset)
        name = connector.name
    if not preset_cls.oauth_provider:
        raise InvalidInput(
            f"Connector {name!r} does not sign in with OAuth; edit its credentials instead."
        )
    return flow.start_connect(
        database,
        vault,
        preset_cls.oauth_provider,
        redirect_uri=redirect_uri(config, preset_cls.oauth_provider, host=host, port=port),
        connector_id=connector_id,
        shop=shop,
        config=config,
    )


def poll(database: Database, state: str) -> ConnectStatus:
    """Where the sign-in stands (``pending``, ``complete``, ``failed``, ``claimed``)."""
    return flow.status(database, state)


def wait_for(
    database: Database,
    state: str,
    *,
    timeout: float = flow.STATE_LIFETIME.total_seconds(),
    cancel: threading.Event | None = None,
) -> ConnectStatus:
    """Poll until the sign-in is no longer pending, ``timeout`` passes or ``cancel`` is set."""
    cancel = cancel or threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        current = flow.status(database, state)
        if current.status != flow.PENDING or time.monotonic() >= deadline:
            return current
        if cancel.wait(POLL_INTERVAL):
            return current


def add_connected(
    database: Database,
    vault: Vault,
    state: str,
    *,
    name: str,
    values: Mapping[str, Any] | None = None,
    choice: str | None = None,
    mapping: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
    workspace_id: int | None = None,
) -> dict[str, Any]:
    """Save the new connector a finished sign-in was for; its tokens are encrypted.

    What the sign-in learnt (tokens, the company, the shop) takes precedence
    over ``values``. If saving fails (a bad name, setting or mapping), the
    grant is kept and the call can be repeated with the input corrected.

    Args:
        choice: the account picked, when the sign-in reached several.
    """
    with flow.claimed_grant(database, vault, state, choice=choice) as grant:
        return connectors.add_connector(
            database,
            vault,
            preset=grant.preset,
            name=name,
            values={**(values or {}), **grant.settings, **grant.secrets},
            mapping=mapping,
            schedule=schedule,
            workspace_id=workspace_id,
        )
