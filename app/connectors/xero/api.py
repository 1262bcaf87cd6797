"""Calls to Xero: the Accounting API of one organisation, and the connections list.

Every Accounting API call carries ``Authorization: Bearer`` (the connector's
OAuth access token, refreshed by :mod:`app.oauth.tokens`) and
``xero-tenant-id`` (the organisation). A 401 is answered once with a refresh
and the same call again (an access token may die before its stated expiry);
a second 401 means the grant is gone. A 403 means the organisation is no
longer connected to the app. Both make the connector ``needs_reconnect``.

The hosts are module constants so that tests can point them at a fake.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests
from requests.auth import AuthBase

from app.connectors.base import SourceConfig
from app.connectors.errors import AuthError, ConnectorError, RetryableError, SourceDataError
from app.connectors.http import (
    DEFAULT_TIMEOUT,
    MAX_MESSAGE,
    HttpClient,
    RetryPolicy,
    decode_json,
    path_of,
    source_message,
)
from app.connectors.xero.quota import DailyLimitReached, Quota
from app.redaction import mask_text, register_secret

log = logging.getLogger(__name__)

PROVIDER = "xero"
API_URL = "https://api.xero.com/api.xro/2.0"
CONNECTIONS_URL = "https://api.xero.com/connections"
TENANT_HEADER = "xero-tenant-id"
# The kind of tenant the Accounting API serves (practices are another product).
ORGANISATION = "ORGANISATION"


# -- tokens ------------------------------------------------------------------


def token_auth(config: SourceConfig) -> AuthBase:
    """``Authorization: Bearer`` from the connector's grant, renewed once after a 401.

    :mod:`app.oauth.tokens` refreshes the access token before it expires and
    keeps the rotated refresh token; the HTTP client asks for a fresh token
    when Xero answers 401 and sends the call once more.
    """
    from app.oauth.tokens import OAuthBearer

    return OAuthBearer(config, PROVIDER)


# -- the Accounting API ------------------------------------------------------


def _said(response: requests.Response) -> str | None:
    """Xero's own words in an error body: ``Detail`` of a problem, ``Message`` of a fault."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key in ("Detail", "Message", "Title"):
        if isinstance(body.get(key), str) and body[key].strip():
            return mask_text(" ".join(body[key].split())[:MAX_MESSAGE])
    return None


class Refusals:
    """A response hook keeping Xero's explanation of the last failed call.

    Xero's bodies say ``Detail`` and ``Message`` (capitalised), which the
    generic HTTP client does not look for; this puts them in the messages.
    """

    def __init__(self) -> None:
        self.status: int | None = None
        self.said: str | None = None

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.status_code >= 400:
            self.status, self.said = response.status_code, _said(response)
        return response


