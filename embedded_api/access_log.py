"""Access log: one line per request, with nothing in it that authenticates anyone.

A line holds the client address, method, path, status, bytes, duration and the
visible prefix of the API key that authenticated the request. The query string
is logged with the values of credential-like parameters (``api_key``, OAuth
``code`` and ``state``, signatures) masked; headers are never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

from app.redaction import MASK, SECRET_NAME

log = logging.getLogger(__name__)

# Set by the application once a key is verified: its prefix (never the key).
KEY_PREFIX_ENVIRON = "accupredix.key_prefix"
# Parameter names whose values authenticate, besides what SECRET_NAME matches.
_MASKED_PARAMETERS = {"key", "code", "state", "hmac", "sig"}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def masked_query(query: str) -> str:
    """The query string with the values of credential-like parameters as ``********``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode(
        [
            (
                name,
                MASK if name.lower() in _MASKED_PARAMETERS or SECRET_NAME.search(name) else value,
            )
            for name, value in pairs
        ],
        safe="*",
    )


class AccessLog:
    """WSGI middleware writing the access log line when a response is finished."""

    def __init__(self, app: WsgiApp, logger: logging.Logger = log) -> None:
        self.app = app
        self.logger = logger

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        status = ["-"]

        def recording_start_response(code: str, headers: Any, exc_info: Any = None) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, exc_info)

        body = self.app(environ, recording_start_response)
        return _LoggedBody(body, lambda sent: self._write(environ, status[0], sent, started))

    def _write(self, environ: dict[str, Any], status: str, sent: int, started: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        query = masked_query(environ.get("QUERY_STRING", ""))
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        self.logger.info(
            '%s "%s %s%s" %s %s %.1fms key=%s',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD", "-"),
            path,
            f"?{query}" if query else "",
            status,
            sent,
            (time.perf_counter() - started) * 1000,
            environ.get(KEY_PREFIX_ENVIRON, "-"),
        )


class _LoggedBody:
    """The response body, counted as it is sent; logs once the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]) -> None:
        self._body = body
        self._done = done
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self._sent)
