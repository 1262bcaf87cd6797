"""A fake paginated REST API of orders, served for real on 127.0.0.1.

Start it with the context manager; it picks a free port, serves on a background
thread and frees the port on exit::

    with serve_rest_api(orders=1_000, pagination="link_header", auth="bearer") as api:
        api.base_url     # "http://127.0.0.1:<port>/api"; the resource is RESOURCE_PATH
        api.orders_url   # base_url + "/orders"
        api.token_url    # "http://127.0.0.1:<port>/oauth/token"

Options (keywords of :class:`FakeRestApi` and :func:`serve_rest_api`):

- ``orders``: how many orders exist at the start (ids 1..N). Orders are
  rendered on the fly from their id, so 100,000 orders of 3 lines cost no
  memory; only changed orders are remembered.
- ``lines_per_order`` (3).
- ``pagination``: one of :data:`PAGINATIONS`:

  - ``none``: every matching order in one body.
  - ``page_number``: ``?page=N&limit=M`` (pages from 1); body has ``total``.
  - ``offset_limit``: ``?offset=K&limit=M``; body has ``total``.
  - ``cursor``: ``?cursor=C&limit=M``; body ``next_cursor`` (null at the end).
    Filters must be repeated on every request, as most such APIs require.
  - ``link_header``: Shopify style. ``Link: <...page_info=...>; rel="next"``;
    a request with ``page_info`` and any filter (``updated_since``) gets 400.
  - ``next_url``: body ``next`` holds the next page's URL (absolute, or
    relative to the host with ``relative_next=True``); same filter rule.

- ``auth``: one of :data:`AUTHS`; the credentials are the module constants
  (``USERNAME``/``PASSWORD``, ``TOKEN``, ``API_KEY`` in header ``X-API-Key`` or
  query parameter ``api_key``, ``CLIENT_ID``/``CLIENT_SECRET``). Bad or missing
  credentials get 401 with a JSON error. ``oauth2`` serves a client-credentials
  token endpoint (client authentication by HTTP Basic or form fields) issuing
  tokens that expire after ``token_lifetime`` seconds.
- ``records_key``: where the list sits in the body, a dot path such as
  ``"orders"`` (default) or ``"data.orders"``; None sends the bare list (not
  with ``cursor`` or ``next_url``, which need an object for their link).
- ``default_page_size`` (50) and ``max_page_size`` (250): a larger ``limit``
  is silently capped, as real APIs do.

Every order is ``{"id", "created_at", "updated_at", "currency", "customer":
{"id"}, "line_items": [{"id", "sku", "title", "quantity", "price"}]}``,
ordered by id. Order *i* was created at 2024-01-01T00:00:00Z + *i* × 7 min and
updated 30 min later; line *j* of order *i* has id 10 *i* + *j*; prices are
strings, as Shopify sends them. ``?updated_since=<ISO 8601>`` keeps orders
with ``updated_at >= updated_since``. Any other path gets a JSON 404.

``api.connector_settings(**overrides)`` gives the ``custom_rest`` preset's
settings that read this fake with its pagination and auth, incrementally on
``updated_since``/``updated_at``.

Control and inspection, safe to call while serving:

- ``order(id)`` the order as served now; ``matching_ids(since)`` the ids a full
  pull returns.
- ``add_orders(n)`` appends orders; ``touch(ids)`` changes orders (a new
  ``updated_at`` later than any before, and each line's quantity + 1).
- ``fail_with_429(count, retry_after="1", at=None)``,
  ``fail_with_5xx(count, status=503, at=None)``, ``respond_slowly(count,
  delay, at=None)``: a burst of faults starting at resource request number
  ``at`` (1-based, counting every resource request; None: the next one).
- ``revoke_tokens()`` makes every issued OAuth2 token invalid.
- ``served`` (resource requests answered), ``log`` (one :class:`Served` per
  resource request: number, path, params, headers, status, start and end on
  the ``time.monotonic`` clock), ``token_requests``, ``token_scopes``,
  ``issued_tokens``, ``reset_counters()``.

To keep the fake off a benchmark's own interpreter, run it in its own process:
``python -m tests.fakes.rest_api --orders 100000 --pagination link_header``
prints the base URL on its first line and serves until stdin closes.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import functools
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

PAGINATIONS = ("none", "page_number", "offset_limit", "cursor", "link_header", "next_url")
AUTHS = ("none", "basic", "bearer", "api_key_header", "api_key_query", "oauth2")

API_PREFIX = "/api"
RESOURCE_PATH = "/orders"
TOKEN_PATH = "/oauth/token"

USERNAME = "fake-user"
PASSWORD = "fake-password-7c1e9b"
TOKEN = "fake-bearer-token-3f8a2d"
API_KEY = "fake-api-key-9d4e7a"
API_KEY_HEADER = "X-API-Key"
API_KEY_PARAM = "api_key"
CLIENT_ID = "fake-client"
CLIENT_SECRET = "fake-client-secret-5b2c8e"

# The field mapping that turns this fake's orders into canonical lines, one per line item.
ORDER_LINES_MAPPING = {
    "columns": {
        "order_id": {"path": "id"},
        "line_id": {"path": "line_items[].id"},
        "order_date": {"path": "created_at", "transforms": [{"type": "date"}]},
        "sku": {"path": "line_items[].sku"},
        "quantity": {"path": "line_items[].quantity", "transforms": [{"type": "decimal"}]},
        "unit_price": {"path": "line_items[].price", "transforms": [{"type": "decimal"}]},
        "currency": {"path": "currency"},
        "customer_id": {"path": "customer.id"},
        "source_updated_at": {"path": "updated_at"},
    }
}

# Order i was created at EPOCH + i * STEP and last updated LAG later, unless changed.
EPOCH = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
STEP = 7 * 60
LAG = 30 * 60
CURRENCIES = ("USD", "EUR", "GBP")
SKUS = 500
# JSON fragments rendered once: a line's product and its price (1.00 to 99.99).
_PRODUCTS = tuple(f'"sku":"SKU-{n:04d}","title":"Product {n:04d}"' for n in range(1, SKUS + 1))
_PRICES = tuple(f'"{cents // 100}.{cents % 100:02d}"' for cents in range(100, 10_000))

# What the fake answers, each in the shape of a real API's errors.
RATE_LIMITED = (
    "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
)
NO_PAGE_INFO_FILTERS = (
    "page_info cannot be combined with other filters; send only page_info and limit."
)
AUTH_ERRORS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "basic": (
        {"error": "Invalid username or password."},
        {"WWW-Authenticate": 'Basic realm="fake"'},
    ),
    "bearer": (
        {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
        {},
    ),
    "api_key_header": ({"message": "Invalid API key."}, {}),
    "api_key_query": ({"message": "Invalid API key."}, {}),
    "oauth2": (
        {
            "error": "invalid_token",
            "error_description": "The access token is invalid or has expired.",
        },
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    ),
}


@functools.lru_cache(maxsize=4096)
def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def iso(epoch: int) -> str:
    """``epoch`` seconds as the API writes times: ``2024-01-01T00:07:00Z``."""
    day, seconds = divmod(epoch, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_date(day)}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def _parse_time(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def _mix(value: int) -> int:
    """A cheap deterministic hash, so every order looks different but never changes."""
    value = (value * 2654435761) & 0xFFFFFFFF
    return value ^ (value >> 13)


def _encode_position(since: int | None, last_id: int) -> str:
    raw = json.dumps({"s": since, "i": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_position(token: str) -> tuple[int | None, int]:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    data = json.loads(raw)
    return data["s"], int(data["i"])


@dataclass(frozen=True)
class Served:
    """One resource request as the fake saw it."""

    number: int
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    started: float
    finished: float


@dataclass
class _Fault:
    kind: str
    start: int
    remaining: int
    options: dict[str, Any] = field(default_factory=dict)


class _Selection:
    """The ids matching a filter, in id order, without listing them.

    Order ids from ``threshold`` up all match (their unchanged times are late
    enough, and a change only moves a time later); below it only the changed
    orders in ``extra`` do.
    """

    def __init__(self, count: int, threshold: int, extra: list[int]) -> None:
        self.count = count
        self.threshold = max(1, threshold)
        self.extra = extra

    def __len__(self) -> int:
        return len(self.extra) + max(0, self.count - self.threshold + 1)

    def after(self, last_id: int, limit: int) -> list[int]:
        start = bisect.bisect_right(self.extra, last_id)
        ids = self.extra[start : start + limit]
        first = max(self.threshold, last_id + 1)
        ids.extend(range(first, min(self.count, first + limit - len(ids) - 1) + 1))
        return ids

    def at(self, position: int, limit: int) -> list[int]:
        if position < len(self.extra):
            return self.after(self.extra[position] - 1, limit)
        first = self.threshold + position - len(self.extra)
        return list(range(first, min(self.count, first + limit - 1) + 1))


class FakeRestApi:
    """The fake's state and WSGI app; see the module docstring for its API."""

    def __init__(
        self,
        orders: int = 100,
        *,
        lines_per_order: int = 3,
        pagination: str = "page_number",
        auth: str = "none",
        records_key: str | None = "orders",
        default_page_size: int = 50,
        max_page_size: int = 250,
        token_lifetime: int = 3600,
        relative_next: bool = False,
    ) -> None:
        if pagination not in PAGINATIONS:
            raise ValueError(f"pagination must be one of {PAGINATIONS}")
        if auth not in AUTHS:
            raise ValueError(f"auth must be one of {AUTHS}")
        if records_key is None and pagination in ("cursor", "next_url"):
            raise ValueError(f"{pagination} pagination needs a records_key")
        self.count = orders
        self.lines_per_order = lines_per_order
        self.pagination = pagination
        self.auth = auth
        self.records_key = records_key
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.token_lifetime = token_lifetime
        self.relative_next = relative_next

        self._lock = threading.Lock()
        self._changed: dict[int, tuple[int, int]] = {}  # id -> (updated_at, revision)
        self._clock = self._base_updated(orders)
        self._faults: list[_Fault] = []
        self._tokens: dict[str, float] = {}
        self.served = 0
        self.log: list[Served] = []
        self.token_requests = 0
        self.token_scopes: list[str | None] = []
        self.issued_tokens: list[str] = []
        self._server = WsgiServer(self)

    # -- serving ---------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def orders_url(self) -> str:
        return self.base_url + RESOURCE_PATH

    @property
    def token_url(self) -> str:
        return self.origin + TOKEN_PATH

    def start(self) -> FakeRestApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()  # also wakes slow responses

    def __enter__(self) -> FakeRestApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def connector_settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings of the ``custom_rest`` preset that read this fake."""
        auth: dict[str, Any] = {
            "none": {},
            "basic": {"auth": "basic", "username": USERNAME, "password": PASSWORD},
            "bearer": {"auth": "bearer", "token": TOKEN},
            "api_key_header": {
                "auth": "api_key_header",
                "api_key_header": API_KEY_HEADER,
                "api_key": API_KEY,
            },
            "api_key_query": {
                "auth": "api_key_query",
                "api_key_param": API_KEY_PARAM,
                "api_key": API_KEY,
            },
            "oauth2": {
                "auth": "oauth2_client_credentials",
                "token_url": self.token_url,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        }[self.auth]
        values: dict[str, Any] = {
            "base_url": self.base_url,
            "resource_path": RESOURCE_PATH,
            "records_path": self.records_key or "",
            "pagination": self.pagination,
            "incremental_param": "updated_since",
            "updated_field": "updated_at",
            **auth,
        }
        if self.pagination != "none":
            values["page_size"] = self.default_page_size
        if self.pagination in ("page_number", "offset_limit"):
            values["total_path"] = "total"
        return values | overrides

    # -- orders ----------------------------------------------------------

    @staticmethod
    def _base_updated(order_id: int) -> int:
        return EPOCH + order_id * STEP + LAG

    def _threshold(self, since: int) -> int:
        # The first id whose unchanged updated_at is >= since.
        return max(1, -(-(since - EPOCH - LAG) // STEP))

    def _state(self, order_id: int) -> tuple[int, int]:
        return self._changed.get(order_id) or (self._base_updated(order_id), 0)

    def render(self, order_id: int) -> str:
        """One order as JSON text, built directly (the hot path of a benchmark)."""
        updated, revision = self._state(order_id)
        h = _mix(order_id)
        lines = []
        for j in range(self.lines_per_order):
            hj = _mix(h + j)
            lines.append(
                f'{{"id":{order_id * 10 + j},{_PRODUCTS[hj % SKUS]},'
                f'"quantity":{1 + (hj >> 9) % 5 + revision},"price":{_PRICES[(hj >> 3) % 9900]}}}'
            )
        return (
            f'{{"id":{order_id},"created_at":"{iso(EPOCH + order_id * STEP)}",'
            f'"updated_at":"{iso(updated)}","currency":"{CURRENCIES[h % 3]}",'
            f'"customer":{{"id":{1000 + (h >> 5) % 5000}}},"line_items":[{",".join(lines)}]}}'
        )

    def order(self, order_id: int) -> dict[str, Any]:
        """The order as the API serves it now."""
        with self._lock:
            return json.loads(self.render(order_id))

    def _selection(self, since: int | None) -> _Selection:
        if since is None:
            return _Selection(self.count, 1, [])
        threshold = self._threshold(since)
        extra = sorted(i for i, (t, _) in self._changed.items() if i < threshold and t >= since)
        return _Selection(self.count, threshold, extra)

    def matching_ids(self, since: str | None = None) -> list[int]:
        """The ids a complete pull with ``updated_since=since`` returns, in order."""
        with self._lock:
            selection = self._selection(None if since is None else _parse_time(since))
            return selection.at(0, len(selection))

    def _tick(self) -> int:
        self._clock = max(self._clock, self._base_updated(self.count)) + 60
        return self._clock

    def add_orders(self, n: int) -> list[int]:
        """Append ``n`` orders, updated no earlier than any change before; returns their ids."""
        with self._lock:
            ids = list(range(self.count + 1, self.count + n + 1))
            self.count += n
            if self._clock > self._base_updated(ids[0]):
                now = self._tick()
                for order_id in ids:
                    if self._base_updated(order_id) < now:
                        self._changed[order_id] = (now, 0)
            return ids

    def touch(self, ids: Iterable[int]) -> str:
        """Change orders: later ``updated_at``, quantities + 1; returns the new time."""
        with self._lock:
            now = self._tick()
            for order_id in ids:
                if not 1 <= order_id <= self.count:
                    raise ValueError(f"no order {order_id}")
                self._changed[order_id] = (now, self._state(order_id)[1] + 1)
            return iso(now)

    # -- faults and counters ---------------------------------------------

    def _inject(self, kind: str, count: int, at: int | None, **options: Any) -> None:
        with self._lock:
            start = self.served + 1 if at is None else at
            self._faults.append(_Fault(kind, start, count, options))

    def fail_with_429(
        self, count: int, *, retry_after: str | None = "1", at: int | None = None
    ) -> None:
        self._inject("429", count, at, retry_after=retry_after)

    def fail_with_5xx(self, count: int, *, status: int = 503, at: int | None = None) -> None:
        self._inject("5xx", count, at, status=status)

    def respond_slowly(self, count: int, delay: float, *, at: int | None = None) -> None:
        self._inject("slow", count, at, delay=delay)

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def reset_counters(self) -> None:
        with self._lock:
            self.served = 0
            self.log = []
            self.token_requests = 0
            self.token_scopes = []
            self._faults = []

    def _take_fault(self, number: int) -> _Fault | None:
        for fault in self._faults:
            if fault.start <= number and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    # -- HTTP ------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == TOKEN_PATH:
            response = self._token_endpoint(request)
        elif request.path == API_PREFIX + RESOURCE_PATH:
            response = self._resource(request)
        else:
            response = _json(404, {"error": "Not Found", "message": f"No route for {request.path}"})
        return response(environ, start_response)

    def _resource(self, request: Request) -> Response:
        started = time.monotonic()
        with self._lock:
            self.served += 1
            number = self.served
            fault = self._take_fault(number)
        response = self._fault_response(fault) if fault else None
        if response is None:
            response = self._check_auth(request) or self._page(request)
        with self._lock:
            self.log.append(
                Served(
                    number,
                    request.path,
                    dict(request.args.items()),
                    dict(request.headers.items()),
                    response.status_code,
                    started,
                    time.monotonic(),
                )
            )
        return response

    def _fault_response(self, fault: _Fault) -> Response | None:
        if fault.kind == "429":
            retry_after = fault.options["retry_after"]
            headers = {"Retry-After": retry_after} if retry_after else {}
            return _json(429, {"errors": RATE_LIMITED}, headers)
        if fault.kind == "5xx":
            return _json(fault.options["status"], {"errors": "Internal Server Error"})
        self._server.stopping.wait(fault.options["delay"])
        return None

    def _authorised(self, request: Request) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "basic":
            given = request.authorization
            return bool(given and given.type == "basic") and (
                given.username,
                given.password,
            ) == (USERNAME, PASSWORD)
        if self.auth == "bearer":
            return request.headers.get("Authorization") == f"Bearer {TOKEN}"
        if self.auth == "api_key_header":
            return request.headers.get(API_KEY_HEADER) == API_KEY
        if self.auth == "api_key_query":
            return request.args.get(API_KEY_PARAM) == API_KEY
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        with self._lock:
            expires = self._tokens.get(token)
        return expires is not None and expires > time.monotonic()

    def _check_auth(self, request: Request) -> Response | None:
        """None when the request carries the right credentials, else the 401 to send."""
        if self._authorised(request):
            return None
        body, headers = AUTH_ERRORS[self.auth]
        return _json(401, body, headers)

    def _token_endpoint(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        if request.method != "POST":
            return _json(405, {"error": "invalid_request", "error_description": "Use POST."})
        form = request.form
        given = request.authorization
        if given and given.type == "basic":
            client = (given.username, given.password)
        else:
            client = (form.get("client_id"), form.get("client_secret"))
        if client != (CLIENT_ID, CLIENT_SECRET):
            return _json(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed."},
            )
        if form.get("grant_type") != "client_credentials":
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Only client_credentials is supported.",
                },
            )
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
            self.issued_tokens.append(token)
            self.token_scopes.append(form.get("scope"))
        return _json(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "scope": form.get("scope") or "",
            },
            {"Cache-Control": "no-store"},
        )

    def _page(self, request: Request) -> Response:
        args = request.args
        try:
            since = _parse_time(args["updated_since"]) if "updated_since" in args else None
            limit = min(int(args.get("limit", self.default_page_size)), self.max_page_size)
            if limit < 1:
                raise ValueError("limit")
        except (ValueError, TypeError):
            return _json(400, {"errors": "Invalid updated_since or limit parameter."})
        style = self.pagination
        try:
            with self._lock:
                if style in ("link_header", "next_url") and "page_info" in args:
                    if any(name not in ("page_info", "limit", API_KEY_PARAM) for name in args):
                        return _json(
                            400,
                            {"errors": NO_PAGE_INFO_FILTERS},
                        )
                    since, last_id = _decode_position(args["page_info"])
                    return self._keyset_page(request, since, last_id, limit)
                if style in ("cursor", "link_header", "next_url"):
                    last_id = _decode_position(args["cursor"])[1] if "cursor" in args else 0
                    return self._keyset_page(request, since, last_id, limit)
                return self._positional_page(args, since, limit)
        except (ValueError, KeyError, binascii.Error):
            return _json(400, {"errors": "Invalid cursor or page parameter."})

    def _positional_page(
        self, args: MultiDict[str, str], since: int | None, limit: int
    ) -> Response:
        selection = self._selection(since)
        extra: dict[str, Any] = {"total": len(selection)}
        if self.pagination == "none":
            ids = selection.at(0, len(selection))
            extra = {}
        elif self.pagination == "page_number":
            page = int(args.get("page", 1))
            if page < 1:
                raise ValueError("page")
            ids = selection.at((page - 1) * limit, limit)
            extra["page"] = page
        else:
            offset = int(args.get("offset", 0))
            if offset < 0:
                raise ValueError("offset")
            ids = selection.at(offset, limit)
            extra["offset"] = offset
        return self._body(ids, extra)

    def _keyset_page(
        self, request: Request, since: int | None, last_id: int, limit: int
    ) -> Response:
        ids = self._selection(since).after(last_id, limit)
        more = bool(ids) and bool(self._selection(since).after(ids[-1], 1))
        position = _encode_position(since, ids[-1]) if more else None
        if self.pagination == "cursor":
            return self._body(ids, {"next_cursor": position})
        next_url = None
        if position is not None:
            query = {"limit": limit, "page_info": position}
            if API_KEY_PARAM in request.args:  # echoed back, as some APIs do
                query[API_KEY_PARAM] = request.args[API_KEY_PARAM]
            path = f"{API_PREFIX}{RESOURCE_PATH}?{urlencode(query)}"
            next_url = path if self.relative_next else request.host_url.rstrip("/") + path
        if self.pagination == "next_url":
            return self._body(ids, {"next": next_url})
        response = self._body(ids, {})
        if next_url is not None:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    def _body(self, ids: list[int], extra: dict[str, Any]) -> Response:
        records = "[" + ",".join(self.render(order_id) for order_id in ids) + "]"
        if self.records_key is None:
            return Response(records, 200, mimetype="application/json")
        body = records
        keys = self.records_key.split(".")
        for depth, key in enumerate(reversed(keys)):
            members = [f"{json.dumps(key)}:{body}"]
            if depth == len(keys) - 1:
                members.extend(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items())
            body = "{" + ",".join(members) + "}"
        return Response(body, 200, mimetype="application/json")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")


@contextmanager
def serve_rest_api(orders: int = 100, **options: Any) -> Iterator[FakeRestApi]:
    """Run a :class:`FakeRestApi` for the duration of the ``with`` block."""
    api = FakeRestApi(orders, **options)
    with api:
        yield api


def main(argv: list[str] | None = None) -> None:
    """Serve the fake from its own process (a benchmark keeps it off its own GIL).

    ``python -m tests.fakes.rest_api --orders 100000 --pagination link_header``
    prints the base URL on the first line of stdout, then serves until stdin
    closes or the process is interrupted.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--lines-per-order", type=int, default=3)
    parser.add_argument("--pagination", choices=PAGINATIONS, default="link_header")
    parser.add_argument("--auth", choices=AUTHS, default="none")
    parser.add_argument("--max-page-size", type=int, default=250)
    args = parser.parse_args(argv)
    api = FakeRestApi(
        args.orders,
        lines_per_order=args.lines_per_order,
        pagination=args.pagination,
        auth=args.auth,
        max_page_size=args.max_page_size,
    )
    with api:
        print(api.base_url, flush=True)
        with suppress(KeyboardInterrupt):
            sys.stdin.read()


if __name__ == "__main__":
    main()
