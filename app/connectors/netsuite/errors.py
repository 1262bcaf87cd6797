"""NetSuite's REST error bodies turned into the connector's errors by consequence.

NetSuite answers a failed call with ``{"title", "status", "o:errorDetails":
[{"detail", "o:errorCode"}]}``; the generic client would show only the title
("Bad Request"), so the detail and code are read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from app.connectors.errors import AuthError, ConnectorError, RateLimited, RetryableError
from app.connectors.http import MAX_MESSAGE, HttpClient, parse_retry_after, path_of
from app.redaction import mask_text

# SuiteQL's wording when the role may not see a record type or a field.
_NOT_FOUND = "was not found"


def error_details(response: requests.Response) -> tuple[str, str]:
    """NetSuite's own ``(detail, code)`` of a failed response; empty when absent."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, Mapping):
        return "", ""
    details = body.get("o:errorDetails")
    if not isinstance(details, list) or not details or not isinstance(details[0], Mapping):
        return "", ""
    detail = " ".join(str(details[0].get("detail") or "").split())
    code = str(details[0].get("o:errorCode") or "")
    if len(detail) > MAX_MESSAGE:
        detail = detail[: MAX_MESSAGE - 1] + "…"
    return mask_text(detail).rstrip("."), mask_text(code)


class SuiteTalkClient(HttpClient):
    """The REST client with NetSuite's error details in its messages."""

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        detail, code = error_details(response)
        if status < 400 or not detail:
            super()._raise_for_status(method, url, response)
            return
        said = f"{detail} ({code})" if code else detail
        where = f"{method} {path_of(url)}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            raise AuthError(
                f"NetSuite refused the credentials (HTTP 401 on {where}): {said}. "
                "Check the account id, the consumer key and secret, and the token id and secret."
            )
        if status == 429:
            raise RateLimited(
                f"NetSuite is limiting concurrent requests (HTTP 429 on {where}): {said}.",
                retry_after=retry_after,
            )
        if status >= 500 or status == 408:
            raise RetryableError(
                f"NetSuite failed (HTTP {status} on {where}): {said}.", retry_after=retry_after
            )
        hint = ""
        if status == 403 or _NOT_FOUND in detail:
            hint = (
                " The token's role may lack a permission: it needs REST Web Services and "
                "SuiteAnalytics Workbook, and view access to the transactions it reads."
            )
        raise ConnectorError(f"NetSuite answered HTTP {status} on {where}: {said}.{hint}")
