"""Small presets that sign in with OAuth and read the fake OAuth server's API.

They are not registered on import: the ``oauth_presets`` fixture adds them to
the registry for one test, so that no other test sees several presets per
provider. ``API_BASE`` is where they find the API; tests point it at the fake.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import requests

from app.connectors.base import Category, ConnectorPreset, Cursor, Page, ProbeResult, SourceConfig
from app.connectors.errors import AuthError
from app.connectors.fields import Field, FieldKind
from app.connectors.http import HttpClient, RetryPolicy
from app.oauth import ConnectResult
from app.oauth.tokens import OAuthBearer

API_BASE = "http://127.0.0.1:9"
FAST = RetryPolicy(attempts=3, backoff=0.01, backoff_max=0.05, jitter=0.01, retry_after_cap=1)

# The canonical columns of the fake API's orders, one row per order line.
MAPPING = {
    "columns": {
        "order_id": {"path": "id"},
        "line_id": {"path": "lines[].id"},
        "order_date": {"path": "created_at", "transforms": [{"type": "date"}]},
        "sku": {"path": "lines[].sku"},
        "quantity": {"path": "lines[].quantity", "transforms": [{"type": "decimal"}]},
        "unit_price": {"path": "lines[].price", "transforms": [{"type": "decimal"}]},
        "currency": {"path": "currency"},
        "source_updated_at": {"path": "updated_at"},
    }
}

TOKEN_FIELDS = (
    Field("access_token", "Access token", FieldKind.SECRET, required=True, managed=True),
    Field("refresh_token", "Refresh token", FieldKind.SECRET, managed=True),
    Field("token_expires_at", "Access token expiry", FieldKind.SECRET, managed=True),
)


class _FakeApiPreset(ConnectorPreset):
    category = Category.ACCOUNTING
    token_header: ClassVar[str] = "Authorization"
    token_scheme: ClassVar[str | None] = "Bearer"

    @classmethod
    def default_mapping(cls) -> dict[str, Any]:
        return MAPPING

    def _client(self, config: SourceConfig) -> HttpClient:
        assert self.oauth_provider is not None
        auth = OAuthBearer(
            config, self.oauth_provider, header=self.token_header, scheme=self.token_scheme
        )
        return HttpClient(API_BASE, name="Fake API", auth=auth, retry=FAST, cancel=config.cancel)

    def probe(self, config: SourceConfig) -> ProbeResult:
        with self._client(config) as client:
            return ProbeResult(account=client.get_json("/api/account")["name"])

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        page = int((cursor or {}).get("page", 1))
        with self._client(config) as client:
            while True:
                body = client.get_json("/api/orders", params={"page": page, "per_page": 2})
                following = body["next_page"]
                # The last page's cursor reads it again next time: it may grow.
                yield Page(records=body["orders"], cursor={"page": following or page})
                if not following:
                    return
                page = following

    @classmethod
    def _account(cls, token: Mapping[str, Any], http: requests.Session) -> str:
        if cls.token_scheme:
            header = f"{cls.token_scheme} {token['access_token']}"
        else:
            header = str(token["access_token"])
        response = http.get(f"{API_BASE}/api/account", headers={cls.token_header: header})
        if response.status_code == 401:
            raise AuthError("The fake API refused the new token.")
        response.raise_for_status()
        return str(response.json()["name"])


class CompanyPreset(_FakeApiPreset):
    """QuickBooks-like: the company comes from the callback's ``realmId``."""

    id = "test_oauth_company"
    display_name = "Test OAuth company"
    oauth_provider = "quickbooks"
    fields = (Field("realm_id", "Company ID", required=True), *TOKEN_FIELDS)

    @classmethod
    def after_connect(
        cls, token: dict[str, Any], params: Mapping[str, str], http: requests.Session
    ) -> ConnectResult:
        return ConnectResult(
            account=cls._account(token, http), settings={"realm_id": params["realmId"]}
        )


class TenantPreset(_FakeApiPreset):
    """Xero-like: the organisation is a tenant from ``/connections``, picked when several."""

    id = "test_oauth_tenant"
    display_name = "Test OAuth tenant"
    oauth_provider = "xero"
    fields = (
        Field("tenant_id", "Organisation ID", required=True),
        Field("tenant_name", "Organisation"),
        *TOKEN_FIELDS,
    )

    @classmethod
    def after_connect(
        cls, token: dict[str, Any], params: Mapping[str, str], http: requests.Session
    ) -> ConnectResult:
        response = http.get(
            f"{API_BASE}/connections",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        response.raise_for_status()
        found = [{"id": t["tenantId"], "name": t["tenantName"]} for t in response.json()]
        if len(found) == 1:
            only = found[0]
            return ConnectResult(
                account=only["name"],
                settings={"tenant_id": only["id"], "tenant_name": only["name"]},
            )
        return ConnectResult(account=f"{len(found)} organisations", choices=found)


class ShopPreset(_FakeApiPreset):
    """Shopify-like: per-shop endpoints, the token in ``X-Shopify-Access-Token``."""

    id = "test_oauth_shop"
    display_name = "Test OAuth shop"
    oauth_provider = "shopify"
    token_header = "X-Shopify-Access-Token"
    token_scheme = None
    fields = (Field("shop", "Shop", required=True), *TOKEN_FIELDS)

    @classmethod
    def after_connect(
        cls, token: dict[str, Any], params: Mapping[str, str], http: requests.Session
    ) -> ConnectResult:
        return ConnectResult(account=cls._account(token, http), settings={"shop": params["shop"]})


PRESETS = (CompanyPreset, TenantPreset, ShopPreset)
