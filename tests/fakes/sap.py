"""Fake SAP S/4HANA Sales Order API (OData v2) and SAP Business One Service Layer.

Each is a real HTTP server on 127.0.0.1 answering as SAP's documentation and
the payloads integrators publish show::

    with serve_s4hana(orders=23, page_cap=4) as s4:
        s4.url            # the host; the service is under SERVICE_PATH
        s4.settings()     # the sap_s4hana connector's settings (Basic auth)
        s4.oauth_settings()

    with serve_service_layer(invoices=30) as b1:       # tls=True: HTTPS, self-signed
        b1.url            # https?://127.0.0.1:port (the Service Layer is under /b1s/v1)
        b1.settings()     # the sap_business_one connector's settings

S/4HANA (:class:`FakeS4Hana`): ``A_SalesOrder`` with ``$expand=to_Item``,
``$filter`` (comparisons, ``and``, ``or``, parentheses; ``datetimeoffset'...'``
and string literals), ``$orderby=SalesOrder``, ``$top``, ``$skip``,
``$select``, ``$inlinecount=allpages`` (``__count``), server-side paging that
caps a response at ``page_cap`` orders and continues with ``__next`` and a
numeric ``$skiptoken``, v2 JSON (``{"d": {"results": [...]}}``, ``__metadata``,
``__deferred`` navigation properties, decimals as text, ``/Date(ms)/`` and
``/Date(ms+0000)/``), and an EDMX ``$metadata`` with ``sap:`` annotations and
the key-user fields ``YY1_SalesChannel_SDH`` (header) and ``YY1_PromoCode_SDI``
(item). Auth: Basic with a communication user, or a bearer token from the
OAuth token endpoint (``POST /sap/bc/sec/oauth2/token``, client credentials by
Basic auth, errors as ``{"error", "error_description"}``); ``sap-client``
picks the client (``100``, the default). Errors are Gateway's
``{"error": {"code", "message": {"lang", "value"}}}``: 404
``/IWFND/MED/170`` for an inactive service (its documented wording); the 403
for a missing authorisation and the 401 for an unknown client are modelled,
their exact wording not being published. A 401 for bad credentials has no
body, as S/4HANA Cloud sends it.

Service Layer (:class:`FakeServiceLayer`): ``POST Login`` (``CompanyDB``,
``UserName``, ``Password``) answering ``SessionId``, ``Version`` and
``SessionTimeout`` with the ``B1SESSION`` and ``ROUTEID`` cookies; ``POST
Logout``; sessions that end after ``session_requests`` requests (to exercise
re-login) with 401 and code 301 "Invalid session or session already
timeout."; ``Orders``, ``Invoices`` and ``CreditNotes`` with ``DocumentLines``
and user-defined fields (``U_SalesChannel``, ``U_BinLocation``), ``$filter``
(``UpdateDate ge '2024-03-01'`` in v1, bare dates in v2), ``$orderby``,
``$select``, ``$top``, ``$skip``, pages of ``Prefer: odata.maxpagesize`` (20
by default) continued by ``odata.nextLink`` (v1) or ``@odata.nextLink`` (v2),
and ``$metadata`` (v3 CSDL for v1, v4 for v2). A refused login answers 401
with code -304 "Fail to get DB Credentials from SLD"; the answers to an
unknown company database and to a refused permission are modelled.

Both: ``fail_with_429(count, retry_after="1", at=None)``,
``fail_with_5xx(count, status=503, at=None)`` for a burst of faults from the
next request (or request number ``at``), ``log`` (one :class:`Served` per
request), ``reset_log()``; the data changes between syncs with ``touch(...)``
and ``add_...(n)``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

SERVICE_PATH = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
TOKEN_PATH = "/sap/bc/sec/oauth2/token"
S4_USER = "COMM_USER_DEMAND"
S4_PASSWORD = "Xq7-fake-comm-user-password-2024"
S4_CLIENT = "100"
OAUTH_CLIENT_ID = "DEMAND_OAUTH_CLIENT"
OAUTH_CLIENT_SECRET = "s3cr3t-fake-oauth-client-secret-ABCDEF"
COMPANY_DB = "SBODEMOUS"
B1_USER = "manager"
B1_PASSWORD = "B1-fake-manager-password!"
MATERIALS = ("TG11", "TG12", "TG13", "FG126", "FG228", "MZ-FG-C990", "MZ-FG-R100")
PLANTS = ("1010", "1710")
CHANNELS = ("10", "20")
ITEM_CODES = ("A00001", "A00002", "A00003", "A00004", "C00001", "C00002")
WAREHOUSES = ("01", "02")
BASE_TIME = dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)
S4_STEP = dt.timedelta(minutes=7)
# Business One documents change 97 minutes apart: the history spans several days.
B1_STEP = dt.timedelta(minutes=97)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# -- what both fakes share ---------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """One request as a fake answered it."""

    number: int
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    started: float
    ended: float
    # The credential the request carried: Basic user, bearer token or session id.
    credential: str | None = None


@dataclass
class _Fault:
    status: int
    count: int
    at: int | None
    retry_after: str | None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=str),
        status=status,
        headers=headers or {},
        content_type="application/json",
    )


def sap_error(status: int, code: Any, text: str, lang: str = "en") -> Response:
    """An error in the shape both SAP services send."""
    return _json({"error": {"code": code, "message": {"lang": lang, "value": text}}}, status)


class _FakeServer:
    """Request log and fault bursts; subclasses answer in ``_answer``."""

    def __init__(self) -> None:
        self.log: list[Served] = []
        self.url = ""
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        with self._lock:
            self._requests += 1
            number = self._requests
        fault = self._fault(number)
        response, credential = (fault, None) if fault is not None else self._answer(request)
        with self._lock:
            self.log.append(
                Served(
                    number,
                    request.method,
                    request.path,
                    dict(request.args.items()),
                    dict(request.headers.items()),
                    response.status_code,
                    started,
                    time.monotonic(),
                    credential,
                )
            )
        return response(environ, start_response)

    def _answer(self, request: Request) -> tuple[Response, str | None]:
        raise NotImplementedError

    def fail_with_429(
        self, count: int, retry_after: str | None = "1", at: int | None = None
    ) -> None:
        with self._lock:
            self._faults.append(_Fault(429, count, at, retry_after))

    def fail_with_5xx(self, count: int, status: int = 503, at: int | None = None) -> None:
        with self._lock:
            self._faults.append(_Fault(status, count, at, None))

    def _fault(self, number: int) -> Response | None:
        with self._lock:
            for fault in self._faults:
                if fault.count > 0 and (fault.at is None or number >= fault.at):
                    fault.count -= 1
                    break
            else:
                return None
        if fault.status == 429:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            response = sap_error(429, "429", "Too many requests; try again later.")
            response.headers.update(headers)
            return response
        return sap_error(fault.status, "503", "The service is temporarily unavailable.")

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def requests_to(self, suffix: str) -> list[Served]:
        with self._lock:
            return [s for s in self.log if s.path.endswith(suffix)]


# -- $filter -------------------------------------------------------------------------


class BadFilter(ValueError):
    """A $filter outside the subset the fakes understand."""


_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<typed>(?:datetimeoffset|datetime)'[^']*')"
    r"|(?P<string>'(?:[^']|'')*')|(?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>[A-Za-z_][A-Za-z0-9_/]*))"
)
_COMPARE = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
Predicate = Callable[[Callable[[str], Any]], bool]


def _tokens(text: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if text[position:].strip():
                raise BadFilter(f"unexpected text at position {position + 1}")
            break
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'")
    if kind == "typed":
        raw = text[text.index("'") + 1 : -1]
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "number":
        return Decimal(text)
    raise BadFilter(f"expected a literal, found {text!r}")


def parse_filter(text: str) -> Predicate:
    """A predicate over a property getter for the $filter subset of both services."""
    tokens = _tokens(text)
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise BadFilter("the expression ends too early")
        position += 1
        return tokens[position - 1]

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == ("word", "or"):
            take()
            parts.append(conjunction())
        return lambda get: any(part(get) for part in parts)

    def conjunction() -> Predicate:
        parts = [primary()]
        while peek() == ("word", "and"):
            take()
            parts.append(primary())
        return lambda get: all(part(get) for part in parts)

    def primary() -> Predicate:
        kind, text = take()
        if kind == "open":
            inner = disjunction()
            if take()[0] != "close":
                raise BadFilter("a parenthesis is not closed")
            return inner
        if kind != "word":
            raise BadFilter(f"expected a property, found {text!r}")
        operator = take()[1]
        if operator not in _COMPARE:
            raise BadFilter(f"unknown operator {operator!r}")
        value = _literal(*take())
        compare = _COMPARE[operator]

        def test(get: Callable[[str], Any]) -> bool:
            found = get(text)
            if found is None:
                return False
            other = value
            is_day = isinstance(found, dt.date) and not isinstance(found, dt.datetime)
            if is_day and isinstance(other, str):
                other = dt.date.fromisoformat(other[:10])
            try:
                return bool(compare(found, other))
            except TypeError:
                raise BadFilter(f"{text} cannot be compared with {other!r}") from None

        return test

    predicate = disjunction()
    if position != len(tokens):
        raise BadFilter(f"unexpected {tokens[position][1]!r}")
    return predicate


# -- S/4HANA -------------------------------------------------------------------------


def v2_date(moment: dt.date | dt.datetime) -> str:
    """``/Date(ms)/`` for a date, ``/Date(ms+0000)/`` for an aware datetime."""
    if isinstance(moment, dt.datetime):
        millis = round((moment - _EPOCH).total_seconds() * 1000)
        return f"/Date({millis}+0000)/"
    millis = round((dt.datetime.combine(moment, dt.time(), dt.UTC) - _EPOCH).total_seconds() * 1000)
    return f"/Date({millis})/"


_S4_HEADER_TYPES = {
    "SalesOrder": ("Edm.String", "Sales Order"),
    "SalesOrderType": ("Edm.String", "Sales Document Type"),
    "SalesOrganization": ("Edm.String", "Sales Organization"),
    "DistributionChannel": ("Edm.String", "Distribution Channel"),
    "OrganizationDivision": ("Edm.String", "Division"),
    "SoldToParty": ("Edm.String", "Sold-to Party"),
    "CreationDate": ("Edm.DateTime", "Created On"),
    "SalesOrderDate": ("Edm.DateTime", "Document Date"),
    "LastChangeDate": ("Edm.DateTime", "Changed On"),
    "LastChangeDateTime": ("Edm.DateTimeOffset", "Last Changed"),
    "TransactionCurrency": ("Edm.String", "Document Currency"),
    "TotalNetAmount": ("Edm.Decimal", "Net Value"),
    "OverallSDProcessStatus": ("Edm.String", "Overall Status"),
    "YY1_SalesChannel_SDH": ("Edm.String", "Sales Channel"),
}
_S4_ITEM_TYPES = {
    "SalesOrder": ("Edm.String", "Sales Order"),
    "SalesOrderItem": ("Edm.String", "Item"),
    "SalesOrderItemCategory": ("Edm.String", "Item Category"),
    "SalesOrderItemText": ("Edm.String", "Item Description"),
    "Material": ("Edm.String", "Material"),
    "RequestedQuantity": ("Edm.Decimal", "Order Quantity"),
    "RequestedQuantityUnit": ("Edm.String", "Sales Unit"),
    "NetAmount": ("Edm.Decimal", "Net Value"),
    "TransactionCurrency": ("Edm.String", "Document Currency"),
    "Plant": ("Edm.String", "Plant"),
    "StorageLocation": ("Edm.String", "Storage Location"),
    "SDProcessStatus": ("Edm.String", "Overall Status"),
    "SalesDocumentRjcnReason": ("Edm.String", "Reason for Rejection"),
    "PricingDate": ("Edm.DateTime", "Pricing Date"),
    "YY1_PromoCode_SDI": ("Edm.String", "Promotion Code"),
}


def _edmx_properties(types: dict[str, tuple[str, str]]) -> str:
    lines = []
    for name, (edm, label) in types.items():
        extra = ' Precision="15" Scale="3"' if edm == "Edm.Decimal" else ""
        extra += ' Precision="0" sap:display-format="Date"' if edm == "Edm.DateTime" else ""
        extra += ' Precision="7"' if edm == "Edm.DateTimeOffset" else ""
        lines.append(f'<Property Name="{name}" Type="{edm}"{extra} sap:label="{label}"/>')
    return "\n        ".join(lines)


S4_METADATA = f"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"
  xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
  xmlns:sap="http://www.sap.com/Protocols/SAPData">
  <edmx:DataServices m:DataServiceVersion="2.0">
    <Schema Namespace="API_SALES_ORDER_SRV" xml:lang="en" sap:schema-version="1"
      xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
      <EntityType Name="A_SalesOrderType" sap:content-version="1">
        <Key><PropertyRef Name="SalesOrder"/></Key>
        {_edmx_properties(_S4_HEADER_TYPES)}
        <NavigationProperty Name="to_Item" Relationship="API_SALES_ORDER_SRV.assoc_Item"
          FromRole="FromRole_assoc_Item" ToRole="ToRole_assoc_Item"/>
      </EntityType>
      <EntityType Name="A_SalesOrderItemType" sap:content-version="1">
        <Key><PropertyRef Name="SalesOrder"/><PropertyRef Name="SalesOrderItem"/></Key>
        {_edmx_properties(_S4_ITEM_TYPES)}
        <NavigationProperty Name="to_SalesOrder" Relationship="API_SALES_ORDER_SRV.assoc_Header"
          FromRole="FromRole_assoc_Header" ToRole="ToRole_assoc_Header"/>
      </EntityType>
      <Association Name="assoc_Item" sap:content-version="1">
        <End Type="API_SALES_ORDER_SRV.A_SalesOrderType" Multiplicity="1"
          Role="FromRole_assoc_Item"/>
        <End Type="API_SALES_ORDER_SRV.A_SalesOrderItemType" Multiplicity="*"
          Role="ToRole_assoc_Item"/>
      </Association>
      <Association Name="assoc_Header" sap:content-version="1">
        <End Type="API_SALES_ORDER_SRV.A_SalesOrderItemType" Multiplicity="*"
          Role="FromRole_assoc_Header"/>
        <End Type="API_SALES_ORDER_SRV.A_SalesOrderType" Multiplicity="1"
          Role="ToRole_assoc_Header"/>
      </Association>
      <EntityContainer Name="API_SALES_ORDER_SRV_Entities" m:IsDefaultEntityContainer="true"
        sap:supported-formats="atom json xlsx">
        <EntitySet Name="A_SalesOrder" EntityType="API_SALES_ORDER_SRV.A_SalesOrderType"
          sap:content-version="1"/>
        <EntitySet Name="A_SalesOrderItem" EntityType="API_SALES_ORDER_SRV.A_SalesOrderItemType"
          sap:content-version="1"/>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""


class FakeS4Hana(_FakeServer):
    """API_SALES_ORDER_SRV of one system, with its OAuth token endpoint."""

    def __init__(self, orders: int, *, page_cap: int = 1000, token_lifetime: int = 3600) -> None:
        super().__init__()
        self.page_cap = page_cap
        self.token_lifetime = token_lifetime
        self.users = {S4_USER: S4_PASSWORD}
        self.oauth_clients = {OAUTH_CLIENT_ID: OAUTH_CLIENT_SECRET}
        self.clients = {S4_CLIENT}
        self.service_active = True
        self.denied = False
        self.token_requests = 0
        self._tokens: dict[str, float] = {}
        self._clock = BASE_TIME
        self.orders: list[dict[str, Any]] = []
        self.add_orders(orders)

    # -- data --

    def _tick(self) -> dt.datetime:
        self._clock += S4_STEP
        return self._clock

    def add_orders(self, count: int) -> list[dict[str, Any]]:
        """New orders, each with one to four items (a text item on every fifth order)."""
        added = []
        with self._lock:
            for _ in range(count):
                number = len(self.orders)
                changed = self._tick()
                currency = "EUR" if number % 3 else "USD"
                order: dict[str, Any] = {
                    "SalesOrder": str(1000000 + number),
                    "SalesOrderType": "OR",
                    "SalesOrganization": "1010",
                    "DistributionChannel": CHANNELS[number % 2],
                    "OrganizationDivision": "00",
                    "SoldToParty": f"1710000{number % 4 + 1}",
                    "CreationDate": (changed - dt.timedelta(days=1)).date(),
                    "SalesOrderDate": (changed - dt.timedelta(days=1)).date(),
                    "LastChangeDate": changed.date(),
                    "LastChangeDateTime": changed,
                    "TransactionCurrency": currency,
                    "OverallSDProcessStatus": "A",
                    "YY1_SalesChannel_SDH": ("WEB", "STORE", "EDI")[number % 3],
                    "items": [],
                }
                for position in range(number % 4 + 1):
                    quantity = Decimal(position + number % 5 + 1)
                    order["items"].append(
                        {
                            "SalesOrder": order["SalesOrder"],
                            "SalesOrderItem": str((position + 1) * 10),
                            "SalesOrderItemCategory": "TAN",
                            "SalesOrderItemText": f"Item {position} of {order['SalesOrder']}",
                            "Material": MATERIALS[(number + position) % len(MATERIALS)],
                            "RequestedQuantity": quantity,
                            "RequestedQuantityUnit": "PC",
                            "NetAmount": quantity * Decimal("12.50"),
                            "TransactionCurrency": currency,
                            "Plant": PLANTS[position % 2],
                            "StorageLocation": "101A",
                            "SDProcessStatus": ("A", "B", "C")[(number + position) % 3],
                            "SalesDocumentRjcnReason": "10" if (number + position) % 7 == 3 else "",
                            "PricingDate": order["SalesOrderDate"],
                            "YY1_PromoCode_SDI": f"PROMO{position}",
                        }
                    )
                if number % 5 == 4:
                    order["items"].append(
                        {
                            "SalesOrder": order["SalesOrder"],
                            "SalesOrderItem": "900",
                            "SalesOrderItemCategory": "TATX",
                            "SalesOrderItemText": "Delivery instructions",
                            "Material": "",
                            "RequestedQuantity": Decimal(0),
                            "RequestedQuantityUnit": "",
                            "NetAmount": Decimal(0),
                            "TransactionCurrency": currency,
                            "Plant": "",
                            "StorageLocation": "",
                            "SDProcessStatus": "",
                            "SalesDocumentRjcnReason": "",
                            "PricingDate": order["SalesOrderDate"],
                            "YY1_PromoCode_SDI": "",
                        }
                    )
                self.orders.append(order)
                added.append(order)
        return added

    def touch(self, numbers: Iterable[str]) -> None:
        """Change orders: one more unit on their first item, and a new change time."""
        with self._lock:
            for order in self.orders:
                if order["SalesOrder"] in set(numbers):
                    order["items"][0]["RequestedQuantity"] += 1
                    order["LastChangeDateTime"] = self._tick()
                    order["LastChangeDate"] = order["LastChangeDateTime"].date()

    def reject(self, number: str, item: str, reason: str = "02") -> None:
        with self._lock:
            for order in self.orders:
                if order["SalesOrder"] == number:
                    for line in order["items"]:
                        if line["SalesOrderItem"] == item:
                            line["SalesDocumentRjcnReason"] = reason
                    order["LastChangeDateTime"] = self._tick()

    def item_lines(self) -> dict[tuple[str, str], Decimal]:
        """Quantities of the items that name a material, by (order, item)."""
        with self._lock:
            return {
                (order["SalesOrder"], item["SalesOrderItem"]): item["RequestedQuantity"]
                for order in self.orders
                for item in order["items"]
                if item["Material"]
            }

    def changed_after(self, moment: dt.datetime) -> set[str]:
        with self._lock:
            return {o["SalesOrder"] for o in self.orders if o["LastChangeDateTime"] > moment}

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    # -- rendering --

    def _entity(self, order: dict[str, Any], expand: bool, select: set[str] | None) -> dict:
        base = f"{self.url}{SERVICE_PATH}"
        key = f"A_SalesOrder('{order['SalesOrder']}')"
        out: dict[str, Any] = {
            "__metadata": {
                "id": f"{base}/{key}",
                "uri": f"{base}/{key}",
                "type": "API_SALES_ORDER_SRV.A_SalesOrderType",
                "etag": f"W/\"datetimeoffset'{order['LastChangeDateTime'].isoformat()}'\"",
            }
        }
        for name in _S4_HEADER_TYPES:
            if select is None or name in select:
                out[name] = _v2_value(order.get(name), _S4_HEADER_TYPES[name][0])
        if "TotalNetAmount" in out:
            out["TotalNetAmount"] = str(sum((i["NetAmount"] for i in order["items"]), Decimal(0)))
        if expand:
            out["to_Item"] = {"results": [self._item(i) for i in order["items"]]}
        elif select is None:
            out["to_Item"] = {"__deferred": {"uri": f"{base}/{key}/to_Item"}}
        return out

    def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        base = f"{self.url}{SERVICE_PATH}"
        key = (
            f"A_SalesOrderItem(SalesOrder='{item['SalesOrder']}',"
            f"SalesOrderItem='{item['SalesOrderItem']}')"
        )
        out: dict[str, Any] = {
            "__metadata": {
                "id": f"{base}/{key}",
                "uri": f"{base}/{key}",
                "type": "API_SALES_ORDER_SRV.A_SalesOrderItemType",
            }
        }
        for name, (edm, _) in _S4_ITEM_TYPES.items():
            out[name] = _v2_value(item.get(name), edm)
        out["to_SalesOrder"] = {"__deferred": {"uri": f"{base}/{key}/to_SalesOrder"}}
        return out

    # -- answering --

    def _credential(self, request: Request) -> tuple[str | None, str | None]:
        """(kind, credential) of a valid Authorization header; (None, None) otherwise."""
        auth = request.authorization
        if auth is None:
            return None, None
        if auth.type == "basic":
            user = auth.username or ""
            return ("basic", user) if self.users.get(user) == auth.password else (None, None)
        if auth.type == "bearer":
            token = auth.token or ""
            with self._lock:
                expiry = self._tokens.get(token)
            return ("bearer", token) if expiry and expiry > time.monotonic() else (None, None)
        return None, None

    def _answer(self, request: Request) -> tuple[Response, str | None]:  # noqa: PLR0911 - one per refusal
        if request.path == TOKEN_PATH:
            return self._token(request), None
        kind, credential = self._credential(request)
        if kind is None:
            realm = f'Basic realm="SAP NetWeaver Application Server [S4H/{S4_CLIENT}]"'
            return Response(status=401, headers={"WWW-Authenticate": realm}), None
        client = request.args.get("sap-client", S4_CLIENT)
        if client not in self.clients:
            # Modelled: the logon to a client the system lacks fails.
            return Response(
                f"Logon failed: client {client} is not available in this system",
                status=401,
                content_type="text/plain",
            ), credential
        if not request.path.startswith(SERVICE_PATH) or not self.service_active:
            return sap_error(
                404,
                "/IWFND/MED/170",
                "No service found for namespace '', name 'API_SALES_ORDER_SRV', version '0001'",
            ), credential
        if self.denied:
            return sap_error(
                403,
                "/IWFND/COD/004",
                f"User {credential} has no authorization to read sales orders",
            ), credential
        rest = request.path[len(SERVICE_PATH) :]
        if rest == "/$metadata":
            return Response(S4_METADATA, content_type="application/xml"), credential
        if rest != "/A_SalesOrder":
            return sap_error(
                404, "/IWBEP/CM_MGW_RT/021", f"Resource not found for segment '{rest}'"
            ), credential
        try:
            return self._orders(request), credential
        except BadFilter as exc:
            return sap_error(
                400, "/IWBEP/CM_MGW_RT/004", f"Invalid filter expression: {exc}"
            ), credential

    def _token(self, request: Request) -> Response:
        with self._lock:
            self.token_requests += 1
        auth = request.authorization
        client_id = unquote(auth.username or "") if auth and auth.type == "basic" else None
        secret = unquote(auth.password or "") if auth and auth.type == "basic" else None
        if request.method != "POST" or request.form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        if client_id is None or self.oauth_clients.get(client_id) != secret:
            return _json(
                {"error": "invalid_client", "error_description": "Bad client credentials"}, 401
            )
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
        return _json(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": "API_SALES_ORDER_SRV_0001",
            }
        )

    def _orders(self, request: Request) -> Response:
        args = request.args
        if args.get("$format", "json") != "json":
            return sap_error(400, "/IWBEP/CM_MGW_RT/006", "Only the JSON format is faked")
        with self._lock:
            rows = list(self.orders)
        if "$filter" in args:
            predicate = parse_filter(args["$filter"])
            rows = [row for row in rows if predicate(row.get)]
        orderby = args.get("$orderby")
        if orderby not in (None, "SalesOrder", "SalesOrder asc"):
            return sap_error(400, "/IWBEP/CM_MGW_RT/004", f"Unsupported $orderby {orderby}")
        rows.sort(key=lambda row: row["SalesOrder"])
        count = len(rows)
        rows = rows[int(args.get("$skip", 0)) :]
        if "$top" in args:
            rows = rows[: int(args["$top"])]
        start = int(args.get("$skiptoken", 0))
        page = rows[start : start + self.page_cap]
        expand = args.get("$expand")
        if expand not in (None, "to_Item"):
            return sap_error(400, "/IWBEP/CM_MGW_RT/005", f"Unsupported $expand {expand}")
        select = set(args["$select"].split(",")) if "$select" in args else None
        data: dict[str, Any] = {
            "results": [self._entity(row, expand == "to_Item", select) for row in page]
        }
        if args.get("$inlinecount") == "allpages":
            data["__count"] = str(count)
        if start + self.page_cap < len(rows):
            query = {k: v for k, v in args.items() if k not in ("$skiptoken", "sap-client")}
            query["$skiptoken"] = str(start + self.page_cap)
            data["__next"] = f"{self.url}{SERVICE_PATH}/A_SalesOrder?{urlencode(query)}"
        return _json({"d": data})

    def settings(self, **override: Any) -> dict[str, Any]:
        values = {
            "host": self.url,
            "sap_client": S4_CLIENT,
            "auth": "basic",
            "username": S4_USER,
            "password": S4_PASSWORD,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v is not None}

    def oauth_settings(self, **override: Any) -> dict[str, Any]:
        values = {
            "host": self.url,
            "auth": "oauth2_client_credentials",
            "token_url": f"{self.url}{TOKEN_PATH}",
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v is not None}


def _v2_value(value: Any, edm: str) -> Any:
    if value is None:
        return None
    if edm in ("Edm.DateTime", "Edm.DateTimeOffset"):
        return v2_date(value)
    if edm == "Edm.Decimal":
        return f"{Decimal(value):.3f}"
    return value


@contextmanager
def serve_s4hana(orders: int = 23, **options: Any) -> Iterator[FakeS4Hana]:
    fake = FakeS4Hana(orders, **options)
    with WsgiServer(fake) as server:
        fake.url = server.url
        yield fake


# -- Business One Service Layer ------------------------------------------------------

_B1_DOCUMENT = {
    "DocEntry": "Edm.Int32",
    "DocNum": "Edm.Int32",
    "DocType": "SAPB1.BoDocumentTypes",
    "DocDate": "Edm.DateTime",
    "DocDueDate": "Edm.DateTime",
    "CardCode": "Edm.String",
    "CardName": "Edm.String",
    "DocCurrency": "Edm.String",
    "DocTotal": "Edm.Double",
    "DocumentStatus": "SAPB1.BoStatus",
    "Cancelled": "SAPB1.BoYesNoEnum",
    "CancelStatus": "SAPB1.CancelStatusEnum",
    "DocObjectCode": "SAPB1.BoObjectTypes",
    "CreationDate": "Edm.DateTime",
    "UpdateDate": "Edm.DateTime",
    "UpdateTime": "Edm.Time",
    "U_SalesChannel": "Edm.String",
}
_B1_LINE = {
    "LineNum": "Edm.Int32",
    "ItemCode": "Edm.String",
    "ItemDescription": "Edm.String",
    "Quantity": "Edm.Double",
    "Price": "Edm.Double",
    "Currency": "Edm.String",
    "WarehouseCode": "Edm.String",
    "LineStatus": "SAPB1.BoStatus",
    "U_BinLocation": "Edm.String",
}
_B1_ENUMS = {
    "BoYesNoEnum": ("tNO", "tYES"),
    "BoStatus": ("bost_Open", "bost_Close", "bost_Paid", "bost_Delivered"),
    "BoDocumentTypes": ("dDocument_Items", "dDocument_Service"),
    "CancelStatusEnum": ("csYes", "csNo", "csCancellation"),
    "BoObjectTypes": ("oOrders", "oInvoices", "oCreditNotes"),
}
OBJECT_CODES = {"Orders": "oOrders", "Invoices": "oInvoices", "CreditNotes": "oCreditNotes"}


def b1_metadata(version: int) -> str:
    """The Service Layer's $metadata: OData v3 CSDL for /b1s/v1, v4 for /b1s/v2."""
    v4 = version == 2

    def props(types: dict[str, str]) -> str:
        rows = []
        renamed = {"Edm.DateTime": "Edm.Date", "Edm.Time": "Edm.TimeOfDay"} if v4 else {}
        for name, edm in types.items():
            rows.append(f'<Property Name="{name}" Type="{renamed.get(edm, edm)}"/>')
        return "".join(rows)

    enums = "".join(
        f'<EnumType Name="{name}">'
        + "".join(f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(members))
        + "</EnumType>"
        for name, members in _B1_ENUMS.items()
    )
    lines = '<Property Name="DocumentLines" Type="Collection(SAPB1.DocumentLine)"/>'
    expenses = (
        '<Property Name="DocumentAdditionalExpenses" '
        'Type="Collection(SAPB1.DocumentAdditionalExpense)"/>'
    )
    sets = "".join(
        f'<EntitySet Name="{name}" EntityType="SAPB1.Document"/>' for name in OBJECT_CODES
    )
    default = "" if v4 else ' m:IsDefaultEntityContainer="true"'
    schema = (
        f'<Schema Namespace="SAPB1" xmlns="{_b1_edm_ns(version)}">{enums}'
        f'<ComplexType Name="DocumentLine">{props(_B1_LINE)}</ComplexType>'
        '<ComplexType Name="DocumentAdditionalExpense"><Property Name="ExpenseCode" '
        'Type="Edm.Int32"/></ComplexType>'
        f'<EntityType Name="Document"><Key><PropertyRef Name="DocEntry"/></Key>'
        f"{props(_B1_DOCUMENT)}{lines}{expenses}</EntityType>"
        f'<EntityContainer Name="ServiceLayer"{default}>'
        f"{sets}</EntityContainer></Schema>"
    )
    if v4:
        return (
            '<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" '
            'xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
            f"{schema}</edmx:DataServices></edmx:Edmx>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" '
        'xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
        f'<edmx:DataServices m:DataServiceVersion="3.0">{schema}</edmx:DataServices></edmx:Edmx>'
    )


