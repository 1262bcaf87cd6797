"""``POST /webhooks/connectors/shopify/{id}``: signature, limits, refusals, replays."""

from __future__ import annotations

import hashlib
import hmac
import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.config import load_config
from app.runtime import Runtime
from app.store.db import Database
from app.store.models import ConnectorStatus
from app.vault import Vault
from app.webhooks.apply import Outcome
from app.webhooks.worker import WebhookApplier
from embedded_api.app import create_app
from embedded_api.webhooks import MAX_WEBHOOK_BYTES
from tests.app.webhooks.support import (
    APP_SECRET,
    SHOP,
    add_shopify_connector,
    delivery_headers,
    events,
    simple_order,
    stored_lines,
)


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


@pytest.fixture
def flask_app(runtime: Runtime) -> Flask:
    return create_app(runtime)


@pytest.fixture
def client(flask_app: Flask) -> FlaskClient:
    return flask_app.test_client()


@pytest.fixture
def connector_id(runtime: Runtime) -> int:
    return add_shopify_connector(runtime.database, runtime.vault)


def url(connector_id: int | str) -> str:
    return f"/webhooks/connectors/shopify/{connector_id}"


def deliver(client: FlaskClient, connector_id: int, body: bytes, **headers: str | None):
    sent = delivery_headers(body)
    for name, value in headers.items():
        header = name.replace("_", "-")
        if value is None:
            sent.pop(header)
        else:
            sent[header] = value
    return client.post(url(connector_id), data=body, headers=sent)


def test_a_signed_delivery_is_recorded_and_answered_at_once(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    body = simple_order(5001).body()
    response = deliver(client, connector_id, body, X_Shopify_Webhook_Id="wh-5001")
    assert response.status_code == 200
    assert response.get_json() == {"status": "recorded"}
    (event,) = events(runtime.database)
    assert (event.provider, event.delivery_id, event.topic) == (
        "shopify",
        "wh-5001",
        "orders/create",
    )
    assert event.connector_id == connector_id
    assert event.status == "received"
    # The raw bytes, as signed: not a parsed and re-serialised copy.
    assert event.body == body


@pytest.mark.parametrize(
    "change",
    ["tampered body", "wrong secret", "missing header", "empty header", "hex digest"],
)
def test_unsigned_or_badly_signed_deliveries_are_refused_and_not_recorded(
    client: FlaskClient, runtime: Runtime, connector_id: int, change: str
) -> None:
    body = simple_order(5002).body()
    headers = delivery_headers(body)
    if change == "tampered body":
        body = body.replace(b'"quantity":1', b'"quantity":9')
    elif change == "wrong secret":
        headers = delivery_headers(body, secret="shpss_not_the_apps_secret_at_all")
    elif change == "missing header":
        del headers["X-Shopify-Hmac-Sha256"]
    elif change == "empty header":
        headers["X-Shopify-Hmac-Sha256"] = ""
    else:
        headers["X-Shopify-Hmac-Sha256"] = hmac.new(
            APP_SECRET.encode(), body, hashlib.sha256
        ).hexdigest()
    response = client.post(url(connector_id), data=body, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert APP_SECRET not in response.get_data(as_text=True)
    assert events(runtime.database) == []


def test_the_oauth_apps_client_secret_signs_when_the_connector_has_none(
    monkeypatch: pytest.MonkeyPatch, sqlite_database: Database
) -> None:
    monkeypatch.setenv("ACCUPREDIX_OAUTH_SHOPIFY_CLIENT_ID", "app-client-id")
    monkeypatch.setenv("ACCUPREDIX_OAUTH_SHOPIFY_CLIENT_SECRET", "oauth-app-client-secret")
    runtime = Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))
    client = create_app(runtime).test_client()
    connector_id = add_shopify_connector(runtime.database, runtime.vault, secret=None)
    body = simple_order(5003).body()
    signed_by_app = delivery_headers(body, secret="oauth-app-client-secret")
    assert client.post(url(connector_id), data=body, headers=signed_by_app).status_code == 200
    # The connector's own secret, when set, is the one that counts.
    own = add_shopify_connector(runtime.database, runtime.vault, shop="other-shop.myshopify.com")
    refused = client.post(
        url(own),
        data=body,
        headers={**signed_by_app, "X-Shopify-Shop-Domain": "other-shop.myshopify.com"},
    )
    assert refused.status_code == 401
    assert [event.connector_id for event in events(runtime.database)] == [connector_id]


