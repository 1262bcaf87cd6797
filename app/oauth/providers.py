"""The OAuth 2.0 providers a Connect button signs in to, as data.

Each :class:`Provider` names the endpoints, the scopes and the quirks of one
provider's authorisation-code flow. Tests point the URLs at fakes on 127.0.0.1
by replacing entries of :data:`PROVIDERS`.

Sources:

- Shopify: shopify.dev, "Implement authorization code grant manually" and
  "About offline access tokens". Endpoints live on the shop's own host; the
  callback is signed with the client secret (``hmac``, hex); an offline token
  never expires unless the code exchange asks for an expiring one
  (``expiring=1``: one hour, with a refresh token that rotates).
- QuickBooks Online: developer.intuit.com, OAuth 2.0. The callback carries the
  company as ``realmId``; access tokens last an hour and each refresh may
  return a new refresh token.
- Xero: developer.xero.com/documentation/oauth2. Access tokens last 30
  minutes; refresh tokens rotate and expire after 60 days unused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from app.services.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Provider:
    """One provider's authorisation-code flow.

    URLs may hold ``{shop}`` (Shopify), filled by :meth:`authorize_endpoint`
    and :meth:`token_endpoint`.
    """

    id: str
    display_name: str
    authorize_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    scope_separator: str = " "
    # Whether the provider takes a PKCE challenge (S256) with a confidential client.
    pkce: bool = False
    # How the client authenticates at the token endpoint (authlib's names).
    client_auth: str = "client_secret_basic"
    # Extra parameters of the code exchange.
    token_params: Mapping[str, str] = field(default_factory=dict)
    # The endpoints are per shop (Shopify): a Connect needs the shop's domain.
    per_shop: bool = False
    # The callback carries an ``hmac`` of its other parameters (Shopify).
    signed_callback: bool = False

    @property
    def scope(self) -> str:
        return self.scope_separator.join(self.scopes)

    def authorize_endpoint(self, shop: str | None = None) -> str:
        return self._fill(self.authorize_url, shop)

    def token_endpoint(self, shop: str | None = None) -> str:
        return self._fill(self.token_url, shop)

    def _fill(self, url: str, shop: str | None) -> str:
        if not self.per_shop:
            return url
        if not shop:
            raise InvalidInput(f"Connecting to {self.display_name} needs the shop's domain.")
        return url.format(shop=shop)


PROVIDERS: dict[str, Provider] = {
    "shopify": Provider(
        id="shopify",
        display_name="Shopify",
        authorize_url="https://{shop}/admin/oauth/authorize",
        token_url="https://{shop}/admin/oauth/access_token",  # noqa: S106 - a URL
        revoke_url=None,
        # read_orders reaches the last 60 days; older orders need read_all_orders,
        # which Shopify grants to an app on request.
        scopes=("read_orders", "read_products"),
        scope_separator=",",
        client_auth="client_secret_post",
        # An expiring offline token (one hour, with a rotating refresh token), as
        # Shopify requires of public apps. Shopify keeps one such token per app
        # and shop: connecting the same shop again revokes the earlier one.
        token_params={"expiring": "1"},
        per_shop=True,
        signed_callback=True,
    ),
    "quickbooks": Provider(
        id="quickbooks",
        display_name="QuickBooks Online",
        authorize_url="https://appcenter.intuit.com/connect/oauth2",
        token_url="https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",  # noqa: S106 - a URL
        revoke_url="https://developer.api.intuit.com/v2/oauth2/tokens/revoke",
        scopes=("com.intuit.quickbooks.accounting",),
    ),
    "xero": Provider(
        id="xero",
        display_name="Xero",
        authorize_url="https://login.xero.com/identity/connect/authorize",
        token_url="https://identity.xero.com/connect/token",  # noqa: S106 - a URL
        revoke_url="https://identity.xero.com/connect/revocation",
        scopes=("offline_access", "accounting.transactions.read", "accounting.settings.read"),
        pkce=True,
    ),
}


def get_provider(provider_id: str) -> Provider:
    """The provider called ``provider_id`` (any case).

    Raises:
        NotFound: no such provider.
    """
    try:
        return PROVIDERS[provider_id.lower()]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise NotFound(f"Unknown OAuth provider {provider_id!r}; known: {known}.") from None


# -- Shopify ---------------------------------------------------------------

_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def shop_domain(text: str) -> str:
    """The ``name.myshopify.com`` domain the operator means by ``text``.

    Takes the bare store name, the domain, or an admin URL of the store.

    Raises:
        InvalidInput: not a myshopify.com store.
    """
    value = text.strip().lower()
    if "://" in value:
        value = urlsplit(value).hostname or ""
    value = value.split("/", 1)[0]
    if value and "." not in value:
        value = f"{value}.myshopify.com"
    if not _SHOP.match(value):
        raise InvalidInput(
            f"{text.strip()!r} is not a Shopify store domain; give its myshopify.com "
            "domain, such as my-store.myshopify.com."
        )
    return value


def _escape(text: str, *, key: bool) -> str:
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if key else text


def shopify_signature(params: Mapping[str, str], secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in a redirect's ``hmac`` parameter.

    It covers every other parameter (``hmac`` and the legacy ``signature``
    excluded), decoded, sorted by name and joined as ``name=value`` with ``&``;
    ``%`` and ``&`` are escaped in names and values, ``=`` in names.
    """
    pairs = sorted(
        f"{_escape(name, key=True)}={_escape(value, key=False)}"
        for name, value in params.items()
        if name not in ("hmac", "signature")
    )
    message = "&".join(pairs).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def shopify_signature_valid(params: Mapping[str, str], secret: str) -> bool:
    """Whether the redirect's ``hmac`` matches its other parameters (constant time)."""
    given = params.get("hmac", "")
    expected = shopify_signature(params, secret)
    return hmac.compare_digest(given.lower().encode("ascii", "replace"), expected.encode("ascii"))
