"""Webhook registration on save, the webhook address, and what the desktop app is told."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import load_config
from app.connectors.shopify import settings as shopify_settings
from app.services import connectors as service
from app.services.webhooks import (
    NOT_REGISTERED,
    public_url_explanation,
    webhook_status,
    webhook_url,
)
from app.store.db import Database
from app.vault import Vault
from app.webhooks.worker import WebhookApplier
from tests.app.webhooks.support import add_shopify_connector, deliver, deliver_body, simple_order
from tests.fakes import shopify as fake

PUBLIC = "https://forecast.example.com"


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch) -> Iterator[fake.FakeShopify]:
    with fake.serve_shopify(3) as served:
        monkeypatch.setattr(shopify_settings, "ADMIN_URL", served.admin_url)
        yield served


@pytest.fixture
def vault() -> Vault:
    return Vault(bytes(32))


def subscribed(shop: fake.FakeShopify) -> set[tuple[str, str]]:
    return {(s["topic"], s["uri"]) for s in shop.subscriptions}


def add(database: Database, vault: Vault, shop: fake.FakeShopify, **values: str) -> dict:
    return service.add_connector(
        database, vault, preset="shopify", name="Tidewater", values=shop.settings(**values)
    )


def test_with_a_public_url_saving_registers_the_order_webhooks(
    monkeypatch: pytest.MonkeyPatch, shop: fake.FakeShopify, sqlite_database: Database, vault: Vault
) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", PUBLIC + "/")
    created = add(sqlite_database, vault, shop)
    address = f"{PUBLIC}/webhooks/connectors/shopify/{created['id']}"
    assert created["webhook_url"] == address
    assert created["status_message"] is None
    assert subscribed(shop) == {("ORDERS_CREATE", address), ("ORDERS_UPDATED", address)}

    # New credentials register again; the shop keeps one subscription per topic.
    service.update_connector(
        sqlite_database, vault, created["id"], values={"access_token": fake.TOKEN}
    )
    assert len(shop.subscriptions) == 2
    # A rename is not a change of credentials: the shop is not asked.
    asked = len(shop.served)
    renamed = service.update_connector(sqlite_database, vault, created["id"], name="Renamed")
    assert len(shop.served) == asked
    assert renamed["webhook_url"] == address


def test_a_failed_registration_is_shown_on_the_connector_and_the_save_stands(
    monkeypatch: pytest.MonkeyPatch, shop: fake.FakeShopify, sqlite_database: Database, vault: Vault
) -> None:
    # Shopify delivers to https only: a plain-http public URL cannot be registered.
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", "http://forecast.example.com")
    created = add(sqlite_database, vault, shop)
    assert created["status_message"].startswith(NOT_REGISTERED)
    assert "https://" in created["status_message"]
    stored = service.get_connector(sqlite_database, created["id"])
    assert stored["status_message"] == created["status_message"]
    assert stored["status"] == "new"
    assert shop.subscriptions == []

    # Refused credentials: saved all the same, and the reason is shown.
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", PUBLIC)
    refused = service.update_connector(
        sqlite_database, vault, created["id"], values={"access_token": "shpat_revoked_token_0000"}
    )
    assert refused["status_message"].startswith(NOT_REGISTERED)
    assert "shpat_revoked" not in refused["status_message"]
    assert shop.subscriptions == []

    # Put right, the next save registers and clears the message.
    fixed = service.update_connector(
        sqlite_database, vault, created["id"], values={"access_token": fake.TOKEN}
    )
    assert fixed["status_message"] is None
    assert len(shop.subscriptions) == 2


def test_without_a_public_url_nothing_is_registered_and_the_reason_is_given(
    shop: fake.FakeShopify, sqlite_database: Database, vault: Vault
) -> None:
    created = add(sqlite_database, vault, shop)
    assert shop.served == []
    assert created["webhook_url"] is None
    explanation = created["webhook_explanation"]
    assert "ACCUPREDIX_APP_PUBLIC_URL" in explanation
    assert "http://127.0.0.1:8765" in explanation
    assert created["status_message"] is None


def test_webhook_url_and_explanation_follow_the_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACCUPREDIX_PORT", "9100")
    assert webhook_url(12) is None
    assert public_url_explanation() == (
        "Shopify can only reach this server through a public URL: set "
        "ACCUPREDIX_APP_PUBLIC_URL to a tunnel or reverse proxy that forwards to "
        "http://127.0.0.1:9100"
    )
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", "https://tunnel.example.net/accupredix")
    config = load_config()
    assert webhook_url(12, config) == (
        "https://tunnel.example.net/accupredix/webhooks/connectors/shopify/12"
    )
    assert public_url_explanation(config) is None


def test_other_presets_are_left_as_they_are(
    monkeypatch: pytest.MonkeyPatch, sqlite_database: Database, vault: Vault
) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", PUBLIC)
    created = service.add_connector(
        sqlite_database,
        vault,
        preset="demo",
        name="Demo",
        values={"channel": "web", "end": "2025-03-01"},
    )
    assert "webhook_url" not in created


def test_the_status_counts_deliveries_by_state(sqlite_database: Database, vault: Vault) -> None:
    connector_id = add_shopify_connector(sqlite_database, vault)
    deliver(sqlite_database, vault, connector_id, simple_order(9301))
    deliver_body(sqlite_database, vault, connector_id, b"not json")
    WebhookApplier(sqlite_database, vault).drain()
    deliver(sqlite_database, vault, connector_id, simple_order(9302))
    status = webhook_status(sqlite_database, connector_id)
    assert (status.pending, status.applied, status.failed) == (1, 1, 1)
    assert "not JSON" in (status.last_error or "")
    assert status.url is None
    assert status.explanation is not None
    assert status.as_dict()["pending"] == 1
