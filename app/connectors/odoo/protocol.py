"""Calling Odoo model methods over either of its external APIs.

- JSON-RPC (Odoo 16 to 18, and 19 to 21 where it is deprecated):
  ``POST /jsonrpc`` with ``common.authenticate(db, login, key, {})`` for the
  user id, then ``object.execute_kw(db, uid, key, model, method, args, kwargs)``.
  Failures come back with HTTP 200 and ``{"error": {"code", "message",
  "data": {"name", "message"}}}``.
- JSON-2 (Odoo 19 and later): ``POST /json/2/<model>/<method>`` with the
  arguments named in a JSON object, ``Authorization: bearer <key>`` and
  ``X-Odoo-Database``. Failures use HTTP status codes and a body
  ``{"name", "message", "arguments", "context", "debug"}``.

:func:`connect` asks the server for its version (``GET /web/version`` where
it exists, else ``common.version``) and picks JSON-2 from 19 on.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from app.connectors.errors import AuthError, ConnectorError, RetryableError, SourceDataError
from app.connectors.http import BearerAuth, HttpClient, RetryPolicy, decode_json, path_of
from app.redaction import mask_text, register_secret

log = logging.getLogger(__name__)

FIRST_SUPPORTED = 16
FIRST_JSON2 = 19
JSONRPC_PATH = "/jsonrpc"
VERSION_PATH = "/web/version"


@dataclass(frozen=True)
class Credentials:
    """Where and as whom to connect; the key stays out of repr."""

    url: str
    database: str
    login: str
    api_key: str = ""

    def __repr__(self) -> str:
        return f"Credentials(url={self.url!r}, database={self.database!r}, login={self.login!r})"


class Connection(Protocol):
    """An authenticated way to call model methods."""

    protocol: str
    version: str

    def call(self, model: str, method: str, **kwargs: Any) -> Any:
        """``model.method`` with named arguments (``ids`` for record methods)."""
        ...

    def close(self) -> None: ...


def odoo_error(data: Any) -> tuple[str, str]:
    """The exception name and message of an Odoo error object."""
    if not isinstance(data, Mapping):
        return "", ""
    name = str(data.get("name") or "")
    message = data.get("message")
    if not message and isinstance(data.get("arguments"), list) and data["arguments"]:
        message = data["arguments"][0]
    text = " ".join(str(message or "").split())
    return name, mask_text(text[:300]).rstrip(".")


def error_for(name: str, message: str, where: str) -> ConnectorError:
    """Odoo's exception as the connector's error, by what the operator must do."""
    short = name.rsplit(".", 1)[-1]
    if short in ("AccessDenied", "Unauthorized", "SessionExpiredException"):
        return AuthError(f"Odoo refused the login or API key ({where}): {message}.")
    if short == "AccessError":
        return ConnectorError(
            f"Odoo: the user may not read this data ({where}): {message}. Give the user "
            "read access to it (for example the Sales or Invoicing user group)."
        )
    if "OperationalError" in short or "database" in message.lower():
        return ConnectorError(f"Odoo could not open the database ({where}): {message}.")
    return ConnectorError(f"Odoo answered with {short or 'an error'} ({where}): {message}.")


class OdooHttp(HttpClient):
    """The HTTP client with Odoo's JSON-2 error bodies sorted by consequence."""

    def _raise_for_status(self, method: str, url: str, response: requests.Response) -> None:
        status = response.status_code
        if status < 400 or status == 429 or status >= 500:
            super()._raise_for_status(method, url, response)
            return
        try:
            name, message = odoo_error(response.json())
        except ValueError:
            name, message = "", ""
        if not name:
            super()._raise_for_status(method, url, response)
            return
        raise error_for(name, message, f"HTTP {status} on {method} {path_of(url)}")


