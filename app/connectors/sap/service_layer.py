"""The Business One Service Layer's session: log in, keep it, renew it, log out.

The Service Layer signs a client in with ``POST {root}/Login`` and a JSON body
``{"CompanyDB", "UserName", "Password"}``; it answers with the session's id
and timeout in minutes (``SessionId``, ``SessionTimeout``, 30 by default) and
two cookies that every later request must carry: ``B1SESSION`` (the session)
and ``ROUTEID`` (which node of a load-balanced installation holds it). A
session ends with ``POST {root}/Logout`` or after ``SessionTimeout`` minutes
without a request; a request on an ended session is refused with HTTP 401 and
error code 301 ("Invalid session or session already timeout.").

:class:`ServiceLayerSession` is a ``requests`` auth that does all of this:
it logs in before the first request, sends the cookies, logs in again before a
request when the session has been idle for nearly its timeout, and, being
renewable (``invalidate``), lets :class:`app.connectors.http.HttpClient` log
in afresh and resend once when a request is refused with 401 anyway. Closing
the client closes the session, which logs out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.auth import AuthBase

from app.connectors.errors import ConnectorError, SourceDataError
from app.connectors.http import RetryPolicy, decode_json
from app.connectors.sap.client import SapHttp, configure_tls
from app.redaction import register_secret

log = logging.getLogger(__name__)

SESSION_COOKIE = "B1SESSION"
ROUTE_COOKIE = "ROUTEID"
# Minutes the Service Layer keeps an idle session when the login does not say.
DEFAULT_TIMEOUT_MINUTES = 30
# Log in again this long before the idle timeout rather than risk a refusal.
RENEW_MARGIN_SECONDS = 60.0


class ServiceLayerSession(AuthBase):
    """A Service Layer session used as the auth of an :class:`HttpClient`.

    Args:
        root: the Service Layer's root URL, such as ``https://b1:50000/b1s/v1``.
        company_db, username, password: what ``Login`` takes.
        name: how messages name the source.
        timeout, retry: as for the client. Login and logout requests are sent once
            each (the request a login serves is retried as a whole) and are not
            cancelled: a cancelled pull still logs out.
        verify, ca_file: the TLS settings (see :func:`configure_tls`).
    """

    def __init__(
        self,
        root: str,
        company_db: str,
        username: str,
        password: str,
        *,
        name: str,
        timeout: tuple[float, float],
        retry: RetryPolicy,
        verify: bool = True,
        ca_file: str | None = None,
    ) -> None:
        register_secret(password)
        self._credentials = {"CompanyDB": company_db, "UserName": username, "Password": password}
        self._http = SapHttp(root, name=name, timeout=timeout, retry=retry)
        self._http.refusal_hint = (
            "Check the company database, the user name and the password (a Business One user, "
            "not a database user)."
        )
        configure_tls(self._http, verify=verify, ca_file=ca_file, announce=False)
        self._lock = threading.RLock()
        self._cookie: str | None = None
        self._idle_limit = DEFAULT_TIMEOUT_MINUTES * 60.0
        self._last_used = 0.0
        self.logins = 0
        # The last login's answer, without the session id: Version, SessionTimeout.
        self.info: dict[str, Any] = {}

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Cookie"] = self._current()
        return request

    def invalidate(self) -> None:
        """Forget the session: the next request logs in again."""
        with self._lock:
            if self._cookie is not None:
                log.debug("%s: the session was refused; logging in again", self._http.name)
            self._cookie = None

    def close(self) -> None:
        """Log out (best effort: a failed logout only leaves the session to time out)."""
        with self._lock:
            cookie, self._cookie = self._cookie, None
            try:
                if cookie is not None:
                    self._http.post("Logout", headers={"Cookie": cookie}, retry=False)
                    log.debug("%s: logged out", self._http.name)
            except ConnectorError as exc:
                log.debug("%s: logout failed: %s", self._http.name, exc)
            finally:
                self._http.close()

    def _current(self) -> str:
        with self._lock:
            now = time.monotonic()
            if self._cookie is not None and now - self._last_used > self._idle_limit:
                log.debug("%s: the session has been idle too long; renewing it", self._http.name)
                self._cookie = None
            if self._cookie is None:
                self._cookie = self._login()
            self._last_used = time.monotonic()
            return self._cookie

    def _login(self) -> str:
        self._http.session.cookies.clear()
        response = self._http.post("Login", json=self._credentials, retry=False)
        body = decode_json(response, source=self._http.name)
        if not isinstance(body, Mapping):
            raise SourceDataError(f"{self._http.name} answered the login without a session.")
        session = response.cookies.get(SESSION_COOKIE) or body.get("SessionId")
        if not session:
            raise SourceDataError(
                f"{self._http.name} answered the login without a {SESSION_COOKIE} cookie or a "
                "SessionId."
            )
        register_secret(str(session))
        route = response.cookies.get(ROUTE_COOKIE)
        self.info = {key: body[key] for key in ("Version", "SessionTimeout") if key in body}
        try:
            minutes = float(body.get("SessionTimeout") or DEFAULT_TIMEOUT_MINUTES)
        except (TypeError, ValueError):
            minutes = DEFAULT_TIMEOUT_MINUTES
        self._idle_limit = max(0.0, minutes * 60.0 - RENEW_MARGIN_SECONDS)
        self.logins += 1
        log.debug(
            "%s: logged in to %s (session timeout %g minutes)",
            self._http.name,
            self._credentials["CompanyDB"],
            minutes,
        )
        cookie = f"{SESSION_COOKIE}={session}"
        return f"{cookie}; {ROUTE_COOKIE}={route}" if route else cookie
