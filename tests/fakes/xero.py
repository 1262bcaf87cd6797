"""A fake Xero, served for real on 127.0.0.1: two organisations' sales, sign-in and limits.

Start it with the context manager; it picks a free port and frees it on exit::

    with serve_xero() as xero:
        xero.api_url          # "http://127.0.0.1:<port>/api.xro/2.0"
        xero.connections_url  # ".../connections"
        xero.token_url        # ".../connect/token"
        grant = xero.grant()  # an access and a refresh token reaching both organisations

It answers as developer.xero.com documents the Accounting API and the identity
service:

- ``GET /connections``: the tenants the bearer token reaches (``id``,
  ``authEventId``, ``tenantId``, ``tenantType``, ``tenantName``,
  ``createdDateUtc``, ``updatedDateUtc``). A third tenant of type
  ``PRACTICE`` can be added to a grant.
- ``GET /api.xro/2.0/Organisation``, ``/Invoices`` and ``/CreditNotes`` with
  ``Authorization: Bearer`` and ``xero-tenant-id``: the envelope ``{"Id",
  "Status": "OK", "ProviderName", "DateTimeUTC", <list>}``; times as
  ``/Date(ms+hhmm)/``. Documents come in ``UpdatedDateUTC`` order, ties by id
  (Xero's documented default); ``order=UpdatedDateUTC[ ASC]`` asks the same.
  ``If-Modified-Since`` keeps documents updated after it (UTC,
  ``yyyy-mm-ddThh:mm:ss``, or an HTTP date). ``where`` takes ``Type=="..."``
  and ``Status=="..."`` joined by ``AND``; ``Statuses`` a comma list.
  ``page`` pages (100 a page; ``pageSize`` up to 1,000 on Invoices only) and
  adds ``pagination`` to the Invoices body; without ``page`` a list carries no
  ``LineItems``, as Xero's summary lists do. Deleted documents are listed only
  when a status filter asks for them: the cautious reading of how Xero lists
  them, which a client that asks by status passes either way.
- Refusals in Xero's problem shape ``{"Type", "Title", "Status", "Detail",
  "Instance", "Extensions"}``: 401 ``TokenExpired``/``AuthenticationUnsuccessful``
  for a bad or expired token, 401 ``AuthorizationUnsuccessful`` for a missing
  scope, 403 ``AuthenticationUnsuccessful`` for a tenant the grant does not reach.
- Limits per organisation: ``minute_limit`` calls in a rolling ``window`` of
  seconds (60 and 60 s by default) and ``day_limit`` (5,000); every answer
  carries ``X-MinLimit-Remaining``, ``X-DayLimit-Remaining`` and
  ``X-AppMinLimit-Remaining``. Past a limit: 429 with ``Retry-After`` and
  ``X-Rate-Limit-Problem`` (``minute`` or ``day``) and no body.
- ``POST /connect/token`` with ``grant_type=refresh_token`` and the client
  credentials (HTTP Basic or form): a new access token (``expires_in`` 1800)
  and a new refresh token; the one spent is revoked. Refusals are OAuth errors
  (``invalid_client``, ``invalid_grant``) with 400.

The two organisations (:data:`HARBOUR` with 150 invoices, :data:`KAURI` with
8) hold generated ``ACCREC`` invoices in every status (``AUTHORISED``,
``PAID``, ``VOIDED``, ``DELETED``, ``DRAFT``, ``SUBMITTED``), some bills
(``ACCPAY``), ``ACCRECCREDIT`` credit notes and one ``ACCPAYCREDIT``. Some
lines have no ``ItemCode`` (a service) and some are comment lines (a
description only). Kauri writes document dates with its ``+1000`` offset.

Control, safe while serving: :meth:`FakeXero.grant`, :meth:`expire_tokens`,
:meth:`revoke_scope`, :meth:`disconnect`, :meth:`rate_limit_storm`,
:meth:`use_up_day`, :meth:`set_status`, :meth:`set_quantity`,
:meth:`add_invoice`, :meth:`add_credit_note`; inspection: :attr:`log` (one
:class:`Served` per API call), :attr:`token_requests`, :meth:`document`,
:meth:`documents`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

API_PREFIX = "/api.xro/2.0"
CONNECTIONS_PATH = "/connections"
TOKEN_PATH = "/connect/token"

CLIENT_ID = "FAKEXEROCLIENTID0000000000000000"
CLIENT_SECRET = "fake-xero-client-secret-4c9d1e7a"
SCOPES = ("offline_access", "accounting.transactions.read", "accounting.settings.read")
TRANSACTIONS_SCOPES = frozenset({"accounting.transactions", "accounting.transactions.read"})
SETTINGS_SCOPES = frozenset({"accounting.settings", "accounting.settings.read"})
ACCESS_LIFETIME = 1800

_NAMESPACE = uuid.UUID("6f1c9a52-3c1e-4d4a-9b8e-0c7d2a7f5e10")
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Tenant:
    key: str
    tenant_id: str
    name: str
    currency: str
    country: str
    # The wall-clock offset its document dates are written with.
    offset: dt.timedelta
    invoices: int
    credit_notes: int
    tenant_type: str = "ORGANISATION"


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(map(str, parts))))


HARBOUR = Tenant(
    "harbour", _id("tenant", "harbour"), "Harbour Coffee Roasters", "NZD", "NZ",
    dt.timedelta(), invoices=150, credit_notes=12,
)  # fmt: skip
KAURI = Tenant(
    "kauri", _id("tenant", "kauri"), "Kauri Outdoor Supplies", "AUD", "AU",
    dt.timedelta(hours=10), invoices=8, credit_notes=2,
)  # fmt: skip
PRACTICE = Tenant(
    "practice", _id("tenant", "practice"), "Tide Accounting Practice", "NZD", "NZ",
    dt.timedelta(), invoices=0, credit_notes=0, tenant_type="PRACTICE",
)  # fmt: skip
TENANTS = {tenant.key: tenant for tenant in (HARBOUR, KAURI, PRACTICE)}

# Invoice n's status is STATUS_CYCLE[n % 10]; every tenth is a bill.
STATUS_CYCLE = (
    "AUTHORISED", "PAID", "PAID", "AUTHORISED", "VOIDED",
    "DRAFT", "PAID", "SUBMITTED", "DELETED", "PAID",
)  # fmt: skip
CREDIT_STATUS_CYCLE = ("AUTHORISED", "PAID", "VOIDED", "DRAFT")
ITEMS = (
    ("CB-250", "Single origin beans 250 g", "18.5000"),
    ("CB-1000", "House blend 1 kg", "54.0000"),
    ("GR-BURR", "Burr grinder", "189.0000"),
    ("FILTER-100", "Paper filters, 100", "6.9500"),
    ("MUG-12", "Enamel mug 12 oz", "14.2500"),
)
SERVICE = ("Barista training, per hour", "95.0000")


def ms_date(moment: dt.datetime, offset: dt.timedelta = dt.timedelta()) -> str:
    """``moment`` as Xero's JSON writes times: ``/Date(1518685950940+0000)/``."""
    millis = int((moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)).total_seconds() * 1000)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"/Date({millis}{sign}{hours:02d}{rest:02d})/"