def test_without_any_secret_nothing_is_accepted(client: FlaskClient, runtime: Runtime) -> None:
    connector_id = add_shopify_connector(runtime.database, runtime.vault, secret=None)
    body = simple_order(5004).body()
    assert deliver(client, connector_id, body).status_code == 401
    assert events(runtime.database) == []


def test_a_replayed_delivery_is_acknowledged_and_recorded_once(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    body = simple_order(5005).body()
    first = deliver(client, connector_id, body, X_Shopify_Webhook_Id="wh-replayed")
    again = deliver(client, connector_id, body, X_Shopify_Webhook_Id="wh-replayed")
    assert (first.status_code, first.get_json()["status"]) == (200, "recorded")
    assert (again.status_code, again.get_json()["status"]) == (200, "duplicate")
    assert len(events(runtime.database)) == 1


def test_unknown_other_and_disabled_connectors_get_the_same_404(
    client: FlaskClient, runtime: Runtime
) -> None:
    body = simple_order(5006).body()
    other_preset = add_shopify_connector(runtime.database, runtime.vault, preset="custom_rest")
    disabled = add_shopify_connector(
        runtime.database, runtime.vault, status=ConnectorStatus.DISABLED
    )
    answers = []
    for target in (other_preset + 100, other_preset, disabled, 2**40):
        response = deliver(client, target, body)
        assert response.status_code == 404
        answers.append(response.get_data())
    assert len(set(answers)) == 1, "the answer must not tell which case it was"
    assert deliver(client, "not-a-number", body).status_code == 404  # type: ignore[arg-type]
    assert events(runtime.database) == []


def test_topics_other_than_orders_are_acknowledged_and_ignored(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    body = b'{"id":8801,"title":"T-Shirt"}'
    response = deliver(client, connector_id, body, X_Shopify_Topic="products/update")
    assert response.status_code == 200  # Shopify retries anything else
    assert response.get_json() == {"status": "ignored"}
    assert events(runtime.database) == []


def test_a_delivery_from_another_shop_is_acknowledged_and_ignored(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    body = simple_order(5007).body()
    response = deliver(client, connector_id, body, X_Shopify_Shop_Domain="elsewhere.myshopify.com")
    assert response.get_json() == {"status": "ignored"}
    assert events(runtime.database) == []
    assert (
        deliver(client, connector_id, body, X_Shopify_Shop_Domain=SHOP.upper()).status_code == 200
    )


class _Unreadable(io.RawIOBase):
    """A request stream that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        raise AssertionError("the body was read")


def test_a_declared_length_over_the_limit_is_refused_unread(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    response = client.post(
        url(connector_id),
        headers=delivery_headers(b"{}"),
        environ_overrides={
            "CONTENT_LENGTH": str(MAX_WEBHOOK_BYTES + 1),
            "wsgi.input": _Unreadable(),
        },
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert events(runtime.database) == []


def test_a_body_at_the_limit_is_read_and_one_over_is_refused(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    order = simple_order(5008).payload()
    at_limit = json.dumps(order, separators=(",", ":")).encode()
    at_limit = (
        at_limit[:-1] + b',"note":"' + b"x" * (MAX_WEBHOOK_BYTES - len(at_limit) - 10) + b'"}'
    )
    assert len(at_limit) == MAX_WEBHOOK_BYTES
    assert deliver(client, connector_id, at_limit).status_code == 200
    over = at_limit[:-2] + b'x"}'
    assert deliver(client, connector_id, over).status_code == 413
    assert len(events(runtime.database)) == 1


def test_a_malformed_body_with_a_valid_signature_is_recorded_then_failed(
    client: FlaskClient, runtime: Runtime, connector_id: int
) -> None:
    body = b'{"id": 5009, "line_items": [ {"id": 1,'
    assert deliver(client, connector_id, body).status_code == 200
    counts = WebhookApplier(runtime.database, runtime.vault).drain()
    assert counts[Outcome.FAILED] == 1
    (event,) = events(runtime.database)
    assert event.status == "failed"
    assert "not JSON" in (event.error or "")
    assert event.body == body  # kept for a retry
    assert stored_lines(runtime.database, connector_id) == {}
    # The server is none the worse for it.
    assert client.get("/healthz").status_code == 200
    assert deliver(client, connector_id, simple_order(5010).body()).status_code == 200


def test_only_post_is_served(client: FlaskClient, connector_id: int) -> None:
    response = client.get(url(connector_id))
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
