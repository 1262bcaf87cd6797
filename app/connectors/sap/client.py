"""The HTTP client with SAP's own error messages, and the TLS settings of on-prem hosts.

:class:`SapHttp` is :class:`app.connectors.http.HttpClient` whose failures
quote SAP's error body (``error.message.value`` and ``error.code``) instead of
the generic reading of it, sorted by the same consequences: 401 and 403
re-authorise, 408, 429 and 5xx retry, other 4xx fail as :class:`SapError`,
which keeps the status and code for a preset to explain.

TLS: on-prem SAP hosts (the Business One Service Layer in particular, which
installs with a self-signed certificate) often present a certificate that no
public authority signed. :func:`configure_tls` trusts a given CA file, or,
when the operator turns verification off, accepts any certificate without the
per-request warning; :func:`explain_tls` turns a failed handshake into a
message that says what to do.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from app.connectors.errors import AuthError, ConnectorError, RateLimited, RetryableError
from app.connectors.http import HttpClient, parse_retry_after, path_of, source_message
from app.connectors.sap.odata import sap_error

log = logging.getLogger(__name__)


class SapError(ConnectorError):
    """A final refusal other than of the credentials (400, 404...), with SAP's code."""

    def __init__(self, message: str, *, status: int, code: str | None, said: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        # SAP's message alone, for a preset to quote in its own sentence.
        self.said = said


class SapHttp(HttpClient):
    """An SAP service's HTTP client: SAP's messages in every error.

    ``refusal_hint`` is appended to the message of a 401 or 403, saying which
    setting or authorisation to check.
    """

    refusal_hint: str = ""

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        code, said = sap_error(response)
        said = (said or source_message(response)).rstrip(".")
        with_code = f"{said} ({code})" if code else said
        where = f"{method} {path_of(url)}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status in (401, 403):
            hint = f" {self.refusal_hint}" if self.refusal_hint else ""
            raise AuthError(
                f"{self.name} refused the request (HTTP {status} on {where}): {with_code}.{hint}"
            )
        if status == 429:
            raise RateLimited(
                f"{self.name} is rate limiting requests (HTTP 429 on {where}): {with_code}.",
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            raise RetryableError(
                f"{self.name} failed (HTTP {status} on {where}): {with_code}.",
                retry_after=retry_after,
            )
        raise SapError(
            f"{self.name} answered HTTP {status} on {where}: {with_code}.",
            status=status,
            code=code,
            said=said,
        )


# -- TLS ---------------------------------------------------------------------


class _PinnedTlsAdapter(HTTPAdapter):
    """An adapter that verifies TLS peers as the connector's settings say, whatever else does.

    ``Session.verify`` is not enough: requests lets ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` in the environment override it (a known requests
    behaviour, kept for compatibility), so the setting is applied here, where
    every send passes.

    With verification off urllib3 warns on every request; the operator was
    warned once, when the client was set up, so the warning is silenced here,
    around the send only. ``catch_warnings`` swaps the process's filter list,
    which another thread changing its filters at the same moment could lose:
    none here does.
    """

    def __init__(self, verify: bool | str) -> None:
        super().__init__()
        self.pinned = verify

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self.pinned
        if self.pinned is not False:
            return super().send(request, **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureRequestWarning)
            return super().send(request, **kwargs)


def check_ca_file(path: str) -> str | None:
    """Why a CA certificate file cannot be used, or None."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if "-----BEGIN CERTIFICATE-----" not in text:
        return "is not a PEM certificate file (no BEGIN CERTIFICATE line)"
    return None


def configure_tls(
    client: HttpClient, *, verify: bool, ca_file: str | None, announce: bool = True
) -> None:
    """Verify ``client``'s TLS peers against ``ca_file`` (or the system's CAs), or not at all.

    With verification off, a warning is logged unless ``announce`` is false (for
    a second client of the same source).
    """
    if verify and not ca_file:
        return
    pinned: bool | str = ca_file if verify and ca_file else False
    client.session.verify = pinned
    client.session.mount("https://", _PinnedTlsAdapter(pinned))
    if not verify and announce:
        log.warning(
            "%s: TLS certificate verification is turned off; the connection is encrypted "
            "but the server's identity is not checked",
            client.name,
        )


def explain_tls(host: str, *, verify: bool) -> Callable[[ConnectorError], ConnectorError]:
    """A function that rewrites a failed TLS handshake's error into advice; others pass."""

    def explain(error: ConnectorError) -> ConnectorError:
        if error.detail != "SSLError" or isinstance(error, RetryableError):
            return error
        if not verify:
            return ConnectorError(
                f"The TLS connection to {host} failed even without certificate verification: "
                "the server may not speak TLS on this port (try http://) or only offers "
                "protocols this computer refuses.",
                detail=error.detail,
            )
        return ConnectorError(
            f"The TLS certificate of {host} could not be verified: it is self-signed, issued by "
            "an authority this computer does not trust, or made out to another host name. "
            "Install a certificate from a trusted authority on the server, or give its CA "
            "certificate (or the server's own certificate) as a PEM file in the settings, or, "
            "on a network you trust, turn off 'Verify TLS certificate'.",
            detail=error.detail,
        )

    return explain
