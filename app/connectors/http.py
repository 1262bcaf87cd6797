"""The HTTP session layer every HTTP connector shares.

:class:`HttpClient` wraps a ``requests`` session with what a connector needs
from any web API: a base URL, timeouts that are always set, an auth object,
retries with exponential backoff and jitter on transient failures (timeouts,
connection errors, 5xx, 429 with its ``Retry-After``), cancellation between
attempts, and errors sorted by consequence (:mod:`app.connectors.errors`)
with the source's own message in them.

Nothing here logs or raises query values, headers or bodies: a URL is shown by
its path only, and every text that reaches a log or an error goes through
:func:`app.redaction.mask_text` as a last guard.

The auth classes at the end cover the common schemes (bearer token, API key in
a header or the query string, OAuth2 client credentials through authlib);
``requests.auth.HTTPBasicAuth`` covers Basic.
"""

from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from app import __version__
from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConnectorError,
    RateLimited,
    RetryableError,
    SourceDataError,
)
from app.redaction import SecretMaskingFilter, mask_text, register_secret

log = logging.getLogger(__name__)

USER_AGENT = f"AccuPredix/{__version__}"
# (connect, read) in seconds. The read timeout bounds each wait for bytes, not
# the whole response.
DEFAULT_TIMEOUT = (10.0, 60.0)
# Longest source message kept in an error, and longest excerpt of a bad body.
MAX_MESSAGE = 300
EXCERPT = 120

