"""The QuickBooks Online Accounting API as the preset uses it: hosts, auth, faults, queries.

Facts relied on (developer.intuit.com, "Query operations and syntax", "Change
data capture operation", "Minor versions", error codes; Intuit's blog on
throttling):

- every call is ``/v3/company/{realmId}/...`` on ``quickbooks.api.intuit.com``
  (production) or ``sandbox-quickbooks.api.intuit.com`` (sandbox companies);
- ``minorversion`` is pinned: since 2025-08-01 versions 1-74 are ignored and 75
  is what a request without one gets, so 75 is sent explicitly and a later
  minor version is a deliberate change here;
- errors come as a ``Fault`` with ``Error`` items (``Message``, ``Detail``,
  ``code``); a 401 for an expired or revoked token has been seen with the
  members in lower case (``fault``/``error``/``message``), so both are read;
- 429 ``ThrottleExceeded`` (errorCode 003001) arrives without ``Retry-After``:
  the client's exponential backoff paces the retries (the limits are 500
  requests a minute and 10 at once per company);
- every response carries an ``intuit_tid`` header, which Intuit support asks
  for: it goes into error messages.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests
from requests.auth import AuthBase

from app.connectors.base import SourceConfig
from app.connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    RetryableError,
    SourceDataError,
)
from app.connectors.http import HttpClient, decode_json, parse_retry_after, path_of
from app.redaction import mask_text

log = logging.getLogger(__name__)

PROVIDER = "quickbooks"
# API hosts by the connector's environment setting (tests point them at a fake).
HOSTS: dict[str, str] = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}
MINOR_VERSION = "75"
SOURCE = "QuickBooks"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"

# ``message=ThrottleExceeded; errorCode=003001; statusCode=429``
_CODED_MESSAGE = re.compile(r"message=([^;]+);\s*errorCode=(\w+)")


# -- tokens ------------------------------------------------------------------


def token_auth(config: SourceConfig) -> AuthBase:
    """``Authorization: Bearer`` from the connector's grant (:mod:`app.oauth.tokens`).

    The token is refreshed first when it expires within minutes; after a 401,
    :class:`HttpClient` invalidates it and sends the request once more with a
    refreshed token, and a second 401 is an :class:`AuthError`.
    """
    # Imported here: the OAuth module brings the store and authlib, which the
    # sync's worker process should not load before it needs them.
    from app.oauth.tokens import OAuthBearer

    return OAuthBearer(config, PROVIDER)


# -- faults ------------------------------------------------------------------


def _member(mapping: Mapping[str, Any], name: str) -> Any:
    """``mapping[name]`` whether the source wrote it capitalised or not."""
    if name in mapping:
        return mapping[name]
    return mapping.get(name[:1].lower() + name[1:])


def fault_text(body: Any, *, with_detail: bool = True) -> str | None:
    """The first error of a ``Fault`` body in a few words, or None when there is none.

    ``message=AuthenticationFailed; errorCode=003200; ...`` reads as
    ``AuthenticationFailed (error 003200)``. ``Detail`` is left out where it may
    quote a credential (a 401's detail quotes the start of the refused token).
    """
    if not isinstance(body, Mapping):
        return None
    fault = _member(body, "Fault")
    if not isinstance(fault, Mapping):
        return None
    errors = _member(fault, "Error")
    first = errors[0] if isinstance(errors, list) and errors else None
    if not isinstance(first, Mapping):
        kind = _member(fault, "type")
        return str(kind) if kind else None
    message = str(_member(first, "Message") or "").strip()
    code = str(first.get("code") or "").strip()
    coded = _CODED_MESSAGE.search(message)
    if coded:
        message, code = coded.group(1).strip(), coded.group(2)
    text = message or "no message"
    detail = str(_member(first, "Detail") or "").strip()
    if with_detail and detail and detail != message:
        text = f"{text}: {detail}"
    if code:
        text = f"{text} (error {code})"
    return mask_text(" ".join(text.split()))[:300]


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class QuickBooksClient(HttpClient):
    """:class:`HttpClient` that reads QuickBooks' faults into the operator's message."""

    def get_body(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path`` with the pinned minor version; the JSON body, numbers as Decimal.

        Raises:
            ConnectorError: a ``Fault`` in a 200 answer (or an error status, as
                :meth:`HttpClient.request` sorts them).
            SourceDataError: the body is not a JSON object.
        """
        response = self.get(path, params={**(params or {}), "minorversion": MINOR_VERSION})
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            body = decode_json(response, source=self.name)  # not JSON: raises with an excerpt
        if not isinstance(body, dict):
            raise SourceDataError(
                f"{self.name} answered GET {path_of(response.url)} with JSON that is not an object."
            )
        fault = fault_text(body)
        if fault is not None:
            raise ConnectorError(
                f"{self.name} reported an error on GET {path_of(response.url)}: {fault}."
                + _tid(response)
            )
        return body

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"{method} {path_of(url)}"
        tid = _tid(response)
        said = fault_text(_body(response), with_detail=status not in (401, 403))
        said = said or response.reason or f"HTTP {status}"
        if status == 401:
            raise AuthError(
                f"{self.name} refused the access token (HTTP 401 on {where}): {said}. "
                "Reconnect the connector: sign in with Connect again, or paste new tokens." + tid
            )
        if status == 403:
            raise AuthError(
                f"{self.name} refused access to this company's accounting data "
                f"(HTTP 403 on {where}): {said}. Reconnect with a user who may see the "
                f"company's accounting data and allow the Accounting scope ({ACCOUNTING_SCOPE})."
                + tid
            )
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            raise RateLimited(
                f"{self.name} is throttling requests (HTTP 429 on {where}): {said}.",
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            raise RetryableError(
                f"{self.name} failed (HTTP {status} on {where}): {said}." + tid,
                retry_after=retry_after,
            )
        raise ConnectorError(f"{self.name} answered HTTP {status} on {where}: {said}." + tid)


def _tid(response: requests.Response) -> str:
    tid = response.headers.get("intuit_tid")
    return f" (intuit_tid {mask_text(tid)})" if tid else ""


# -- queries -----------------------------------------------------------------


def quote(value: str) -> str:
    """``value`` as a query literal: in single quotes, ``'`` and ``\\`` escaped by a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def select(
    entity: str,
    *,
    updated_from: str | None,
    start: int,
    size: int,
    descending: bool = False,
) -> str:
    """``SELECT * FROM entity`` in last-updated order from ``updated_from``, one page of it.

    ``start`` is 1-based, as ``STARTPOSITION`` is.
    """
    where = f" WHERE Metadata.LastUpdatedTime >= {quote(updated_from)}" if updated_from else ""
    order = " DESC" if descending else ""
    # Not SQL: QuickBooks' query language, whose one literal is quoted above.
    return (
        f"SELECT * FROM {entity}{where} ORDERBY Metadata.LastUpdatedTime{order} "  # noqa: S608
        f"STARTPOSITION {start} MAXRESULTS {size}"
    )


def company_path(realm_id: str, *parts: str) -> str:
    """``/v3/company/{realmId}/...`` with each part kept to one path segment."""
    segments = [realm_id, *parts]
    return "/v3/company/" + "/".join(requests.utils.quote(s, safe="") for s in segments)