class XeroApi:
    """One organisation's Accounting API (or, without a tenant, the connections list).

    Args:
        config: the connector's settings and grant.
        tenant_id: the organisation; None only for :meth:`connections`.
        retry: the retry policy of transient failures (429 included).
        quota: the call limits, read from every response.
    """

    def __init__(
        self,
        config: SourceConfig,
        *,
        tenant_id: str | None,
        retry: RetryPolicy,
        quota: Quota,
    ) -> None:
        self.config = config
        self.tenant_id = tenant_id
        self.quota = quota
        for name in ("access_token", "refresh_token"):
            register_secret(config.get(name))  # pasted ones too, not only refreshed ones
        self.client = HttpClient(
            API_URL,
            name="Xero",
            auth=token_auth(config),
            headers={TENANT_HEADER: tenant_id} if tenant_id else None,
            retry=retry,
            cancel=config.cancel,
        )
        self.refusals = Refusals()
        self.client.session.hooks["response"].extend([self.refusals, quota])

    def __enter__(self) -> XeroApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        modified_since: str | None = None,
    ) -> dict[str, Any]:
        """GET an Accounting API resource and return its JSON object.

        Raises:
            AuthError: the grant is gone (401 after a refresh) or the
                organisation is not connected (403).
            RateLimited: the day's calls are used up, or 429 persisted.
            ConnectorError: any other failure, with Xero's message.
        """
        if self.tenant_id is None:
            raise ConnectorError("Xero: no organisation is chosen for this call.")
        self.quota.before_call(self.config.cancel)
        headers = {"If-Modified-Since": modified_since} if modified_since else None
        try:
            response = self.client.get(path, params=params, headers=headers)
        except DailyLimitReached as reached:
            raise self.quota.as_error(reached) from None
        except AuthError as exc:
            raise self._refused(exc) from None
        except RetryableError:
            raise
        except ConnectorError as exc:
            raise self._explained(exc) from None
        body = decode_json(response, source="Xero")
        if not isinstance(body, dict):
            raise SourceDataError(
                f"Xero answered GET {path_of(response.url)} with JSON that is not an object."
            )
        return body

    def _explained(self, exc: ConnectorError) -> ConnectorError:
        said = self.refusals.said
        if not said or said in exc.message:
            return exc
        return type(exc)(f"{exc.message.rstrip('.')} Xero says: {said}.")

    def _refused(self, exc: AuthError) -> AuthError:
        said = f" Xero says: {self.refusals.said}." if self.refusals.said else ""
        if self.refusals.status == 403:
            return AuthError(
                f"{exc.message}{said} The organisation's connection to AccuPredix was removed, "
                "or the user who connected it lost access: reconnect Xero and choose the "
                "organisation again."
            )
        return AuthError(
            f"{exc.message}{said} The sign-in was revoked or lacks the scopes to read "
            "invoices: reconnect Xero."
        )

    def organisation(self) -> dict[str, Any]:
        """The organisation's details (``Name``, ``BaseCurrency``...)."""
        body = self.get("Organisation")
        found = body.get("Organisations")
        if not isinstance(found, list) or not found or not isinstance(found[0], dict):
            raise SourceDataError("Xero answered GET /Organisation without an organisation.")
        return found[0]

    def connections(self) -> list[dict[str, Any]]:
        """The tenants this grant may read (``tenantId``, ``tenantName``, ``tenantType``)."""
        try:
            response = self.client.get(CONNECTIONS_URL)
        except DailyLimitReached as reached:
            raise self.quota.as_error(reached) from None
        except AuthError as exc:
            raise self._refused(exc) from None
        return _connection_list(decode_json(response, source="Xero"))


def _connection_list(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise SourceDataError("Xero answered GET /connections with something other than a list.")
    return [item for item in body if item.get("tenantId")]


def organisations(connections: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The organisations among ``connections``, as ``{"id", "name"}``, in Xero's order."""
    return [
        {"id": str(item["tenantId"]), "name": str(item.get("tenantName") or item["tenantId"])}
        for item in connections
        if str(item.get("tenantType") or ORGANISATION).upper() == ORGANISATION
    ]


def connections_with_token(http: requests.Session, access_token: str) -> list[dict[str, Any]]:
    """GET the connections list with a token just issued (during the OAuth callback).

    Raises:
        AuthError: Xero refused the token.
        RetryableError, ConnectorError: as :class:`HttpClient` sorts failures.
    """
    register_secret(access_token)
    try:
        response = http.get(
            CONNECTIONS_URL,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=DEFAULT_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise RetryableError(
            f"Xero: GET /connections failed ({type(exc).__name__}); try connecting again."
        ) from None
    with response:
        if response.status_code in (401, 403):
            raise AuthError(
                f"Xero refused the new sign-in (HTTP {response.status_code} on GET "
                f"/connections): {source_message(response)}"
            )
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(
                f"Xero failed (HTTP {response.status_code} on GET /connections): "
                f"{source_message(response)}; try connecting again."
            )
        if response.status_code >= 400:
            raise ConnectorError(
                f"Xero answered HTTP {response.status_code} on GET /connections: "
                f"{source_message(response)}"
            )
        return _connection_list(decode_json(response, source="Xero"))
