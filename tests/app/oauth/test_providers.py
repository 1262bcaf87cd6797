"""Provider specs: Shopify's redirect signature and shop domains, lookups, client credentials."""

from __future__ import annotations

import pytest

from app.config import ConfigError
from app.oauth.clients import client_for
from app.oauth.providers import (
    PROVIDERS,
    get_provider,
    shop_domain,
    shopify_signature,
    shopify_signature_valid,
)
from app.redaction import mask_text
from app.services.errors import InvalidInput, NotFound

# The example redirect of Shopify's OAuth documentation, signed with the secret "hush".
EXAMPLE = {
    "code": "0907a61c0c8d55e99db179b68161bc00",
    "shop": "some-shop.myshopify.com",
    "state": "0.6784241404160823",
    "timestamp": "1337178173",
    "hmac": "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
}


def test_the_signature_of_shopifys_documented_example() -> None:
    assert shopify_signature(EXAMPLE, "hush") == EXAMPLE["hmac"]
    assert shopify_signature_valid(EXAMPLE, "hush")


@pytest.mark.parametrize(
    "params",
    [
        {**EXAMPLE, "state": "0.6784241404160824"},
        {**EXAMPLE, "extra": "1"},
        {k: v for k, v in EXAMPLE.items() if k != "hmac"},
        {**EXAMPLE, "hmac": "not-hex-at-all-é"},
    ],
)
def test_a_changed_or_missing_signature_fails(params: dict[str, str]) -> None:
    assert not shopify_signature_valid(params, "hush")
    assert not shopify_signature_valid(EXAMPLE, "another secret")


def test_names_and_values_with_separators_are_escaped() -> None:
    # "a=1&b=2" as one value must not sign like two parameters.
    assert shopify_signature({"x": "a=1&b=2"}, "k") != shopify_signature(
        {"x": "a=1", "b": "2"}, "k"
    )
    assert shopify_signature({"x": "100%"}, "k") != shopify_signature({"x": "100%25"}, "k")


@pytest.mark.parametrize(
    "text",
    [
        "demo-store",
        "Demo-Store.myshopify.com",
        " demo-store.myshopify.com ",
        "https://demo-store.myshopify.com/admin/orders",
    ],
)
def test_shop_domains(text: str) -> None:
    assert shop_domain(text) == "demo-store.myshopify.com"


@pytest.mark.parametrize(
    "text", ["", "demo store", "demo.example.com", "https://evil.com/?x=.myshopify.com", "-x"]
)
def test_not_a_shop(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"myshopify\.com"):
        shop_domain(text)


def test_providers_have_their_documented_endpoints() -> None:
    assert get_provider("XERO").token_url == "https://identity.xero.com/connect/token"
    assert get_provider("xero").pkce
    assert {"offline_access", "accounting.transactions.read", "accounting.settings.read"} <= set(
        PROVIDERS["xero"].scopes
    )
    books = get_provider("quickbooks")
    assert books.authorize_url == "https://appcenter.intuit.com/connect/oauth2"
    assert books.token_url == "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    assert books.scope == "com.intuit.quickbooks.accounting"
    shop = get_provider("shopify")
    assert shop.token_endpoint("demo.myshopify.com") == (
        "https://demo.myshopify.com/admin/oauth/access_token"
    )
    with pytest.raises(InvalidInput, match="shop"):
        shop.authorize_endpoint(None)
    with pytest.raises(NotFound, match="quickbooks, shopify, xero"):
        get_provider("sage")


def test_client_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert client_for("xero") is None
    monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_ID", "xero-client")
    monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET", "xero-secret-0b9d71")
    client = client_for("Xero")
    assert client is not None
    assert client.client_id == "xero-client"
    assert "xero-secret-0b9d71" not in repr(client)
    assert mask_text("secret is xero-secret-0b9d71") == "secret is ********"
    monkeypatch.delenv("ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET")
    with pytest.raises(ConfigError, match="ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET"):
        client_for("xero")
