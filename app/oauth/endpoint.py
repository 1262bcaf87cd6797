"""Calls to a provider's token endpoint through authlib, errors sorted by consequence.

Two grants go there: the authorisation code of a Connect, and the refresh
token of a connector whose access token is about to expire. Both answer a
token (or an OAuth error) that this module turns into the secrets a connector
keeps, or into :mod:`app.connectors.errors`:

- the provider refused (an OAuth ``error`` such as ``invalid_grant``, or a
  401/403): :class:`TokenRefused`, an :class:`AuthError`, so a sync marks the
  connector ``needs_reconnect``;
- 429, 5xx, timeouts, connection failures: :class:`RetryableError`;
- anything else: :class:`ConnectorError`.

Messages name the provider and the endpoint's path, never a token, code or
secret.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from app.config import OAuthClient
from app.connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    RetryableError,
    SourceDataError,
)
from app.connectors.http import USER_AGENT, parse_retry_after, path_of, source_message
from app.oauth.clients import variable_names
from app.oauth.providers import Provider
from app.redaction import mask_text, register_secret

log = logging.getLogger(__name__)

# (connect, read) seconds for token endpoint calls.
TIMEOUT = (10.0, 30.0)
# The secret fields where a connector keeps its grant.
ACCESS_TOKEN = "access_token"  # noqa: S105 - field names, not secrets
REFRESH_TOKEN = "refresh_token"  # noqa: S105
EXPIRES_AT = "token_expires_at"
TOKEN_FIELDS = (ACCESS_TOKEN, REFRESH_TOKEN, EXPIRES_AT)


class TokenRefused(AuthError):
    """The provider refused a code or refresh token; ``error`` is its OAuth error code."""

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


def session(provider: Provider, client: OAuthClient, **kwargs: Any) -> Any:
    """An authlib ``OAuth2Session`` for ``provider`` with timeouts and our User-Agent."""
    # authlib is imported here, where it is used: it is slow to import.
    from authlib.integrations.requests_client import OAuth2Session

    register_secret(client.client_secret)
    oauth = OAuth2Session(
        client.client_id,
        client.client_secret,
        token_endpoint_auth_method=provider.client_auth,
        code_challenge_method="S256" if provider.pkce else None,
        default_timeout=TIMEOUT,
        **kwargs,
    )
    oauth.headers["User-Agent"] = USER_AGENT
    return oauth


def exchange_code(
    provider: Provider,
    client: OAuthClient,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
    shop: str | None = None,
) -> dict[str, Any]:
    """The token the provider gives for an authorisation code."""
    register_secret(code)
    url = provider.token_endpoint(shop)
    extra = dict(provider.token_params)
    if code_verifier:
        extra["code_verifier"] = code_verifier
    with session(provider, client, redirect_uri=redirect_uri) as oauth:
        return _call(
            provider,
            url,
            "authorisation code",
            lambda: oauth.fetch_token(url, grant_type="authorization_code", code=code, **extra),
            oauth,
        )


def refresh_grant(
    provider: Provider, client: OAuthClient, *, refresh_token: str, shop: str | None = None
) -> dict[str, Any]:
    """The token the provider gives for a refresh token (its new refresh token included)."""
    url = provider.token_endpoint(shop)
    with session(provider, client) as oauth:
        return _call(
            provider,
            url,
            "refresh token",
            lambda: oauth.refresh_token(url, refresh_token=refresh_token),
            oauth,
        )


def token_secrets(token: Mapping[str, Any]) -> dict[str, str | None]:
    """The connector secrets for ``token``; None marks a field to remove.

    A token without ``expires_in`` (a Shopify offline token) never expires, and
    one without a refresh token cannot be refreshed: stale values of either
    must not survive a new grant.
    """
    access = str(token[ACCESS_TOKEN])
    refresh = token.get(REFRESH_TOKEN)
    expires_at = token.get("expires_at")
    register_secret(access)
    register_secret(refresh)
    return {
        ACCESS_TOKEN: access,
        REFRESH_TOKEN: str(refresh) if refresh else None,
        EXPIRES_AT: (
            dt.datetime.fromtimestamp(int(expires_at), dt.UTC).isoformat(timespec="seconds")
            if expires_at is not None
            else None
        ),
    }


def _call(provider: Provider, url: str, what: str, send: Any, oauth: Any) -> dict[str, Any]:
    from authlib.integrations.base_client import OAuthError

    where = f"POST {path_of(url)}"
    name = provider.display_name
    oauth.register_compliance_hook(
        "access_token_response", lambda response: _check_status(provider, url, response)
    )
    oauth.register_compliance_hook(
        "refresh_token_response", lambda response: _check_status(provider, url, response)
    )
    try:
        token = send()
    except OAuthError as exc:
        raise _refusal(provider, what, exc.error, exc.description) from None
    except requests.HTTPError as exc:  # a refusal without an OAuth error body
        response = exc.response
        status = response.status_code if response is not None else 0
        said = source_message(response).rstrip(".") if response is not None else ""
        if status in (400, 401, 403):
            raise TokenRefused(
                f"{name} refused the {what} (HTTP {status} on {where}): {said}. "
                f"{_advice(provider, None, what)}"
            ) from None
        raise ConnectorError(f"{name} answered HTTP {status} on {where}: {said}.") from None
    except requests.exceptions.SSLError:
        raise ConnectorError(f"The TLS connection to {name}'s token endpoint failed.") from None
    except requests.Timeout:
        raise RetryableError(f"{name} did not answer {where} in time.") from None
    except requests.ConnectionError:
        host = urlsplit(url).hostname
        raise RetryableError(f"{name}'s token endpoint {host} could not be reached.") from None
    except ValueError:
        raise SourceDataError(f"{name} did not answer {where} with a token.") from None
    if not token.get(ACCESS_TOKEN):
        raise SourceDataError(f"{name} answered {where} without an access token.")
    log.debug(
        "%s: %s exchanged (expires in %s s, refresh token %s)",
        provider.id,
        what,
        token.get("expires_in"),
        "included" if token.get(REFRESH_TOKEN) else "absent",
    )
    return dict(token)


def _check_status(provider: Provider, url: str, response: requests.Response) -> Any:
    """Sort failures that are not a refusal before authlib reads the body."""
    status = response.status_code
    if status < 400 or status in (400, 401, 403):
        return response
    said = source_message(response).rstrip(".")
    message = (
        f"{provider.display_name}'s token endpoint failed "
        f"(HTTP {status} on POST {path_of(url)}): {said}."
    )
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        raise RateLimited(message, retry_after=retry_after)
    if status >= 500 or status == 408:
        raise RetryableError(message, retry_after=retry_after)
    raise ConnectorError(message)


def _refusal(
    provider: Provider, what: str, error: str | None, description: str | None
) -> TokenRefused:
    said = mask_text(" ".join(str(description or "").split()))[:300].rstrip(".")
    reason = f"{error}: {said}" if said else str(error or "no reason given")
    return TokenRefused(
        f"{provider.display_name} refused the {what} ({reason}). {_advice(provider, error, what)}",
        error=error,
    )


def _advice(provider: Provider, error: str | None, what: str) -> str:
    if error in ("invalid_client", "unauthorized_client"):
        return f"Check {variable_names(provider.id)}."
    if what == "refresh token":
        return "The sign-in expired or was revoked: reconnect the connector to sign in again."
    return "Start Connect again."