class JsonRpc:
    """``execute_kw`` over ``/jsonrpc`` for a user id from ``authenticate``."""

    protocol = "JSON-RPC"

    def __init__(self, http: OdooHttp, credentials: Credentials, version: str) -> None:
        self.http = http
        self.credentials = credentials
        self.version = version
        self.uid: int | None = None
        self._ids = itertools.count(1)

    def rpc(self, service: str, method: str, *args: Any) -> Any:
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": list(args)},
            "id": next(self._ids),
        }
        body = decode_json(self.http.post(JSONRPC_PATH, json=payload), source=self.http.name)
        if not isinstance(body, Mapping):
            raise SourceDataError(
                f"{self.http.name} answered JSON-RPC with a body that is not an object."
            )
        if "error" in body:
            error = body["error"] if isinstance(body["error"], Mapping) else {}
            name, message = odoo_error(error.get("data"))
            message = message or str(error.get("message") or "no message")
            raise error_for(name, message, f"{service}.{method}")
        return body.get("result")

    def authenticate(self) -> int:
        creds = self.credentials
        uid = self.rpc("common", "authenticate", creds.database, creds.login, creds.api_key, {})
        if not isinstance(uid, int) or isinstance(uid, bool):
            raise AuthError(
                f"Odoo refused the login {creds.login!r} with this API key on database "
                f"{creds.database!r} (common.authenticate returned no user)."
            )
        self.uid = uid
        return uid

    def call(self, model: str, method: str, **kwargs: Any) -> Any:
        if self.uid is None:
            self.authenticate()
        ids = kwargs.pop("ids", None)
        args: list[Any] = [ids] if ids is not None else []
        if "domain" in kwargs:
            args.append(kwargs.pop("domain"))
        creds = self.credentials
        return self.rpc(
            "object",
            "execute_kw",
            creds.database,
            self.uid,
            creds.api_key,
            model,
            method,
            args,
            kwargs,
        )

    def close(self) -> None:
        self.http.close()


class Json2:
    """``POST /json/2/<model>/<method>`` with the API key as a bearer token."""

    protocol = "JSON-2"

    def __init__(self, http: OdooHttp, version: str) -> None:
        self.http = http
        self.version = version

    def call(self, model: str, method: str, **kwargs: Any) -> Any:
        response = self.http.post(f"/json/2/{model}/{method}", json=kwargs)
        return decode_json(response, source=self.http.name)

    def close(self) -> None:
        self.http.close()


def _version_from_web(http: OdooHttp) -> tuple[int, str] | None:
    """The version ``/web/version`` states (Odoo 19 and later); None where it has none."""
    try:
        body = http.get_json(VERSION_PATH)
    except (AuthError, RetryableError):
        raise
    except ConnectorError:
        return None  # 404 on older versions, or an HTML page
    info = body.get("version_info") if isinstance(body, Mapping) else None
    if isinstance(info, list) and info and isinstance(info[0], int):
        return info[0], str(body.get("version") or info[0])
    return None


def connect(
    credentials: Credentials,
    *,
    name: str,
    retry: RetryPolicy,
    cancel: Any,
    timeout: float | tuple[float, float],
) -> Connection:
    """An authenticated connection over the best API the server offers.

    Raises:
        ConnectorError: the server is older than Odoo 16, or is not Odoo.
        AuthError: the credentials were refused (JSON-RPC checks them here).
    """
    register_secret(credentials.api_key)
    plain = OdooHttp(credentials.url, name=name, retry=retry, cancel=cancel, timeout=timeout)
    try:
        found = _version_from_web(plain)
        if found is not None and found[0] >= FIRST_JSON2:
            plain.close()
            http = OdooHttp(
                credentials.url,
                name=name,
                auth=BearerAuth(credentials.api_key),
                headers={"X-Odoo-Database": credentials.database},
                retry=retry,
                cancel=cancel,
                timeout=timeout,
            )
            log.debug("%s: Odoo %s, using JSON-2", name, found[1])
            return Json2(http, found[1])
        rpc = JsonRpc(plain, credentials, "")
        info = rpc.rpc("common", "version")
        serie = info.get("server_version_info") if isinstance(info, Mapping) else None
        if not isinstance(serie, list) or not serie or not isinstance(serie[0], int):
            raise ConnectorError(f"{name} did not say which Odoo version it runs; is it Odoo?")
        rpc.version = str(info.get("server_version") or serie[0])
        if serie[0] < FIRST_SUPPORTED:
            raise ConnectorError(
                f"{name} runs Odoo {rpc.version}; this connector needs Odoo 16 or newer."
            )
        rpc.authenticate()
        log.debug("%s: Odoo %s, using JSON-RPC as user %s", name, rpc.version, rpc.uid)
        return rpc
    except BaseException:
        plain.close()
        raise
