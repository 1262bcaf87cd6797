"""The Shopify preset: orders from the Admin GraphQL API as demand lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import requests

from app.connectors.base import (
    Category,
    ConnectorPreset,
    Cursor,
    Page,
    ProbeResult,
    Record,
    SourceConfig,
)
from app.connectors.errors import AuthError, ConnectorError, RetryableError, SourceDataError
from app.connectors.http import (
    DEFAULT_TIMEOUT,
    PROBE_RETRY,
    RetryPolicy,
    decode_json,
    source_message,
)
from app.connectors.registry import register
from app.connectors.shopify import queries
from app.connectors.shopify import settings as shopify_settings
from app.connectors.shopify.client import TOKEN_HEADER, AdminClient, connect
from app.connectors.shopify.reader import OrderReader, Tuning
from app.redaction import register_secret

if TYPE_CHECKING:
    from app.oauth import ConnectResult

log = logging.getLogger(__name__)

ORDER_SCOPES = frozenset({"read_orders", "write_orders"})
ALL_ORDERS_SCOPE = "read_all_orders"


@register
class ShopifyPreset(ConnectorPreset):
    """Orders, refunds and cancellations of one Shopify store.

    The first sync reads the whole order history through a bulk operation; later
    syncs read the orders updated since, page by page.
    """

    id = "shopify"
    display_name = "Shopify"
    category = Category.ECOMMERCE
    description = (
        "Orders from the Shopify Admin GraphQL API: line items, refunds as negative lines, "
        "cancellations, fulfilment locations."
    )
    fields = shopify_settings.FIELDS
    oauth_provider = "shopify"
    # Reads have no side effect a second read could repeat: a bulk operation
    # already running for the backfill is adopted, not started twice.
    read_ahead = True

    # An instance may replace these (tests use short waits). A 429 storm is
    # waited out over many attempts rather than failing the sync.
    retry_policy: RetryPolicy = RetryPolicy(attempts=12, backoff=1.0, backoff_max=60.0)
    probe_retry_policy: RetryPolicy = PROBE_RETRY
    tuning: Tuning = Tuning()

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; raises ConfigurationError naming each bad field."""
        return shopify_settings.validate(values)

    def _client(self, config: SourceConfig, retry: RetryPolicy) -> AdminClient:
        return connect(config, retry=retry)

    def _reader(self, client: AdminClient, config: SourceConfig) -> OrderReader:
        return OrderReader(
            client,
            retry=self.retry_policy,
            tuning=self.tuning,
            sleep=client.wait_on_cancel,
            check_cancelled=config.check_cancelled,
        )

    def probe(self, config: SourceConfig) -> ProbeResult:
        """The shop's name, and whether the token may read orders (and all of them)."""
        with self._client(config, self.probe_retry_policy) as client:
            data = client.query(queries.PROBE)
        shop = data.get("shop") or {}
        installation = data.get("currentAppInstallation") or {}
        scopes = sorted(
            str(scope.get("handle")) for scope in installation.get("accessScopes") or []
        )
        name = shop.get("name") or client.shop
        if not ORDER_SCOPES & set(scopes):
            granted = ", ".join(scopes) or "none"
            raise AuthError(
                f"Shopify ({client.shop}): the access token lacks the read_orders scope "
                f"(granted: {granted}). Add read_orders to the app's Admin API scopes and "
                "install it again, or reconnect."
            )
        all_orders = ALL_ORDERS_SCOPE in scopes
        reach = (
            "every order can be read"
            if all_orders
            else "only the last 60 days of orders can be read; add the read_all_orders scope "
            "for older history"
        )
        return ProbeResult(
            account=name,
            message=f"Connected to {name} ({client.shop}); {reach}.",
            details={
                "shop": client.shop,
                "currency": shop.get("currencyCode"),
                "scopes": scopes,
                "all_orders": all_orders,
            },
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        with self._client(config, self.retry_policy) as client:
            yield from self._reader(client, config).pages(cursor)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """Line records of the most recently changed orders (no bulk operation)."""
        with self._client(config, self.probe_retry_policy) as client:
            return self._reader(client, config).recent(limit)

    @classmethod
    def after_connect(
        cls, token: dict[str, Any], params: Mapping[str, str], http: requests.Session
    ) -> ConnectResult:
        """The shop signed in through Connect: its name, and its domain as the ``shop`` setting."""
        from app.oauth import ConnectResult

        account, values = connected_shop(token, params, http)
        return ConnectResult(account=account, settings=values, choices=[])


def connected_shop(
    token: Mapping[str, Any], params: Mapping[str, str], http: requests.Session
) -> tuple[str, dict[str, Any]]:
    """The shop's name and settings after an OAuth sign-in, asked with the sign-in's session.

    Shopify's callback names the shop in its ``shop`` parameter; the new
    token asks that shop for its name.

    Raises:
        ConnectorError: the callback names no valid shop, or the shop's answer is unusable.
        AuthError: the shop refused the new token.
        RetryableError: the shop could not be reached.
    """
    try:
        shop = shopify_settings.normalise_shop(str(params.get("shop") or ""))
    except ValueError as exc:
        raise ConnectorError(f"Shopify's sign-in did not name a valid shop: it {exc}.") from None
    access_token = str(token.get("access_token") or "")
    if not access_token:
        raise AuthError(f"Shopify ({shop}) returned no access token.")
    register_secret(access_token)
    url = shopify_settings.admin_url(shop, shopify_settings.DEFAULT_API_VERSION) + "/graphql.json"
    try:
        response = http.post(
            url,
            json={"query": queries.SHOP_NAME},
            headers={TOKEN_HEADER: access_token, "Accept": "application/json"},
            timeout=DEFAULT_TIMEOUT,
            allow_redirects=False,  # the token goes to the shop only
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise RetryableError(
            f"Shopify ({shop}) could not be reached after sign-in ({type(exc).__name__})."
        ) from None
    said = source_message(response).rstrip(".")
    if response.status_code in (401, 403):
        raise AuthError(
            f"Shopify ({shop}) refused the new token (HTTP {response.status_code}): {said}."
        )
    if response.status_code != 200:
        raise ConnectorError(
            f"Shopify ({shop}) answered HTTP {response.status_code} after sign-in: {said}."
        )
    body = decode_json(response, source=f"Shopify ({shop})")
    name = (
        ((body.get("data") or {}).get("shop") or {}).get("name") if isinstance(body, dict) else None
    )
    if not name:
        raise SourceDataError(f"Shopify ({shop}) did not say the shop's name after sign-in.")
    return str(name), {"shop": shop}
