"""A fake OAuth 2.0 authorisation server and API, served for real on 127.0.0.1.

The authorisation server is authlib's own server side
(``authlib.integrations.flask_oauth2.AuthorizationServer``) with the
authorization-code grant (PKCE by S256 when the client sends a challenge) and
the refresh-token grant with rotation: each refresh issues a new refresh token
and revokes the one spent, so spending it again answers ``invalid_grant``::

    with serve_oauth(variant="quickbooks") as fake:
        fake.allow_redirect("http://127.0.0.1:8765/oauth/quickbooks/callback")
        spec = fake.provider(PROVIDERS["quickbooks"])  # the spec pointed at this server
        browse(authorisation_url)  # the "browser": follows the redirects

Variants, each shaped as its provider documents it:

- ``quickbooks``: ``/oauth2/authorize`` and ``/oauth2/tokens/bearer``, client
  authentication by HTTP Basic; the callback carries ``realmId``; the token
  answer carries ``x_refresh_token_expires_in``.
- ``xero``: ``/identity/connect/authorize`` and ``/connect/token`` (Basic);
  ``GET /connections`` lists the authorised tenants (``tenants``).
- ``shopify``: ``/shops/{shop}/admin/oauth/authorize`` and ``.../access_token``,
  client credentials in the form (``client_secret_post``); the callback adds
  ``host``, ``shop`` and ``timestamp`` and signs every parameter in ``hmac``
  (hex HMAC-SHA256 with the client secret). The token is an offline token
  that never expires (``access_token`` and ``scope`` only), unless the code
  exchange sends ``expiring=1``: then it lasts ``access_token_lifetime`` and
  comes with a refresh token (``refresh_token_expires_in``); a new expiring
  token revokes the shop's earlier ones.

Knobs, safe to set while serving: ``access_token_lifetime`` (seconds),
``token_delay`` (seconds each token request takes), ``deny_next()`` (the next
sign-in answers ``error=access_denied``, as when the person cancels),
``revoke_all()`` (every grant revoked: refreshes get ``invalid_grant``, API
calls 401), ``fail_token_endpoint(count, status)``, ``orders`` and
``tenants``, ``refuse_api`` (the API answers 401 to every token),
``on_api_request`` (called with the access token of each API
request it lets through).

Inspection: ``token_requests`` (one :class:`TokenRequest` per token call),
``refreshes`` (refresh grants that succeeded), ``api_requests``,
``live_refresh_tokens()``, ``issued`` (every token answer, in order).

The protected API (a bearer token, or ``X-Shopify-Access-Token`` for
``shopify``): ``GET /api/account`` → ``{"name": ...}`` and
``GET /api/orders?page=N`` → ``{"orders": [...], "next_page": N+1 or null}``,
each order ``{"id", "created_at", "updated_at", "currency", "lines": [{"id",
"sku", "quantity", "price"}]}``. An invalid or expired token gets 401 with an
OAuth ``invalid_token`` error.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, jsonify, request

from app.oauth.providers import Provider
from tests.fakes.rest_server import WsgiServer

VARIANTS = ("quickbooks", "xero", "shopify")
CLIENT_ID = "fake-oauth-client"
CLIENT_SECRET = "fake-oauth-client-secret-8d41c2"
COMPANY = "Fake Trading Co"
REALM_ID = "9130357766371246"
SHOP_ORDERS = 5

# The token endpoint takes either; each variant's client is registered for its own.
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
_PATHS = {
    "quickbooks": ("/oauth2/authorize", "/oauth2/tokens/bearer"),
    "xero": ("/identity/connect/authorize", "/connect/token"),
    "shopify": ("/shops/<shop>/admin/oauth/authorize", "/shops/<shop>/admin/oauth/access_token"),
}


@dataclass(frozen=True)
class TokenRequest:
    """A call to the token endpoint as the fake received it."""

    grant_type: str | None
    client_auth: str  # "basic", "post" or "none"
    code_verifier: bool
    refresh_token: str | None
    expiring: str | None
    status: int = 0
    error: str | None = None


@dataclass
class _Client(ClientMixin):
    client_id: str
    client_secret: str
    auth_methods: tuple[str, ...]
    redirect_uris: set[str] = field(default_factory=set)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class _User:
    id: str


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: _User
    code_challenge: str | None
    code_challenge_method: str | None
    shop: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class _Token(TokenMixin):
    client_id: str
    access_token: str
    refresh_token: str | None
    scope: str
    user: _User
    issued_at: float
    expires_in: int | None
    shop: str | None = None
    revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in or 0

    def is_expired(self) -> bool:
        return self.expires_in is not None and time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> _User:
        return self.user

    def get_client(self) -> ClientMixin:
        raise NotImplementedError


class FakeOAuthServer:
    """The authorisation server and API of one provider variant; see the module doc."""

    def __init__(
        self,
        variant: str = "quickbooks",
        *,
        access_token_lifetime: int = 3600,
        orders: int = SHOP_ORDERS,
        tenants: list[dict[str, str]] | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}")
        self.variant = variant
        self.access_token_lifetime = access_token_lifetime
        self.token_delay = 0.0
        self.orders = orders
        self.tenants = tenants or [{"tenantId": "a3c1e1a2-1b52-4a5e-9d44-0f6f1b2c3d4e"}]
        self.client = _Client(
            CLIENT_ID,
            CLIENT_SECRET,
            ("client_secret_post",) if variant == "shopify" else ("client_secret_basic",),
        )
        self.user = _User("owner")
        self.token_requests: list[TokenRequest] = []
        self.api_requests: list[tuple[str, str]] = []
        self.issued: list[dict[str, Any]] = []
        self.refreshes = 0
        # The API refuses every token, fresh ones too (access taken away).
        self.refuse_api = False
        # Called with the access token of each API request that it authorises.
        self.on_api_request: Callable[[str], None] | None = None
        self._codes: dict[str, _Code] = {}
        self._tokens: list[_Token] = []
        self._deny_next = False
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self.app = self._build()
        self._server = WsgiServer(self.app)

    # -- lifecycle and knobs -------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> FakeOAuthServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def allow_redirect(self, uri: str) -> None:
        self.client.redirect_uris.add(uri)

    def provider(self, spec: Provider) -> Provider:
        """``spec`` with its endpoints on this server (no revocation endpoint)."""
        authorize, token = _PATHS[self.variant]
        return dataclasses.replace(
            spec,
            authorize_url=self.url + authorize.replace("<shop>", "{shop}"),
            token_url=self.url + token.replace("<shop>", "{shop}"),
            revoke_url=None,
        )

    def deny_next(self) -> None:
        self._deny_next = True

    def revoke_all(self) -> None:
        with self._lock:
            for token in self._tokens:
                token.revoked = token.refresh_revoked = True

    def fail_token_endpoint(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def live_refresh_tokens(self) -> set[str]:
        with self._lock:
            return {
                t.refresh_token for t in self._tokens if t.refresh_token and not t.refresh_revoked
            }

    def token_of(self, access_token: str) -> _Token | None:
        with self._lock:
            return next((t for t in self._tokens if t.access_token == access_token), None)

    # -- the Flask app -------------------------------------------------------

    def _build(self) -> Flask:
        app = Flask(__name__)
        server = AuthorizationServer(app, query_client=self._query_client, save_token=self._save)
        server.register_token_generator("default", self._generate)
        fake = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = AUTH_METHODS

            def save_authorization_code(self, code: str, oauth_request: Any) -> None:
                data = oauth_request.payload.data
                fake._codes[code] = _Code(
                    code=code,
                    client_id=oauth_request.client.client_id,
                    redirect_uri=oauth_request.payload.redirect_uri,
                    scope=oauth_request.scope,
                    user=oauth_request.user,
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    shop=(request.view_args or {}).get("shop"),
                    expires_at=time.time() + 600,
                )

            def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
                item = fake._codes.get(code)
                shop = (request.view_args or {}).get("shop")  # a code works at its own shop
                if (
                    item
                    and item.client_id == client.client_id
                    and item.shop == shop
                    and item.expires_at > time.time()
                ):
                    return item
                return None

            def delete_authorization_code(self, authorization_code: _Code) -> None:
                fake._codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _Code) -> _User:
                return authorization_code.user

        class RefreshGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = AUTH_METHODS
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
                for token in fake._tokens:
                    if token.refresh_token == refresh_token and not token.refresh_revoked:
                        return token
                return None

            def authenticate_user(self, refresh_token: _Token) -> _User:
                return refresh_token.user

            def revoke_old_credential(self, refresh_token: _Token) -> None:
                refresh_token.refresh_revoked = True
                fake.refreshes += 1

        server.register_grant(CodeGrant, [CodeChallenge(required=False)])
        server.register_grant(RefreshGrant)
        authorize_path, token_path = _PATHS[self.variant]
        app.add_url_rule(authorize_path, "authorize", lambda **kw: self._authorize(server))
        app.add_url_rule(token_path, "token", lambda **kw: self._token(server), methods=["POST"])
        app.add_url_rule("/api/account", "account", self._account)
        app.add_url_rule("/api/orders", "orders", self._orders)
        app.add_url_rule("/connections", "connections", self._connections)
        return app

    def _query_client(self, client_id: str) -> _Client | None:
        return self.client if client_id == self.client.client_id else None

    def _generate(
        self,
        *,
        grant_type: str,
        client: _Client,
        user: _User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if self.variant == "shopify":
            token: dict[str, Any] = {"access_token": "shpat_" + secrets.token_hex(16)}
            if request.form.get("expiring") == "1" or grant_type == "refresh_token":
                token["expires_in"] = self.access_token_lifetime
                token["refresh_token"] = "shprt_" + secrets.token_hex(16)
                token["refresh_token_expires_in"] = 90 * 24 * 3600
            token["scope"] = scope or ""
            return token
        token = {
            "token_type": "bearer",
            "access_token": secrets.token_urlsafe(32),
            "expires_in": self.access_token_lifetime,
            "refresh_token": secrets.token_urlsafe(32),
        }
        if self.variant == "quickbooks":
            token["x_refresh_token_expires_in"] = 8_726_400
        if self.variant == "xero":
            token["scope"] = scope or ""
        return token

    def _save(self, token: dict[str, Any], oauth_request: Any) -> None:
        shop = (request.view_args or {}).get("shop")
        if self.variant == "shopify" and token.get("refresh_token"):
            # One expiring offline token per app and shop: a new one revokes the others.
            for earlier in self._tokens:
                if earlier.shop == shop and earlier.refresh_token:
                    earlier.revoked = earlier.refresh_revoked = True
        self._tokens.append(
            _Token(
                client_id=oauth_request.client.client_id,
                access_token=token["access_token"],
                refresh_token=token.get("refresh_token"),
                scope=token.get("scope", ""),
                user=oauth_request.user,
                issued_at=time.time(),
                expires_in=token.get("expires_in"),
                shop=shop,
            )
        )
        self.issued.append(dict(token))

    # -- endpoints -------------------------------------------------------------

    def _authorize(self, server: AuthorizationServer) -> Response:
        try:
            grant = server.get_consent_grant(end_user=self.user)
        except OAuth2Error as error:
            # An unknown client or redirect URI: the provider shows its own error page.
            return Response(json.dumps(dict(error.get_body())), status=400)
        denied, self._deny_next = self._deny_next, False
        response = server.create_authorization_response(
            grant_user=None if denied else self.user, grant=grant
        )
        location = response.headers.get("Location")
        if location and not denied:
            response.headers["Location"] = self._decorate_callback(location)
        return response

    def _decorate_callback(self, location: str) -> str:
        parts = urlsplit(location)
        params = dict(parse_qsl(parts.query))
        if self.variant == "quickbooks":
            params["realmId"] = REALM_ID
        if self.variant == "shopify":
            shop = (request.view_args or {})["shop"]
            store = shop.removesuffix(".myshopify.com")
            params["host"] = base64.b64encode(f"admin.shopify.com/store/{store}".encode()).decode()
            params["shop"] = shop
            params["timestamp"] = str(int(time.time()))
            params["hmac"] = sign(params, self.client.client_secret)
        return urlunsplit(parts._replace(query=urlencode(params)))

    def _token(self, server: AuthorizationServer) -> Response:
        form = request.form
        if request.authorization is not None:
            client_auth = "basic"
        elif form.get("client_secret"):
            client_auth = "post"
        else:
            client_auth = "none"
        with self._lock:
            time.sleep(self.token_delay)
            if self._failures:
                status = self._failures.pop(0)
                response = Response("<html><body>Service Unavailable</body></html>", status)
                response.mimetype = "text/html"
            else:
                response = server.create_token_response()
            error = None
            if response.status_code >= 400 and response.mimetype == "application/json":
                error = json.loads(response.get_data(as_text=True)).get("error")
            self.token_requests.append(
                TokenRequest(
                    grant_type=form.get("grant_type"),
                    client_auth=client_auth,
                    code_verifier=bool(form.get("code_verifier")),
                    refresh_token=form.get("refresh_token"),
                    expiring=form.get("expiring"),
                    status=response.status_code,
                    error=error,
                )
            )
        return response

    def _authorised(self) -> _Token | None:
        if self.variant == "shopify":
            value = request.headers.get("X-Shopify-Access-Token", "")
        else:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                value = ""
        token = self.token_of(value) if value else None
        if token is None or token.revoked or token.is_expired() or self.refuse_api:
            return None
        if self.on_api_request is not None:
            self.on_api_request(token.access_token)
        return token

    def _refuse(self) -> Response:
        response = jsonify(error="invalid_token", error_description="The access token is invalid")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    def _account(self) -> Response:
        self.api_requests.append(("GET", "/api/account"))
        if self._authorised() is None:
            return self._refuse()
        return jsonify(name=COMPANY, realm_id=REALM_ID)

    def _orders(self) -> Response:
        self.api_requests.append(("GET", "/api/orders"))
        if self._authorised() is None:
            return self._refuse()
        page = int(request.args.get("page", "1"))
        size = int(request.args.get("per_page", "2"))
        first = (page - 1) * size + 1
        numbers = range(first, min(first + size, self.orders + 1))
        return jsonify(
            orders=[order(n) for n in numbers],
            next_page=page + 1 if first + size <= self.orders else None,
        )

    def _connections(self) -> Response:
        self.api_requests.append(("GET", "/connections"))
        if self._authorised() is None:
            return self._refuse()
        return jsonify(
            [
                {
                    "id": f"c-{number}",
                    "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
                    "tenantId": tenant["tenantId"],
                    "tenantType": "ORGANISATION",
                    "tenantName": tenant.get("tenantName", f"Organisation {number}"),
                    "createdDateUtc": "2026-01-05T03:06:01.5133900",
                    "updatedDateUtc": "2026-01-05T03:06:01.5133900",
                }
                for number, tenant in enumerate(self.tenants, 1)
            ]
        )


def order(number: int) -> dict[str, Any]:
    """Order ``number`` as the fake API serves it: two lines."""
    day = f"2026-01-{number % 28 + 1:02d}"
    return {
        "id": str(1000 + number),
        "created_at": f"{day}T10:00:00Z",
        "updated_at": f"{day}T11:00:00Z",
        "currency": "USD",
        "lines": [
            {"id": str(line), "sku": f"SKU-{line}", "quantity": number + line, "price": "9.50"}
            for line in (1, 2)
        ],
    }


def sign(params: dict[str, str], secret: str) -> str:
    """Shopify's redirect signature: hex HMAC-SHA256 of the sorted ``name=value`` pairs."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def browse(url: str) -> requests.Response:
    """What the system browser does: follow the redirects from the sign-in page to the end."""
    with requests.Session() as session:
        return session.get(url, allow_redirects=True, timeout=10)


@contextmanager
def serve_oauth(variant: str = "quickbooks", **options: Any) -> Iterator[FakeOAuthServer]:
    fake = FakeOAuthServer(variant, **options)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
