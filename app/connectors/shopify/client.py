"""The Admin GraphQL API: the access token, cost-based throttling, errors by consequence.

Shopify limits GraphQL calls by calculated query cost with a leaky bucket: a
query runs only when the bucket holds its *requested* cost, and every answer
reports the bucket in ``extensions.cost.throttleStatus``. The client remembers
that status and the requested cost of each named operation, and before sending
an operation again it waits exactly the time the restore rate needs to refill
what is missing. A ``THROTTLED`` answer (HTTP 200) is waited out the same way
and sent again; HTTP 429, 5xx and timeouts are retried with backoff by
:class:`~app.connectors.http.HttpClient`. Neither restarts the sync.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.auth import AuthBase

from app.connectors.base import SourceConfig
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConnectorError,
    RateLimited,
    RetryableError,
    SourceDataError,
)
from app.connectors.http import HttpClient, RetryPolicy, decode_json, path_of, source_message
from app.connectors.shopify import settings as shopify_settings
from app.redaction import mask_text, register_secret

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 - a header name
OAUTH_PROVIDER = "shopify"
# THROTTLED answers waited out in a row before the call gives up.
MAX_THROTTLED = 40
# What an operation is assumed to cost before Shopify has said.
FIRST_GUESS_COST = 50.0
_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)")


class QueryTooCostly(ConnectorError):
    """Shopify refused a query whose requested cost exceeds the single-query limit."""


@dataclass(frozen=True)
class ThrottleStatus:
    """The cost bucket as Shopify last reported it, and when (``time.monotonic``)."""

    maximum: float
    available: float
    restore_rate: float
    observed: float

    def available_at(self, now: float) -> float:
        """Points in the bucket at ``now``, refilled at the restore rate since it was seen."""
        refilled = self.available + max(0.0, now - self.observed) * self.restore_rate
        return min(self.maximum, refilled)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds from ``now`` until the bucket holds ``cost`` points (at most all of it)."""
        needed = min(cost, self.maximum) - self.available_at(now)
        if needed <= 0 or self.restore_rate <= 0:
            return 0.0
        return needed / self.restore_rate


def throttle_status(body: Mapping[str, Any], now: float) -> tuple[ThrottleStatus | None, float]:
    """The bucket and the requested cost reported in a response body's ``extensions``."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    requested = cost.get("requestedQueryCost")
    try:
        found = ThrottleStatus(
            maximum=float(status["maximumAvailable"]),
            available=float(status["currentlyAvailable"]),
            restore_rate=float(status["restoreRate"]),
            observed=now,
        )
    except (KeyError, TypeError, ValueError):
        found = None
    try:
        requested_cost = float(requested)
    except (TypeError, ValueError):
        requested_cost = 0.0
    return found, requested_cost


# -- the access token ---------------------------------------------------------


class AccessTokenAuth(AuthBase):
    """The Admin API access token in ``X-Shopify-Access-Token``."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[TOKEN_HEADER] = self.token
        return request


def token_auth(config: SourceConfig) -> AuthBase:
    """How requests of ``config`` authenticate; raises AuthError when there is no token."""
    token = config.get("access_token")
    if not token:
        raise AuthError(
            "Shopify: no Admin API access token. Paste the custom app's token (shpat_...) "
            "or sign in with Connect."
        )
    register_secret(str(token))
    register_secret(config.get("refresh_token"))
    if config.get("refresh_token"):
        # An expiring token from Connect: refreshed before expiry and once after a 401.
        from app.oauth.tokens import OAuthBearer

        return OAuthBearer(config, OAUTH_PROVIDER, header=TOKEN_HEADER, scheme=None)
    return AccessTokenAuth(str(token))


# -- HTTP ---------------------------------------------------------------------


class ShopifyHttp(HttpClient):
    """An HttpClient that names what Shopify's shop-level statuses mean."""

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        where = f"{method} {path_of(url)}"
        said = source_message(response).rstrip(".")
        if status == 402:
            raise ConnectorError(
                f"The shop {self.name} is frozen (HTTP 402 on {where}): its owner must settle "
                f"the Shopify bill before the API answers again. Shopify said: {said}."
            )
        if status == 423:
            raise ConnectorError(
                f"The shop {self.name} is locked (HTTP 423 on {where}); Shopify support can "
                f"say why. Shopify said: {said}."
            )
        if status == 404:
            raise ConnectorError(
                f"Shopify answered 404 on {where}: check the shop domain ({self.name}) and the "
                "API version (an unreleased or retired version is not found)."
            )
        super()._raise_for_status(method, url, response)


# -- GraphQL ------------------------------------------------------------------


