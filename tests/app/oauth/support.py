"""A running Connect setup for the OAuth tests: fake provider, embedded server, store.

``connect_world(database, monkeypatch, variant)`` starts the fake authorisation
server of ``variant``, points the provider spec and the test presets at it,
sets the client credentials in the environment, and serves the real embedded
server on 127.0.0.1 (port 0) so that callbacks arrive where they would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import select

from app.config import load_config
from app.connectors.base import SourceConfig
from app.oauth.flow import Authorization
from app.oauth.providers import PROVIDERS
from app.runtime import Runtime
from app.services import oauth as service
from app.services import secrets
from app.store.db import Database
from app.store.models import Connector, OAuthState
from app.sync.engine import source_config
from app.vault import Vault
from embedded_api.app import create_app
from embedded_api.server import EmbeddedServer
from tests.app.oauth import presets
from tests.fakes.oauth_server import CLIENT_ID, CLIENT_SECRET, FakeOAuthServer, browse, serve_oauth

VAULT = Vault(bytes(range(32)))
PRESET_OF = {
    "quickbooks": presets.CompanyPreset.id,
    "xero": presets.TenantPreset.id,
    "shopify": presets.ShopPreset.id,
}
SHOP = "demo-store.myshopify.com"


@dataclass
class World:
    database: Database
    fake: FakeOAuthServer
    server: EmbeddedServer
    runtime: Runtime
    variant: str

    @property
    def vault(self) -> Vault:
        return self.runtime.vault

    def start(self, **options: Any) -> Authorization:
        """Begin a Connect of the variant's test preset (or a Reconnect with connector_id)."""
        where = {"host": self.server.host, "port": self.server.port}
        if self.variant == "shopify":
            options.setdefault("shop", SHOP)
        connector_id = options.pop("connector_id", None)
        if connector_id is not None:
            return service.start_reconnect(
                self.database, self.vault, self.runtime.config, connector_id, **where, **options
            )
        options.setdefault("preset", PRESET_OF[self.variant])
        return service.start_connect(
            self.database, self.vault, self.runtime.config, self.variant, **where, **options
        )

    def connect(self, name: str = "Books", **options: Any) -> dict[str, Any]:
        """A whole Connect of a new connector: start, browser, callback, save."""
        choice = options.pop("choice", None)
        authorization = self.start(**options)
        page = browse(authorization.url)
        assert page.status_code == 200, page.text
        return service.add_connected(
            self.database,
            self.vault,
            authorization.state,
            name=name,
            choice=choice,
            mapping=presets.MAPPING,
        )

    def stored(self, connector_id: int) -> dict[str, str]:
        """The connector's secrets as the store holds them, decrypted."""
        with self.database.session() as session:
            connector = session.get(Connector, connector_id)
            assert connector is not None
            return secrets.read_secrets(self.vault, connector)

    def connector(self, connector_id: int) -> Connector:
        with self.database.session() as session:
            connector = session.get(Connector, connector_id)
            assert connector is not None
            return connector

    def sync_config(self, connector_id: int) -> SourceConfig:
        """The config a sync builds (plain save hook), read from the store now."""
        return source_config(self.database, self.vault, self.connector(connector_id))

    def expire(self, connector_id: int, *, minutes: float = -1) -> None:
        """Make the stored access token expire ``minutes`` from now (past by default)."""
        when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        with self.database.session() as session:
            connector = session.get(Connector, connector_id)
            assert connector is not None
            secrets.set_secrets(
                self.vault, connector, {"token_expires_at": when.isoformat(timespec="seconds")}
            )

    def state_row(self, state: str) -> OAuthState:
        with self.database.session() as session:
            return session.scalars(select(OAuthState).where(OAuthState.state == state)).one()


@contextmanager
def connect_world(
    database: Database, monkeypatch: pytest.MonkeyPatch, variant: str, **fake_options: Any
) -> Iterator[World]:
    with serve_oauth(variant, **fake_options) as fake:
        monkeypatch.setitem(PROVIDERS, variant, fake.provider(PROVIDERS[variant]))
        monkeypatch.setenv(f"ACCUPREDIX_OAUTH_{variant.upper()}_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv(f"ACCUPREDIX_OAUTH_{variant.upper()}_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setattr(presets, "API_BASE", fake.url)
        runtime = Runtime(config=load_config(), database=database, vault=VAULT)
        server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
        server.start()
        try:
            fake.allow_redirect(
                service.redirect_uri(runtime.config, variant, host=server.host, port=server.port)
            )
            yield World(database, fake, server, runtime, variant)
        finally:
            server.stop()


def get(url: str) -> requests.Response:
    """One request without following redirects (a hand-made browser step)."""
    return requests.get(url, allow_redirects=False, timeout=10)