def _b1_edm_ns(version: int) -> str:
    if version == 2:
        return "http://docs.oasis-open.org/odata/ns/edm"
    return "http://schemas.microsoft.com/ado/2009/11/edm"


@dataclass
class _Session:
    company: str
    user: str
    requests: int = 0
    alive: bool = True


class FakeServiceLayer(_FakeServer):
    """The Service Layer of one server with the company database SBODEMOUS."""

    def __init__(
        self,
        *,
        orders: int = 0,
        invoices: int = 0,
        credit_notes: int = 0,
        session_requests: int | None = None,
    ) -> None:
        super().__init__()
        self.session_requests = session_requests
        self.companies = {COMPANY_DB}
        self.users = {B1_USER: B1_PASSWORD}
        self.denied: set[str] = set()
        self.sessions: dict[str, _Session] = {}
        self.logins = 0
        self.logouts = 0
        # The server certificate as a PEM file, when served over TLS.
        self.ca_file: str | None = None
        self._clock = dt.datetime(2024, 3, 1, 8, 0)
        self.documents: dict[str, list[dict[str, Any]]] = {name: [] for name in OBJECT_CODES}
        self.add_documents("Orders", orders)
        self.add_documents("Invoices", invoices)
        self.add_documents("CreditNotes", credit_notes)

    # -- data --

    def _tick(self) -> dt.datetime:
        self._clock += B1_STEP
        return self._clock

    def add_documents(self, entity_set: str, count: int) -> list[dict[str, Any]]:
        """New documents with one to three lines; every sixth is a service document."""
        added = []
        with self._lock:
            documents = self.documents[entity_set]
            for _ in range(count):
                number = len(documents)
                entry = number + 1
                changed = self._tick()
                service = number % 6 == 5
                cancelled = entity_set != "CreditNotes" and number % 8 == 6
                currency = "$" if number % 2 else "EUR"
                document: dict[str, Any] = {
                    "DocEntry": entry,
                    "DocNum": 5000 + entry,
                    "DocType": "dDocument_Service" if service else "dDocument_Items",
                    "DocDate": (changed - dt.timedelta(days=1)).date(),
                    "DocDueDate": (changed + dt.timedelta(days=30)).date(),
                    "CardCode": f"C2000{number % 3}",
                    "CardName": f"Customer {number % 3}",
                    "DocCurrency": currency,
                    "DocTotal": 0.0,
                    "DocumentStatus": "bost_Close" if number % 3 == 0 else "bost_Open",
                    "Cancelled": "tYES" if cancelled else "tNO",
                    "CancelStatus": "csYes" if cancelled else "csNo",
                    "DocObjectCode": OBJECT_CODES[entity_set],
                    "CreationDate": (changed - dt.timedelta(days=1)).date(),
                    "UpdateDate": changed.date(),
                    "UpdateTime": changed.time(),
                    "U_SalesChannel": ("WEB", "STORE", "PHONE")[number % 3],
                    "DocumentLines": [],
                }
                for line in range(number % 3 + 1):
                    quantity = float(line + number % 4 + 1)
                    document["DocumentLines"].append(
                        {
                            "LineNum": line,
                            "ItemCode": None if service else ITEM_CODES[(number + line) % 6],
                            "ItemDescription": f"Line {line} of {entity_set} {entry}",
                            "Quantity": quantity,
                            "Price": 19.5 + line,
                            "Currency": currency,
                            "WarehouseCode": WAREHOUSES[line % 2],
                            "LineStatus": document["DocumentStatus"],
                            "U_BinLocation": f"BIN-{line}",
                        }
                    )
                document["DocTotal"] = sum(
                    ln["Quantity"] * ln["Price"] for ln in document["DocumentLines"]
                )
                documents.append(document)
                added.append(document)
        return added

    def touch(self, entity_set: str, entries: Iterable[int]) -> None:
        """Change documents: one more unit on their first line, and a new update time."""
        wanted = set(entries)
        with self._lock:
            for document in self.documents[entity_set]:
                if document["DocEntry"] in wanted:
                    document["DocumentLines"][0]["Quantity"] += 1
                    changed = self._tick()
                    document["UpdateDate"], document["UpdateTime"] = changed.date(), changed.time()

    def cancel(self, entity_set: str, entry: int) -> None:
        with self._lock:
            for document in self.documents[entity_set]:
                if document["DocEntry"] == entry:
                    changed = self._tick()
                    document |= {
                        "Cancelled": "tYES",
                        "CancelStatus": "csYes",
                        "DocumentStatus": "bost_Close",
                        "UpdateDate": changed.date(),
                        "UpdateTime": changed.time(),
                    }

    def item_lines(self, entity_set: str) -> dict[tuple[int, int], float]:
        """Quantities of the lines that name an item, by (DocEntry, LineNum)."""
        with self._lock:
            return {
                (d["DocEntry"], line["LineNum"]): line["Quantity"]
                for d in self.documents[entity_set]
                for line in d["DocumentLines"]
                if line["ItemCode"]
            }

    def changed_since(self, entity_set: str, day: dt.date) -> set[int]:
        with self._lock:
            return {d["DocEntry"] for d in self.documents[entity_set] if d["UpdateDate"] >= day}

    def expire_sessions(self) -> None:
        with self._lock:
            for session in self.sessions.values():
                session.alive = False

    # -- answering --

    def _answer(self, request: Request) -> tuple[Response, str | None]:  # noqa: PLR0911 - one per refusal
        match = re.fullmatch(r"/b1s/v([12])/(.+)", request.path)
        if match is None:
            return sap_error(404, -1, "Resource not found", "en-us"), None
        version, resource = int(match.group(1)), match.group(2)
        if resource == "Login" and request.method == "POST":
            return self._login(request, version)
        session_id = request.cookies.get("B1SESSION")
        with self._lock:
            session = self.sessions.get(session_id or "")
            if session is not None and session.alive:
                session.requests += 1
                if self.session_requests is not None and session.requests > self.session_requests:
                    session.alive = False
        if session is None or not session.alive or request.cookies.get("ROUTEID") != ".node1":
            return sap_error(
                401, 301, "Invalid session or session already timeout.", "en-us"
            ), session_id
        if resource == "Logout" and request.method == "POST":
            with self._lock:
                session.alive = False
                self.logouts += 1
            return Response(status=204), session_id
        if resource == "$metadata":
            return Response(b1_metadata(version), content_type="application/xml"), session_id
        if resource not in self.documents or request.method != "GET":
            return sap_error(
                404, -1, f"Resource not found for the segment '{resource}'", "en-us"
            ), session_id
        if resource in self.denied:
            # Modelled: Business One's wording for a missing authorisation.
            return sap_error(
                403, -5006, f"No permission to read {resource} for user {session.user}", "en-us"
            ), session_id
        try:
            return self._documents(request, version, resource), session_id
        except BadFilter as exc:
            return sap_error(400, -1, f"Invalid filter: {exc}", "en-us"), session_id

    def _login(self, request: Request, version: int) -> tuple[Response, str | None]:
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            return sap_error(400, -1000, "Invalid JSON in the request body", "en-us"), None
        company, user = body.get("CompanyDB"), body.get("UserName")
        if self.users.get(user) != body.get("Password"):
            return sap_error(401, -304, "Fail to get DB Credentials from SLD", "en-us"), None
        if company not in self.companies:
            # Modelled: the refusal of a company database the server does not have.
            return sap_error(
                401, -1102, f"Company database '{company}' is not found on this server", "en-us"
            ), None
        session_id = str(uuid.uuid4())
        with self._lock:
            self.sessions[session_id] = _Session(company, user)
            self.logins += 1
        context = "odata.metadata" if version == 1 else "@odata.context"
        response = _json(
            {
                context: f"{self.url}/b1s/v{version}/$metadata#B1Sessions/@Element",
                "SessionId": session_id,
                "Version": "1000190",
                "SessionTimeout": 30,
            }
        )
        response.headers.add("Set-Cookie", f"B1SESSION={session_id};HttpOnly;")
        response.headers.add("Set-Cookie", "ROUTEID=.node1; path=/b1s")
        return response, session_id

    def _documents(self, request: Request, version: int, name: str) -> Response:
        args = request.args
        with self._lock:
            rows = list(self.documents[name])
        if "$filter" in args:
            predicate = parse_filter(args["$filter"])
            if version == 1 and re.search(r"\s\d{4}-\d{2}-\d{2}\b", args["$filter"]):
                raise BadFilter("a date must be quoted in /b1s/v1")
            rows = [row for row in rows if predicate(row.get)]
        if args.get("$orderby", "DocEntry") not in ("DocEntry", "DocEntry asc"):
            raise BadFilter(f"unsupported $orderby {args['$orderby']}")
        rows.sort(key=lambda row: row["DocEntry"])
        skip = int(args.get("$skip", 0))
        rows = rows[skip:]
        if "$top" in args:
            rows = rows[: int(args["$top"])]
        size = 20
        prefer = request.headers.get("Prefer", "")
        if match := re.search(r"odata\.maxpagesize=(\d+)", prefer):
            size = int(match.group(1))
        page = rows[:size]
        select = args["$select"].split(",") if "$select" in args else None
        context = "odata.metadata" if version == 1 else "@odata.context"
        body: dict[str, Any] = {
            context: f"{self.url}/b1s/v{version}/$metadata#{name}",
            "value": [_b1_render(row, select, version) for row in page],
        }
        if len(rows) > size and "$top" not in args:
            query = {k: v for k, v in args.items() if k != "$skip"}
            query["$skip"] = str(skip + size)
            # Relative, with the query's own characters unescaped, as the Service Layer writes it.
            link = urlencode(query, safe="$',()", quote_via=quote)
            body["odata.nextLink" if version == 1 else "@odata.nextLink"] = f"{name}?{link}"
        return _json(body)

    def settings(self, **override: Any) -> dict[str, Any]:
        values = {
            "service_layer_url": f"{self.url}/b1s/v1",
            "company_db": COMPANY_DB,
            "username": B1_USER,
            "password": B1_PASSWORD,
            "documents": "invoices",
        }
        values.update(override)
        return {k: v for k, v in values.items() if v is not None}