class AdminClient:
    """Sends GraphQL documents to one shop's Admin API, throttled by cost.

    Args:
        http: the shop's HTTP client (base URL ``.../admin/api/<version>``).
        clock: a monotonic clock, for the bucket's refill.
        sleep: waits the given seconds; by default on the cancel event, so that
            a cancel ends a wait at once.
    """

    def __init__(
        self,
        http: HttpClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.http = http
        self.clock = clock
        self.sleep = sleep or self.wait_on_cancel
        self.throttle: ThrottleStatus | None = None
        self.costs: dict[str, float] = {}
        # Every wait this client computed, in seconds, for the log and for tests.
        self.waits: list[float] = []

    @property
    def shop(self) -> str:
        return self.http.name

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of ``document`` run with ``variables``.

        Raises:
            AuthError: refused token, or a scope the token lacks (``ACCESS_DENIED``).
            QueryTooCostly: the query's requested cost is over Shopify's limit.
            RateLimited: still throttled after many waits, or 429 after every retry.
            RetryableError, ConnectorError, SourceDataError: see HttpClient.
        """
        name = operation_name(document)
        payload = {"query": document, "variables": dict(variables or {})}
        throttled = 0
        at_least = 0.0
        while True:
            self._wait_for_room(name, at_least)
            response = self.http.post("graphql.json", json=payload)
            body = decode_json(response, source=f"Shopify ({self.shop})")
            if not isinstance(body, dict):
                raise SourceDataError(f"Shopify ({self.shop}) answered {name} with no JSON object.")
            self._observe(name, body)
            errors = body.get("errors")
            if not errors:
                data = body.get("data")
                if not isinstance(data, dict):
                    raise SourceDataError(f"Shopify ({self.shop}) answered {name} without data.")
                return data
            if _codes(errors) == {"THROTTLED"}:
                throttled += 1
                if throttled > MAX_THROTTLED:
                    raise RateLimited(
                        f"Shopify ({self.shop}) kept throttling {name} after {MAX_THROTTLED} waits."
                    )
                log.info("Shopify %s throttled %s; waiting for the cost bucket", self.shop, name)
                # The bucket may refill a little later than reported: wait a tick at least.
                rate = self.throttle.restore_rate if self.throttle is not None else 1.0
                at_least = 1.0 / max(rate, 1.0)
                continue
            raise self._error(name, errors)

    # -- throttling ---------------------------------------------------------

    def _observe(self, name: str, body: Mapping[str, Any]) -> None:
        status, requested = throttle_status(body, self.clock())
        if status is not None:
            self.throttle = status
        if requested > 0:
            self.costs[name] = requested

    def _wait_for_room(self, name: str, at_least: float = 0.0) -> None:
        """Wait until the bucket holds what ``name`` cost last time (and ``at_least``)."""
        cost = self.costs.get(name, FIRST_GUESS_COST)
        wait = at_least
        if self.throttle is not None:
            wait = max(wait, self.throttle.wait_for(cost, self.clock()))
        if wait > 0:
            log.debug(
                "Shopify %s: %s needs %.0f points; waiting %.2f s", self.shop, name, cost, wait
            )
            self._pause(wait)

    def _pause(self, seconds: float) -> None:
        self.waits.append(seconds)
        del self.waits[:-1000]
        self.sleep(seconds)

    def wait_on_cancel(self, seconds: float) -> None:
        """Sleep ``seconds``, ending at once with Cancelled when the pull is cancelled."""
        if self.http.cancel.wait(seconds):
            raise Cancelled("Cancelled by the operator.")

    # -- errors -------------------------------------------------------------

    def _error(self, name: str, errors: Any) -> ConnectorError:
        if not isinstance(errors, list):
            return ConnectorError(f"Shopify ({self.shop}) refused {name}: {_texts(errors)}.")
        codes = _codes(errors)
        said = _texts(errors)
        if "ACCESS_DENIED" in codes:
            scope = _required_scope(errors)
            need = f"; the token needs the {scope} scope" if scope else ""
            return AuthError(f"Shopify ({self.shop}) denied access to {name}{need}: {said}.")
        if "MAX_COST_EXCEEDED" in codes:
            return QueryTooCostly(f"Shopify ({self.shop}) found {name} too costly: {said}.")
        if codes & {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"}:
            return RetryableError(f"Shopify ({self.shop}) failed on {name}: {said}.")
        return ConnectorError(f"Shopify ({self.shop}) refused {name}: {said}.")


def operation_name(document: str) -> str:
    """The operation's name in ``document`` (``anonymous`` when it has none)."""
    match = _OPERATION.match(document)
    return match.group(1) if match else "anonymous"


def _codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    return {
        str((error.get("extensions") or {}).get("code") or "")
        for error in errors
        if isinstance(error, Mapping)
    } - {""}


def _texts(errors: Any) -> str:
    if isinstance(errors, str):
        found = [errors]
    elif isinstance(errors, list):
        found = [str(e.get("message", "")) for e in errors if isinstance(e, Mapping)]
    else:
        found = [str(errors)]
    text = "; ".join(" ".join(part.split()) for part in found[:3] if part.strip())
    text = text.rstrip(".") or "no reason given"
    return mask_text(text[:300])


_SCOPE = re.compile(r"`?(\b(?:read|write)_[a-z_]+)`?")


def _required_scope(errors: list[Any]) -> str | None:
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        extensions = error.get("extensions") or {}
        for text in (str(extensions.get("requiredAccess") or ""), str(error.get("message", ""))):
            match = _SCOPE.search(text)
            if match:
                return match.group(1)
    return None


# -- opening a client ---------------------------------------------------------


def connect(
    config: SourceConfig,
    *,
    retry: RetryPolicy,
    timeout: float | tuple[float, float] = (10.0, 60.0),
) -> AdminClient:
    """An AdminClient for the shop of ``config``; raises ConfigurationError or AuthError."""
    values = shopify_settings.validate(config.values)
    shop = values["shop"]
    http = ShopifyHttp(
        shopify_settings.admin_url(shop, values["api_version"]),
        name=shop,
        auth=token_auth(config),
        headers={"Content-Type": "application/json"},
        timeout=timeout,
        retry=retry,
        cancel=config.cancel,
        credential_headers=(TOKEN_HEADER,),
    )
    return AdminClient(http)