def _problem(status: int, title: str, detail: str) -> Response:
    body = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return _json(status, body)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")


@dataclass
class Grant:
    """What one sign-in authorised: tenants, scopes, and its current tokens."""

    tenants: list[str]
    scopes: set[str]
    access_token: str
    refresh_token: str
    expires_at: float
    auth_event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    revoked: bool = False

    def secrets(self) -> dict[str, str]:
        """The connector secrets that hold this grant."""
        expiry = dt.datetime.fromtimestamp(self.expires_at, dt.UTC)
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_expires_at": expiry.isoformat(timespec="seconds"),
        }


@dataclass(frozen=True)
class Served:
    """One Accounting API call as the fake saw it."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    started: float
    finished: float
    # The documents it listed, by id (empty for other answers).
    ids: tuple[str, ...] = ()


@dataclass
class _Document:
    kind: str  # "Invoices" or "CreditNotes"
    data: dict[str, Any]
    updated: dt.datetime

    @property
    def id(self) -> str:
        return str(self.data["InvoiceID" if self.kind == "Invoices" else "CreditNoteID"])


@dataclass
class _Usage:
    minute: deque[float] = field(default_factory=deque)
    day: int = 0


class FakeXero:
    """The fake's state and WSGI app; see the module docstring."""

    def __init__(
        self,
        *,
        minute_limit: int = 60,
        window: float = 60.0,
        day_limit: int = 5000,
        app_minute_limit: int = 10_000,
        day_reset_seconds: int = 5 * 3600 + 17 * 60,
    ) -> None:
        self.minute_limit = minute_limit
        self.window = window
        self.day_limit = day_limit
        self.app_minute_limit = app_minute_limit
        self.day_reset_seconds = day_reset_seconds
        self._lock = threading.Lock()
        self._documents: dict[str, dict[str, _Document]] = {}
        self._clock = EPOCH
        for tenant in (HARBOUR, KAURI):
            self._documents[tenant.key] = self._generate(tenant)
        self._grants: list[Grant] = []
        self._usage: dict[str, _Usage] = {key: _Usage() for key in TENANTS}
        self._app_minute: deque[float] = deque()
        self._storm: list[int] = [0, 0]  # count left, Retry-After
        self.log: list[Served] = []
        self.token_requests = 0
        self._server = WsgiServer(self)

    # -- serving ---------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return self.origin + API_PREFIX

    @property
    def connections_url(self) -> str:
        return self.origin + CONNECTIONS_PATH

    @property
    def token_url(self) -> str:
        return self.origin + TOKEN_PATH

    def start(self) -> FakeXero:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FakeXero:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- data --------------------------------------------------------------

    def _tick(self, minutes: int = 60) -> dt.datetime:
        self._clock += dt.timedelta(minutes=minutes, milliseconds=137)
        return self._clock

    def _generate(self, tenant: Tenant) -> dict[str, _Document]:
        documents: dict[str, _Document] = {}
        for n in range(1, tenant.invoices + 1):
            doc = self._invoice(tenant, n)
            documents[doc.id] = doc
        for n in range(1, tenant.credit_notes + 1):
            doc = self._credit_note(tenant, n)
            documents[doc.id] = doc
        # One supplier credit, which is no sale.
        doc = self._credit_note(tenant, tenant.credit_notes + 1, kind="ACCPAYCREDIT")
        documents[doc.id] = doc
        return documents

    def _lines(self, tenant: Tenant, key: str, n: int) -> list[dict[str, Any]]:
        lines = []
        for j in range(1 + n % 3):
            code, description, price = ITEMS[(n + j) % len(ITEMS)]
            line: dict[str, Any] = {
                "LineItemID": _id(tenant.key, key, n, "line", j),
                "ItemCode": code,
                "Description": description,
                "Quantity": float(1 + (n * 7 + j) % 5),
                "UnitAmount": float(price),
                "TaxType": "OUTPUT2",
                "AccountCode": "200",
                "Tracking": [{"Name": "Region", "Option": ("North", "South")[(n + j) % 2]}],
            }
            if (n + j) % 6 == 5:  # a service: no item code
                line.pop("ItemCode")
                line["Description"], line["UnitAmount"] = SERVICE[0], float(SERVICE[1])
            line["LineAmount"] = round(line["Quantity"] * line["UnitAmount"], 2)
            lines.append(line)
        if n % 13 == 0:
            lines.append(
                {"LineItemID": _id(tenant.key, key, n, "note"), "Description": "Thank you!"}
            )
        return lines

    def _dates(self, tenant: Tenant, day: dt.date) -> dict[str, str]:
        # Midnight on the organisation's wall clock, written with its offset.
        local_midnight = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) - tenant.offset
        return {
            "Date": ms_date(local_midnight, tenant.offset),
            "DateString": f"{day.isoformat()}T00:00:00",
        }

    def _invoice(self, tenant: Tenant, n: int, status: str | None = None) -> _Document:
        day = (EPOCH + dt.timedelta(hours=6 * n)).date()
        updated = self._tick(6 * 60) if status is None else self._tick()
        kind = "ACCPAY" if n % 10 == 9 and status is None else "ACCREC"
        data: dict[str, Any] = {
            "Type": kind,
            "InvoiceID": _id(tenant.key, "invoice", n),
            "InvoiceNumber": f"INV-{n:04d}",
            "Reference": f"PO {1000 + n}",
            "Contact": {
                "ContactID": _id(tenant.key, "contact", n % 7),
                "Name": f"Customer {n % 7}",
            },
            **self._dates(tenant, day),
            "Status": status or STATUS_CYCLE[n % len(STATUS_CYCLE)],
            "LineAmountTypes": "Exclusive",
            "LineItems": self._lines(tenant, "invoice", n),
            "CurrencyCode": tenant.currency,
            "CurrencyRate": 1.0,
            "HasAttachments": False,
        }
        return _Document("Invoices", self._totals(data), updated)

    def _credit_note(
        self, tenant: Tenant, n: int, kind: str = "ACCRECCREDIT", status: str | None = None
    ) -> _Document:
        day = (EPOCH + dt.timedelta(days=5 * n)).date()
        updated = self._tick(6 * 60) if status is None else self._tick()
        data: dict[str, Any] = {
            "Type": kind,
            "CreditNoteID": _id(tenant.key, "credit", n),
            "CreditNoteNumber": f"CN-{n:04d}",
            "Contact": {
                "ContactID": _id(tenant.key, "contact", n % 7),
                "Name": f"Customer {n % 7}",
            },
            **self._dates(tenant, day),
            "Status": status or CREDIT_STATUS_CYCLE[n % len(CREDIT_STATUS_CYCLE)],
            "LineAmountTypes": "Exclusive",
            "LineItems": self._lines(tenant, "credit", n)[:1],
            "CurrencyCode": tenant.currency,
            "RemainingCredit": 0.0,
        }
        return _Document("CreditNotes", self._totals(data), updated)

    @staticmethod
    def _totals(data: dict[str, Any]) -> dict[str, Any]:
        sub = round(sum(line.get("LineAmount", 0.0) for line in data["LineItems"]), 2)
        data |= {"SubTotal": sub, "TotalTax": round(sub * 0.15, 2)}
        data["Total"] = round(sub + data["TotalTax"], 2)
        return data

    def _render(self, document: _Document, *, with_lines: bool) -> dict[str, Any]:
        data = json.loads(json.dumps(document.data))
        data["UpdatedDateUTC"] = ms_date(document.updated)
        if not with_lines:
            data.pop("LineItems", None)
        return data

    def documents(self, tenant: Tenant, kind: str = "Invoices") -> list[dict[str, Any]]:
        """Every document of ``kind`` as a paged list serves it, in the list's order."""
        with self._lock:
            found = sorted(
                (d for d in self._documents[tenant.key].values() if d.kind == kind),
                key=lambda d: (d.updated, d.id),
            )
            return [self._render(d, with_lines=True) for d in found]

    def document(self, tenant: Tenant, number: str) -> dict[str, Any]:
        """The invoice or credit note numbered ``number`` (INV-0001, CN-0001), as served."""
        with self._lock:
            return self._render(self._find(tenant, number), with_lines=True)

    def _find(self, tenant: Tenant, number: str) -> _Document:
        for doc in self._documents[tenant.key].values():
            if number in (doc.data.get("InvoiceNumber"), doc.data.get("CreditNoteNumber")):
                return doc
        raise KeyError(number)

    # -- changes between syncs --------------------------------------------

    def set_status(self, tenant: Tenant, number: str, status: str) -> None:
        """Move a document to ``status`` (void, delete, approve...), updated now."""
        with self._lock:
            doc = self._find(tenant, number)
            doc.data["Status"] = status
            doc.updated = self._tick()

    def set_quantity(self, tenant: Tenant, number: str, quantity: float, line: int = 0) -> None:
        """Change one line's quantity, updated now."""
        with self._lock:
            doc = self._find(tenant, number)
            item = doc.data["LineItems"][line]
            item["Quantity"] = quantity
            item["LineAmount"] = round(quantity * item["UnitAmount"], 2)
            self._totals(doc.data)
            doc.updated = self._tick()

    def add_invoice(self, tenant: Tenant, status: str = "AUTHORISED") -> str:
        """A new sales invoice; returns its number."""
        with self._lock:
            n = 1 + sum(1 for d in self._documents[tenant.key].values() if d.kind == "Invoices")
            doc = self._invoice(tenant, n, status=status)
            self._documents[tenant.key][doc.id] = doc
            return str(doc.data["InvoiceNumber"])

    def add_credit_note(self, tenant: Tenant, status: str = "AUTHORISED") -> str:
        """A new sales credit note; returns its number."""
        with self._lock:
            n = 1 + sum(1 for d in self._documents[tenant.key].values() if d.kind == "CreditNotes")
            doc = self._credit_note(tenant, n, status=status)
            self._documents[tenant.key][doc.id] = doc
            return str(doc.data["CreditNoteNumber"])

    # -- sign-in -------------------------------------------------------------

    def grant(
        self,
        tenants: Iterable[Tenant] = (HARBOUR, KAURI),
        *,
        scopes: Iterable[str] = SCOPES,
        lifetime: float = ACCESS_LIFETIME,
    ) -> Grant:
        """A sign-in reaching ``tenants`` with ``scopes``: fresh access and refresh tokens."""
        grant = Grant(
            tenants=[tenant.key for tenant in tenants],
            scopes=set(scopes),
            access_token=secrets.token_urlsafe(32),
            refresh_token=secrets.token_urlsafe(32),
            expires_at=time.time() + lifetime,
        )
        with self._lock:
            self._grants.append(grant)
        return grant

    def expire_tokens(self) -> None:
        """Every access token expires now (Xero answers 401 ``TokenExpired``)."""
        with self._lock:
            for grant in self._grants:
                grant.expires_at = time.time() - 1

    def revoke_scope(self, scope: str) -> None:
        """Take ``scope`` away from every grant, refresh included (the user's choice)."""
        with self._lock:
            for grant in self._grants:
                grant.scopes.discard(scope)

    def disconnect(self, tenant: Tenant) -> None:
        """The organisation removes the app's connection (403 from then on)."""
        with self._lock:
            for grant in self._grants:
                if tenant.key in grant.tenants:
                    grant.tenants.remove(tenant.key)

    def revoke(self) -> None:
        """Every grant is revoked: tokens and refresh tokens are refused."""
        with self._lock:
            for grant in self._grants:
                grant.revoked = True

    def _grant_for(self, request: Request) -> Grant | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        if not token:
            return None
        with self._lock:
            for grant in self._grants:
                if grant.access_token == token and not grant.revoked:
                    return grant
        return None

    # -- limits and faults ---------------------------------------------------

    def rate_limit_storm(self, count: int, *, retry_after: int = 1) -> None:
        """The next ``count`` API calls are answered 429 (minute limit)."""
        with self._lock:
            self._storm = [count, retry_after]

    def use_up_day(self, tenant: Tenant, leave: int = 0) -> None:
        """Leave only ``leave`` calls of the organisation's day."""
        with self._lock:
            self._usage[tenant.key].day = self.day_limit - leave

    def _limit(self, tenant: Tenant) -> tuple[Response | None, dict[str, str]]:
        """Count a call against the limits; the 429 to send instead, and the headers."""
        now = time.monotonic()
        with self._lock:
            usage = self._usage[tenant.key]
            for window in (usage.minute, self._app_minute):
                while window and window[0] <= now - self.window:
                    window.popleft()
            refusal: tuple[str, int] | None = None
            if self._storm[0] > 0:
                self._storm[0] -= 1
                refusal = ("minute", self._storm[1])
            elif usage.day >= self.day_limit:
                refusal = ("day", self.day_reset_seconds)
            elif len(usage.minute) >= self.minute_limit:
                wait = usage.minute[0] + self.window - now
                refusal = ("minute", max(1, math.ceil(wait)))
            elif len(self._app_minute) >= self.app_minute_limit:
                refusal = ("appminute", max(1, math.ceil(self._app_minute[0] + self.window - now)))
            else:
                usage.minute.append(now)
                self._app_minute.append(now)
                usage.day += 1
            headers = {
                "X-MinLimit-Remaining": str(max(0, self.minute_limit - len(usage.minute))),
                "X-DayLimit-Remaining": str(max(0, self.day_limit - usage.day)),
                "X-AppMinLimit-Remaining": str(
                    max(0, self.app_minute_limit - len(self._app_minute))
                ),
            }
        if refusal is None:
            return None, headers
        problem, retry_after = refusal
        headers |= {"Retry-After": str(retry_after), "X-Rate-Limit-Problem": problem}
        return Response(b"", 429, headers=headers), headers

    # -- HTTP ------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path
        if path == TOKEN_PATH:
            response = self._token(request)
        elif path.lower() == CONNECTIONS_PATH:
            response = self._connections(request)
        elif path.startswith(API_PREFIX + "/"):
            response = self._api(request, path[len(API_PREFIX) + 1 :])
        else:
            response = _problem(404, "Not Found", f"No route for {path}")
        return response(environ, start_response)

    def _connections(self, request: Request) -> Response:
        grant = self._grant_for(request)
        if grant is None or grant.expires_at < time.time():
            return _problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        return _json(
            200,
            [
                {
                    "id": _id("connection", grant.auth_event_id, key),
                    "authEventId": grant.auth_event_id,
                    "tenantId": TENANTS[key].tenant_id,
                    "tenantType": TENANTS[key].tenant_type,
                    "tenantName": TENANTS[key].name,
                    "createdDateUtc": "2024-03-07T18:46:19.5165400",
                    "updatedDateUtc": "2024-03-07T18:46:19.5187840",
                }
                for key in grant.tenants
            ],
        )

    def _api(self, request: Request, resource: str) -> Response:
        started = time.monotonic()
        ids: tuple[str, ...] = ()
        response = self._check_caller(request, resource)
        if response is None:
            tenant = self._tenant_of(request)
            assert tenant is not None
            refusal, headers = self._limit(tenant)
            if refusal is not None:
                response = refusal
            else:
                response, ids = self._resource(request, tenant, resource)
                response.headers.update(headers)
        with self._lock:
            self.log.append(
                Served(
                    "/" + resource,
                    dict(request.args.items()),
                    dict(request.headers.items()),
                    response.status_code,
                    started,
                    time.monotonic(),
                    ids,
                )
            )
        return response

    def _tenant_of(self, request: Request) -> Tenant | None:
        given = (request.headers.get("xero-tenant-id") or "").strip().lower()
        return next((t for t in TENANTS.values() if t.tenant_id == given), None)

    def _check_caller(self, request: Request, resource: str) -> Response | None:
        grant = self._grant_for(request)
        if grant is None:
            return _problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        if grant.expires_at < time.time():
            when = dt.datetime.fromtimestamp(grant.expires_at, dt.UTC)
            return _problem(
                401, "Unauthorized", f"TokenExpired: token expired at {when:%m/%d/%Y %H:%M:%S}"
            )
        tenant = self._tenant_of(request)
        if tenant is None or tenant.key not in grant.tenants:
            return _problem(403, "Forbidden", "AuthenticationUnsuccessful")
        needed = SETTINGS_SCOPES if resource.lower() == "organisation" else TRANSACTIONS_SCOPES
        if not needed & grant.scopes:
            return _problem(401, "Unauthorized", "AuthorizationUnsuccessful")
        return None

    def _resource(
        self, request: Request, tenant: Tenant, resource: str
    ) -> tuple[Response, tuple[str, ...]]:
        kind = {"organisation": None, "invoices": "Invoices", "creditnotes": "CreditNotes"}
        if resource.lower() not in kind:
            return _problem(404, "Not Found", f"The resource {resource} was not found"), ()
        name = kind[resource.lower()]
        if name is None:
            return self._organisation(tenant), ()
        try:
            return self._list(request, tenant, name)
        except ValueError as exc:
            body = {
                "ErrorNumber": 16,
                "Type": "QueryParseException",
                "Message": str(exc),
            }
            return _json(400, body), ()

    def _envelope(self, **members: Any) -> dict[str, Any]:
        return {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": "AccuPredix fake",
            "DateTimeUTC": ms_date(dt.datetime.now(dt.UTC)),
            **members,
        }

    def _organisation(self, tenant: Tenant) -> Response:
        organisation = {
            "APIKey": "",
            "Name": tenant.name,
            "LegalName": f"{tenant.name} Limited",
            "PaysTax": True,
            "Version": tenant.country,
            "OrganisationType": "COMPANY",
            "BaseCurrency": tenant.currency,
            "CountryCode": tenant.country,
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 3,
            "DefaultSalesTax": "Tax Exclusive",
            "OrganisationID": tenant.tenant_id,
            "ShortCode": "!" + tenant.key[:5],
            "CreatedDateUTC": ms_date(EPOCH),
        }
        return _json(200, self._envelope(Organisations=[organisation]))

    def _list(
        self, request: Request, tenant: Tenant, kind: str
    ) -> tuple[Response, tuple[str, ...]]:
        args = request.args
        since = _since(request.headers.get("If-Modified-Since"))
        types, statuses = _where(args.get("where", ""))
        if "Statuses" in args:
            statuses = {s.strip().upper() for s in args["Statuses"].split(",") if s.strip()}
        order = (args.get("order") or "UpdatedDateUTC").strip()
        if order not in ("UpdatedDateUTC", "UpdatedDateUTC ASC"):
            raise ValueError(f"This fake orders by UpdatedDateUTC only, not {order!r}")
        with self._lock:
            found = sorted(
                (
                    doc
                    for doc in self._documents[tenant.key].values()
                    if doc.kind == kind
                    and (not types or doc.data["Type"] in types)
                    and (statuses is None or doc.data["Status"] in statuses)
                    and (statuses is not None or doc.data["Status"] != "DELETED")
                    and (since is None or doc.updated > since)
                ),
                key=lambda doc: (doc.updated, doc.id),
            )
            members: dict[str, Any] = {}
            paged = "page" in args
            if paged:
                page = int(args["page"])
                size = int(args.get("pageSize", 100)) if kind == "Invoices" else 100
                if page < 1 or not 1 <= size <= 1000:
                    raise ValueError("page must be 1 or more and pageSize 1 to 1000")
                if kind == "Invoices":
                    members["pagination"] = {
                        "page": page,
                        "pageSize": size,
                        "pageCount": max(1, math.ceil(len(found) / size)),
                        "itemCount": len(found),
                    }
                found = found[(page - 1) * size : page * size]
            rendered = [self._render(doc, with_lines=paged) for doc in found]
        members[kind] = rendered
        return _json(200, self._envelope(**members)), tuple(doc.id for doc in found)

    def _token(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        if request.method != "POST":
            return _json(405, {"error": "invalid_request"})
        form = request.form
        client = _basic(request.headers.get("Authorization", "")) or (
            form.get("client_id"),
            form.get("client_secret"),
        )
        if client != (CLIENT_ID, CLIENT_SECRET):
            return _json(400, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            return _json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            grant = next(
                (
                    g
                    for g in self._grants
                    if g.refresh_token == form.get("refresh_token") and not g.revoked
                ),
                None,
            )
            if grant is None:
                return _json(400, {"error": "invalid_grant"})
            grant.access_token = secrets.token_urlsafe(32)
            grant.refresh_token = secrets.token_urlsafe(32)
            grant.expires_at = time.time() + ACCESS_LIFETIME
            body = {
                "access_token": grant.access_token,
                "expires_in": ACCESS_LIFETIME,
                "token_type": "Bearer",
                "refresh_token": grant.refresh_token,
                "scope": " ".join(sorted(grant.scopes)),
            }
        return _json(200, body, {"Cache-Control": "no-store"})


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


_CONDITION = re.compile(r'^\s*(Type|Status)\s*==?\s*"([A-Z]+)"\s*$')


def _where(text: str) -> tuple[set[str], set[str] | None]:
    """The types and statuses a ``where`` of ``Type==".."``/``Status==".."`` terms asks for."""
    types: set[str] = set()
    statuses: set[str] | None = None
    if not text.strip():
        return types, statuses
    for term in re.split(r"\s+AND\s+", text.strip(), flags=re.IGNORECASE):
        found = _CONDITION.match(term)
        if found is None:
            raise ValueError(f"This fake cannot filter on {term!r}")
        if found.group(1) == "Type":
            types.add(found.group(2))
        else:
            statuses = (statuses or set()) | {found.group(2)}
    return types, statuses


def _since(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(text)  # raises ValueError too
        moment = parsed
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


@contextmanager
def serve_xero(**options: Any) -> Iterator[FakeXero]:
    """Run a :class:`FakeXero` for the duration of the ``with`` block."""
    xero = FakeXero(**options)
    with xero:
        yield xero