# urllib3 logs each request line, query string included, at DEBUG; an API key
# sent as a query parameter would reach any DEBUG log. Mask at the source.
for _name in ("urllib3.connectionpool", "authlib"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, SecretMaskingFilter) for f in _logger.filters):
        _logger.addFilter(SecretMaskingFilter())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a transient failure.

    ``attempts`` counts the first try. Between attempts the client waits
    ``backoff * 2**(n-1)`` seconds (at most ``backoff_max``) plus a random
    jitter of up to ``jitter`` seconds; when the source sends ``Retry-After``
    (429, 503) it waits what that asks instead, at most ``retry_after_cap``.
    """

    attempts: int = 8
    backoff: float = 1.0
    backoff_max: float = 60.0
    jitter: float = 1.0
    retry_after_cap: float = 300.0


# A probe answers an operator who is waiting, so it gives up soon.
PROBE_RETRY = RetryPolicy(
    attempts=2, backoff=0.5, backoff_max=2.0, jitter=0.5, retry_after_cap=10.0
)


@runtime_checkable
class RenewableAuth(Protocol):
    """An auth that can drop its credential so the next request gets a fresh one."""

    def invalidate(self) -> None: ...


def path_of(url: str) -> str:
    """The path of ``url`` for logs and messages: no host, query or fragment."""
    return mask_text(urlsplit(url).path or "/")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def _texts(value: Any) -> Iterator[str]:
    """The human-readable strings in an error member, however it is shaped."""
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, Mapping):
        for key in ("message", "error_description", "description", "detail", "title"):
            if key in value:
                yield from _texts(value[key])
                return
        for key, item in value.items():
            for text in _texts(item):
                yield f"{key}: {text}"
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def source_message(response: requests.Response) -> str:
    """The source's own explanation of a failed response, short and masked.

    JSON bodies are searched for the usual members (``message``,
    ``error_description``, ``detail``, ``error``, ``errors``); a short plain-text
    body is used as it is; HTML pages and the rest fall back to the reason.
    """
    text = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        for key in ("message", "error_description", "detail", "error", "errors", "title"):
            found = list(_texts(body.get(key)))
            if found:
                text = "; ".join(found[:3])
                break
    elif isinstance(body, list):
        text = "; ".join(list(_texts(body))[:3])
    elif body is None:
        raw = (response.text or "").strip()
        if raw and not raw.startswith("<") and len(raw) <= MAX_MESSAGE:
            text = raw.splitlines()[0]
    text = " ".join(text.split()) or (response.reason or "").strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return mask_text(text)


def excerpt(text: str, length: int = EXCERPT) -> str:
    """The start of ``text`` on one line, masked, for messages about bad bodies."""
    flat = " ".join(text.split())
    if len(flat) > length:
        flat = flat[: length - 1] + "…"
    return mask_text(flat)


def decode_json(response: requests.Response, *, source: str | None = None) -> Any:
    """The JSON body of ``response``.

    Raises:
        SourceDataError: the body is not JSON; the message quotes its start.
    """
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type").split(";")[0]
        who = source or urlsplit(response.url).hostname or "The source"
        method = response.request.method if response.request is not None else "GET"
        raise SourceDataError(
            f"{who} answered {method} {path_of(response.url)} with a body that is not JSON "
            f"({kind}): {excerpt(response.text) or 'empty'}"
        ) from None


def next_link(response: requests.Response) -> str | None:
    """The absolute URL of the ``Link: <...>; rel="next"`` header, if any."""
    url = response.links.get("next", {}).get("url")
    return urljoin(response.url, url) if url else None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _timeout_pair(timeout: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(timeout, int | float):
        return float(timeout), float(timeout)
    return float(timeout[0]), float(timeout[1])


def _transport_reason(exc: requests.RequestException, timeout: tuple[float, float]) -> str:
    # The exceptions' own text repeats the URL with its query: describe instead.
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout[0]:g} s"
    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {timeout[1]:g} s"
    text = str(exc).lower()
    if "name or service not known" in text or "nameresolution" in text or "getaddrinfo" in text:
        return "the host name could not be resolved"
    if "refused" in text:
        return "the connection was refused"
    return "the connection failed"


class _Session(requests.Session):
    """A session that also drops credential headers on a redirect to another host."""

    def __init__(self, credential_headers: Iterable[str]) -> None:
        super().__init__()
        self.credential_headers = frozenset(credential_headers)

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        # requests strips Authorization itself; API keys in other headers too.
        if prepared_request.url and self.should_strip_auth(
            response.request.url, prepared_request.url
        ):
            for name in self.credential_headers:
                prepared_request.headers.pop(name, None)
        super().rebuild_auth(prepared_request, response)


class HttpClient:
    """A source's web API: base URL, auth, timeouts, retries, errors by consequence.

    Args:
        base_url: relative paths given to :meth:`request` are appended to it.
        name: how messages name the source (default: the host).
        auth: a ``requests`` auth object; see the classes below.
        headers: sent with every request, after ``User-Agent`` and ``Accept``.
        timeout: seconds, one number or ``(connect, read)``.
        retry: the retry policy for transient failures.
        cancel: when set, the client stops before the next attempt or during a wait.
        credential_headers: header names that carry credentials, dropped on a
            redirect to another host.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str | None = None,
        auth: AuthBase | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        cancel: threading.Event | None = None,
        credential_headers: Iterable[str] = (),
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectorError(f"{base_url!r} is not an http:// or https:// URL.")
        self.base_url = base_url.rstrip("/")
        self.name = name or parts.hostname
        self.timeout = _timeout_pair(timeout)
        self.retry = retry or RetryPolicy()
        self.cancel = cancel if cancel is not None else threading.Event()
        names = set(credential_headers)
        if isinstance(auth, HeaderAuth):
            names.add(auth.header)
        self.session = _Session(names)
        self.session.auth = auth
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.session.headers.update(headers or {})

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()
        close_auth = getattr(self.session.auth, "close", None)
        if close_auth is not None:
            close_auth()

    def url(self, path_or_url: str) -> str:
        """An absolute URL for ``path_or_url``; absolute ones must stay on the base origin.

        Raises:
            ConnectorError: an absolute URL on another scheme, host or port
                (credentials are never sent there).
        """
        if urlsplit(path_or_url).scheme:
            if _origin(path_or_url) != _origin(self.base_url):
                host = urlsplit(path_or_url).hostname
                raise ConnectorError(
                    f"{self.name} pointed to another host ({host}); "
                    "the connector only sends its credentials to the base URL's host."
                )
            return path_or_url
        if not path_or_url:
            return self.base_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def get(
        self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self.request("GET", path, params=params, **kwargs)

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """GET ``path`` and return its decoded JSON body."""
        return decode_json(self.get(path, params=params, **kwargs), source=self.name)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def follow_links(
        self, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[requests.Response]:
        """GET ``path``, then each ``Link: rel="next"`` page; params go on the first only."""
        response = self.get(path, params=params)
        yield response
        while (url := next_link(response)) is not None:
            response = self.get(url)
            yield response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Any = None,
        retry: bool = True,
    ) -> requests.Response:
        """Send a request, retrying transient failures; returns a 2xx/3xx response.

        Pass ``retry=False`` for a request that must not be sent twice.

        Raises:
            AuthError: 401 or 403.
            RateLimited: still 429 after the last attempt.
            RetryableError: still failing transiently after the last attempt.
            ConnectorError: any other 4xx, or a URL off the base origin.
            Cancelled: ``cancel`` was set.
        """
        url = self.url(path)
        call = {"params": params, "headers": headers, "json": json, "data": data}
        started = time.monotonic()
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts if retry else 1),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=self._sleep,
            before_sleep=self._log_retry,
        )
        try:
            return retrying(self._send, method, url, call)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            if not isinstance(last, RetryableError):  # only these are retried
                raise
            attempts = exc.last_attempt.attempt_number
            elapsed = time.monotonic() - started
            message = (
                f"{last.message} Gave up after {attempts} attempt{'s' if attempts != 1 else ''} "
                f"over {elapsed:.1f} s."
            )
            error_class = RateLimited if isinstance(last, RateLimited) else RetryableError
            raise error_class(message, retry_after=last.retry_after, detail=last.detail) from None

    # -- one attempt ------------------------------------------------------

    def _send(self, method: str, url: str, call: dict[str, Any]) -> requests.Response:
        renewed = False
        while True:
            if self.cancel.is_set():
                raise Cancelled("Cancelled by the operator.")
            response = self._send_once(method, url, call)
            auth = self.session.auth
            if response.status_code == 401 and not renewed and isinstance(auth, RenewableAuth):
                # An access token may die before its stated expiry; one fresh try.
                log.debug("%s %s: 401, renewing the credential once", method, path_of(url))
                auth.invalidate()
                renewed = True
                continue
            self._raise_for_status(method, url, response)
            return response

    def _send_once(self, method: str, url: str, call: dict[str, Any]) -> requests.Response:
        started = time.monotonic()
        try:
            response = self.session.request(method, url, timeout=self.timeout, **call)
        except (requests.Timeout, requests.ConnectionError) as exc:
            if isinstance(exc, requests.exceptions.SSLError):
                raise ConnectorError(
                    f"The TLS connection to {self.name} failed (certificate or protocol).",
                    detail=type(exc).__name__,
                ) from None
            reason = _transport_reason(exc, self.timeout)
            log.debug(
                "%s %s failed after %.0f ms: %s (%s)",
                method,
                path_of(url),
                (time.monotonic() - started) * 1000,
                reason,
                type(exc).__name__,
            )
            raise RetryableError(
                f"{self.name}: {method} {path_of(url)} failed: {reason}.",
                detail=type(exc).__name__,
            ) from None
        except requests.exceptions.ChunkedEncodingError as exc:
            raise RetryableError(
                f"{self.name}: {method} {path_of(url)} failed: the response was cut off.",
                detail=type(exc).__name__,
            ) from None
        except requests.RequestException as exc:
            raise ConnectorError(
                f"{self.name}: {method} {path_of(url)} could not be sent ({type(exc).__name__}).",
            ) from None
        log.debug(
            "%s %s -> %s in %.0f ms",
            method,
            path_of(url),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        where = f"{method} {path_of(url)}"
        said = source_message(response).rstrip(".")
        if status in (401, 403):
            raise AuthError(
                f"{self.name} refused the credentials (HTTP {status} on {where}): {said}."
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(
                f"{self.name} is rate limiting requests (HTTP 429 on {where}): {said}.",
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            raise RetryableError(
                f"{self.name} failed (HTTP {status} on {where}): {said}.",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        raise ConnectorError(f"{self.name} answered HTTP {status} on {where}: {said}.")

    # -- waiting ----------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return min(error.retry_after, self.retry.retry_after_cap)
        backoff = wait_exponential(multiplier=self.retry.backoff, max=self.retry.backoff_max)
        return backoff(state) + wait_random(0, self.retry.jitter)(state)

    def _sleep(self, seconds: float) -> None:
        # Waiting on the event lets a cancel end the wait at once.
        if self.cancel.wait(seconds):
            raise Cancelled("Cancelled by the operator.")

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.info(
            "%s Retrying in %.1f s (attempt %d of %d).",
            error,
            wait,
            state.attempt_number + 1,
            self.retry.attempts,
        )


# -- auth ----------------------------------------------------------------


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class HeaderAuth(AuthBase):
    """An API key in a named header, such as ``X-API-Key``."""

    def __init__(self, header: str, value: str) -> None:
        register_secret(value)
        self.header = header
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.header] = self.value
        return request


def without_param(url: str, name: str) -> str:
    """``url`` without the query parameter ``name`` (to keep a key out of stored URLs)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode(query)))


class QueryParamAuth(AuthBase):
    """An API key as a query parameter, replacing any value already in the URL."""

    def __init__(self, param: str, value: str) -> None:
        register_secret(value)
        self.param = param
        self.value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.prepare_url(without_param(request.url or "", self.param), {self.param: self.value})
        return request


class OAuth2ClientCredentials(AuthBase):
    """A bearer token from an OAuth2 client-credentials grant, renewed before it expires.

    authlib fetches and parses the token; this class asks for a new one when the
    current one is within ``leeway`` seconds of its ``expires_in``, or after
    :meth:`invalidate` (the client calls it on a 401).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        leeway: float = 30.0,
    ) -> None:
        # authlib is loaded here, by the connectors that use it: it is slow to import.
        from authlib.integrations.requests_client import OAuth2Session

        register_secret(client_secret)
        self.token_url = token_url
        self.leeway = leeway
        self._timeout = _timeout_pair(timeout)
        self._lock = threading.Lock()
        self._oauth = OAuth2Session(
            client_id,
            client_secret,
            scope=scope or None,
            token_endpoint=token_url,
            grant_type="client_credentials",
            default_timeout=self._timeout,
        )
        self._oauth.headers["User-Agent"] = USER_AGENT
        self._oauth.register_compliance_hook("access_token_response", self._check_response)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._access_token()}"
        return request

    def invalidate(self) -> None:
        with self._lock:
            self._oauth.token = None

    def close(self) -> None:
        self._oauth.close()

    def _access_token(self) -> str:
        with self._lock:
            token = self._oauth.token
            expires_at = token.get("expires_at") if token else None
            if not token or (expires_at is not None and expires_at - self.leeway <= time.time()):
                token = self._fetch()
            return str(token["access_token"])

    def _check_response(self, response: requests.Response) -> requests.Response:
        """Sort token endpoint failures that are not a refusal before authlib reads them."""
        status = response.status_code
        if status < 400 or status in (400, 401, 403):
            return response
        where = f"POST {path_of(self.token_url)}"
        host = urlsplit(self.token_url).hostname
        said = source_message(response).rstrip(".")
        message = f"The token endpoint {host} failed (HTTP {status} on {where}): {said}."
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(message, retry_after=retry_after)
        if status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableError(message, retry_after=retry_after)
        raise ConnectorError(message)

    def _fetch(self) -> Mapping[str, Any]:
        from authlib.integrations.base_client import OAuthError

        where = f"POST {path_of(self.token_url)}"
        host = urlsplit(self.token_url).hostname
        try:
            token = self._oauth.fetch_token(self.token_url, grant_type="client_credentials")
        except OAuthError as exc:
            said = mask_text(exc.description or exc.error or "no reason given").rstrip(".")
            raise AuthError(
                f"The token endpoint {host} refused the client credentials ({where}): {said}."
            ) from None
        except requests.HTTPError as exc:  # a refusal without a JSON error
            status = exc.response.status_code if exc.response is not None else 0
            said = source_message(exc.response).rstrip(".") if exc.response is not None else ""
            raise AuthError(
                f"The token endpoint {host} refused the client credentials "
                f"(HTTP {status} on {where}): {said}."
            ) from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            if isinstance(exc, requests.exceptions.SSLError):
                raise ConnectorError(
                    f"The TLS connection to the token endpoint {host} failed."
                ) from None
            reason = _transport_reason(exc, self._timeout)
            raise RetryableError(
                f"The token endpoint {host} failed ({where}): {reason}.",
                detail=type(exc).__name__,
            ) from None
        except ValueError:
            raise SourceDataError(
                f"The token endpoint {host} did not answer with a token ({where})."
            ) from None
        if not token.get("access_token"):
            raise SourceDataError(f"The token endpoint {host} answered without an access_token.")
        register_secret(str(token["access_token"]))
        log.debug(
            "fetched an OAuth2 access token from %s (expires in %s s)",
            host,
            token.get("expires_in"),
        )
        return token