def _b1_render(row: dict[str, Any], select: list[str] | None, version: int) -> dict[str, Any]:
    out: dict[str, Any] = {"odata.etag" if version == 1 else "@odata.etag": 'W/"abc"'}
    for key, value in row.items():
        if select is not None and key not in select:
            continue
        if isinstance(value, dt.time):
            out[key] = value.strftime("%H:%M:%S")
        elif isinstance(value, dt.date):
            out[key] = value.isoformat()
        elif key == "DocumentLines":
            out[key] = [dict(line) for line in value]
        else:
            out[key] = value
    return out


# -- TLS -----------------------------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class TlsServer(WsgiServer):
    """A WSGI app on ``https://127.0.0.1:<port>`` with a fresh self-signed certificate.

    ``ca_file`` is the certificate as a PEM file, for a client to trust.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        super().__init__(app)
        self._directory = tempfile.TemporaryDirectory()
        self.ca_file = str(Path(self._directory.name) / "server.crt")
        self._key_file = str(Path(self._directory.name) / "server.key")
        _self_signed(self.ca_file, self._key_file)

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://", 1)

    def start(self) -> TlsServer:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self._key_file)
        server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_Quiet, ssl_context=context
        )
        server.daemon_threads = False  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-tls-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        super().stop()
        self._directory.cleanup()


def _self_signed(cert_path: str, key_path: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "b1server.local")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_path).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@contextmanager
def serve_service_layer(*, tls: bool = False, **options: Any) -> Iterator[FakeServiceLayer]:
    fake = FakeServiceLayer(**options)
    server = TlsServer(fake) if tls else WsgiServer(fake)
    with server:
        fake.url = server.url
        fake.ca_file = server.ca_file if isinstance(server, TlsServer) else None
        yield fake
