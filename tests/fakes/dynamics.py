"""Fake Microsoft identity platform, Business Central API v2.0 and Dataverse Web API.

Each is a real HTTP server on 127.0.0.1 (its own port, as the real services
have their own hosts), answering as Microsoft's documentation shows::

    with serve_business_central(invoices=30) as bc:
        bc.login_url     # the identity fake: POST /{tenant}/oauth2/v2.0/token
        bc.api_url       # /v2.0/{tenant}/{environment}/api/{route}/companies(...)/...
        bc.settings()    # the dynamics_bc connector's settings for this fake

    with serve_dataverse(orders=20) as dv:
        dv.login_url, dv.environment_url, dv.settings()

Identity (:class:`FakeIdentity`): the client-credentials grant of the v2.0
token endpoint. The client authenticates with HTTP Basic or form fields; the
scope must be a known resource's ``/.default``. Refusals carry the AADSTS
error bodies (``error``, ``error_description``, ``error_codes``, ``trace_id``,
``correlation_id``...): unknown tenant (400 ``invalid_request``, AADSTS90002),
unknown client (400 ``unauthorized_client``, AADSTS700016), wrong secret (401
``invalid_client``, AADSTS7000215), a scope without ``/.default`` (400
``invalid_scope``, AADSTS1002012). Tokens are opaque, expire after
``token_lifetime`` seconds and are good for one resource only.

Business Central (:class:`FakeBusinessCentral`): environment ``production``
with two companies, their locations and sales invoices and sales orders with
lines (item lines, and a comment line on every fourth document). ``$expand``
of the lines, ``$filter`` (parsed with ``odata-query``; comparisons, ``and``,
``or``), ``$select``, ``$top``, ``Prefer: odata.maxpagesize`` (answered with
``Preference-Applied``), pages capped at ``page_cap`` rows whatever is asked,
``@odata.nextLink`` with ``$skiptoken`` (the last id read; documents are in id
order) and ``$metadata`` (CSDL XML). A custom API route (:data:`CUSTOM_ROUTE`)
serves the same documents with extension fields (``salesChannel`` on the
header, ``binCode`` on lines). Errors are ``{"error": {"code", "message"}}``
with Business Central's codes: ``Authentication_InvalidCredentials`` (401),
``Internal_CompanyNotFound`` (404), ``BadRequest_ResourceNotFound`` (404, also
for an unknown environment: the real wording for that case is not documented),
``BadRequest`` (400), a permission refusal (403, with the message Business
Central writes for it), 429 with or without ``Retry-After`` (the documentation
shows no body for it, so the fake's code and wording are illustrative).

Dataverse (:class:`FakeDataverse`): ``WhoAmI``, ``salesorderdetails`` with
``$expand`` of ``salesorderid``, ``productid`` and ``transactioncurrencyid``
(each with ``$select``), ``$filter`` (also on ``salesorderid/modifiedon``),
``$select``, ``$top``, ``Prefer: odata.maxpagesize`` (at most 5,000) and
``@odata.nextLink`` whose ``$skiptoken`` is a paging cookie, and the tables'
attribute metadata (``EntityDefinitions(LogicalName='...')/Attributes``) with
the custom column ``new_channel``. Errors: 401 with ``WWW-Authenticate`` and no
body, 403 ``0x80072560`` (not an application user of the environment), 403
``0x80040220`` (a missing privilege), 404 and 400 with Dataverse's codes, 429
``0x80072322`` with ``Retry-After``.

Both API fakes: ``fail_with_429(count, retry_after="1")``,
``fail_with_5xx(count, status=503)``, ``respond_slowly(count, delay)`` for a
burst of faults from the next request (or request number ``at``), ``log``
(one :class:`Served` per request), ``reset_log()``; data changes between
syncs with ``touch(...)`` and ``add_...(n)``, and ``changed_after(moment)``
says what an incremental read from ``moment`` must return.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser
from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

TENANT_ID = "6f1b7f3e-7a3c-4d2b-9a41-0c6a3b2f1e55"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
CLIENT_ID = "3c5f0a8e-2b1d-4e6f-8a9b-7c6d5e4f3a21"
CLIENT_SECRET = "Kq8~fake.client-secret_0123456789abcdefXYZ"
BC_RESOURCE = "https://api.businesscentral.dynamics.com"
ENVIRONMENT = "production"
CUSTOM_ROUTE = "contoso/demand/v1.0"
COMPANIES = (
    ("e5a2b4c6-1d3f-4a5b-9c7d-0e1f2a3b4c5d", "CRONUS USA, Inc.", "CRONUS USA, Inc."),
    ("0b9a8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d", "CRONUS Canada", "CRONUS Canada, Inc."),
)
LOCATIONS = (
    ("1a2b3c4d-0000-4000-8000-00000000e001", "EAST", "East Warehouse"),
    ("1a2b3c4d-0000-4000-8000-00000000e002", "WEST", "West Warehouse"),
)
ITEMS = ("1896-S", "1900-S", "1906-S", "1908-S", "1920-S", "1928-S", "1936-S", "1960-S")
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
BASE_TIME = dt.datetime(2024, 3, 1, 8, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=7)
_NS = uuid.UUID("9f1c2e4a-5b6d-4e8f-a1b2-c3d4e5f60718")
_PARSER = ODataParser()
_LEXER = ODataLexer()


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(_NS, ":".join(str(p) for p in parts)))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=str),
        status=status,
        headers=headers or {},
        content_type="application/json; odata.metadata=minimal",
    )


def _iso(moment: dt.datetime, millis: bool = False) -> str:
    text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


# -- identity ------------------------------------------------------------------------


class FakeIdentity:
    """The v2.0 token endpoint of one tenant, client-credentials grant only."""

    def __init__(self, *, token_lifetime: int = 3599) -> None:
        self.token_lifetime = token_lifetime
        self.clients = {CLIENT_ID: CLIENT_SECRET}
        self.resources: set[str] = {BC_RESOURCE}
        self.token_requests = 0
        self.token_scopes: list[str] = []
        # token -> (resource, monotonic expiry, client ID)
        self._tokens: dict[str, tuple[str, float, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, request: Request) -> Response:  # noqa: PLR0911 - one per documented refusal
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or parts[1:] != ["oauth2", "v2.0", "token"]:
            return _json({"error": "invalid_request"}, 404)
        with self._lock:
            self.token_requests += 1
        tenant = parts[0]
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            client_id = unquote(request.authorization.username or "")
            secret = unquote(request.authorization.password or "")
        if tenant not in (TENANT_ID, TENANT_DOMAIN):
            return self._refuse(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription "
                "administrator, this may happen if there are no active subscriptions for the "
                "tenant.",
            )
        if form.get("grant_type") != "client_credentials":
            return self._refuse(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        scope = form.get("scope", "")
        if not scope:
            return self._refuse(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            )
        if not scope.endswith("/.default"):
            return self._refuse(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if client_id not in self.clients:
            return self._refuse(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{TENANT_DOMAIN}'. This can happen if the application has not been installed by "
                "the administrator of the tenant or consented to by any user in the tenant. You "
                "may have sent your authentication request to the wrong tenant.",
            )
        if secret != self.clients[client_id]:
            return self._refuse(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        resource = scope.removesuffix("/.default")
        if resource not in self.resources:
            return self._refuse(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{TENANT_DOMAIN}.",
            )
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (resource, time.monotonic() + self.token_lifetime, client_id)
            self.token_scopes.append(scope)
        return _json(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    @staticmethod
    def _refuse(status: int, error: str, code: int, text: str) -> Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return _json(
            {
                "error": error,
                "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: "
                f"{correlation} Timestamp: {stamp}",
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": correlation,
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
            status,
        )

    def holder(self, authorization: str | None, resource: str) -> str | None:
        """The token in a bearer header when it is live and for ``resource``; else None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ")
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued[0] != resource or issued[1] <= time.monotonic():
            return None
        return token

    def client_of(self, token: str) -> str | None:
        """The client ID a token was issued to."""
        with self._lock:
            issued = self._tokens.get(token)
        return issued[2] if issued is not None else None

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    @property
    def issued(self) -> int:
        with self._lock:
            return len(self.token_scopes)


# -- what both API fakes share -------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """One API request as the fake answered it."""

    number: int
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    token: str | None
    started: float
    ended: float


@dataclass
class _Fault:
    kind: str
    count: int
    at: int | None
    value: Any = None


class _FakeApi:
    """Request log, token check and fault bursts for an OData service."""

    resource = ""

    def __init__(self, identity: FakeIdentity) -> None:
        self.identity = identity
        self.log: list[Served] = []
        self.url = ""
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        with self._lock:
            self._requests += 1
            number = self._requests
        token = self.identity.holder(request.headers.get("Authorization"), self.resource)
        response = self._fault(number) or (
            self._unauthorised() if token is None else self._answer(request, token)
        )
        with self._lock:
            self.log.append(
                Served(
                    number,
                    request.method,
                    request.path,
                    dict(request.args.items()),
                    dict(request.headers.items()),
                    response.status_code,
                    token,
                    started,
                    time.monotonic(),
                )
            )
        return response(environ, start_response)

    def _answer(self, request: Request, token: str) -> Response:
        try:
            return self.handle(request, self.identity.client_of(token))
        except _Refusal as refusal:
            return refusal.response

    def handle(self, request: Request, client_id: str | None) -> Response:
        raise NotImplementedError

    def _unauthorised(self) -> Response:
        raise NotImplementedError

    def _throttled(self, retry_after: str | None) -> Response:
        raise NotImplementedError

    def _failed(self, status: int) -> Response:
        raise NotImplementedError

    # -- faults --

    def fail_with_429(
        self, count: int, retry_after: str | None = "1", at: int | None = None
    ) -> None:
        self._add(_Fault("429", count, at, retry_after))

    def fail_with_5xx(self, count: int, status: int = 503, at: int | None = None) -> None:
        self._add(_Fault("5xx", count, at, status))

    def respond_slowly(self, count: int, delay: float, at: int | None = None) -> None:
        self._add(_Fault("slow", count, at, delay))

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            if fault.at is None:
                fault.at = self._requests + 1
            self._faults.append(fault)

    def _fault(self, number: int) -> Response | None:
        with self._lock:
            due = next((f for f in self._faults if f.at is not None and f.at <= number), None)
            if due is None:
                return None
            due.count -= 1
            if due.count <= 0:
                self._faults.remove(due)
        if due.kind == "429":
            return self._throttled(due.value)
        if due.kind == "5xx":
            return self._failed(due.value)
        time.sleep(due.value)
        return None

    # -- inspection --

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def requests_to(self, suffix: str) -> list[Served]:
        with self._lock:
            return [served for served in self.log if served.path.endswith(suffix)]


class _Refusal(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _prefer_page_size(request: Request) -> int | None:
    """The ``odata.maxpagesize`` preference, or None when the client states none."""
    for preference in request.headers.get("Prefer", "").split(","):
        name, _, value = preference.strip().partition("=")
        if name == "odata.maxpagesize" and value.strip().isdigit():
            return max(1, int(value))
    return None


def _with_query(url: str, **updates: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in updates]
    query.extend(updates.items())
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote, safe="$,()'=/")))


def _split_top(text: str) -> list[str]:
    """``a($select=b,c),d`` split on the commas outside parentheses."""
    items, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            items.append(current.strip())
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    if current.strip():
        items.append(current.strip())
    return items


class _Filter:
    """An OData ``$filter`` over plain rows: comparisons, ``and``, ``or``, ``not``.

    ``resolve(names)`` returns a row's value for an identifier path, or raises
    KeyError for a property the entity does not have.
    """

    _COMPARE: dict[type, Callable[[Any, Any], bool]] = {  # noqa: RUF012
        ast.Eq: lambda a, b: a == b,
        ast.NotEq: lambda a, b: a != b,
        ast.Gt: lambda a, b: a is not None and b is not None and a > b,
        ast.GtE: lambda a, b: a is not None and b is not None and a >= b,
        ast.Lt: lambda a, b: a is not None and b is not None and a < b,
        ast.LtE: lambda a, b: a is not None and b is not None and a <= b,
    }

    def __init__(self, text: str) -> None:
        self.tree = _PARSER.parse(_LEXER.tokenize(text))

    def names(self, node: Any = None) -> Iterator[tuple[str, ...]]:
        node = self.tree if node is None else node
        if isinstance(node, ast.Identifier):
            yield (node.name,)
        elif isinstance(node, ast.Attribute):
            for owner in self.names(node.owner):
                yield (*owner, node.attr)
        elif isinstance(node, ast.BoolOp | ast.Compare):
            yield from self.names(node.left)
            yield from self.names(node.right)
        elif isinstance(node, ast.UnaryOp):
            yield from self.names(node.operand)

    def holds(  # noqa: PLR0911 - one return per node type
        self, resolve: Callable[[tuple[str, ...]], Any], node: Any = None
    ) -> Any:
        node = self.tree if node is None else node
        if isinstance(node, ast.BoolOp):
            left = self.holds(resolve, node.left)
            if isinstance(node.op, ast.And):
                return left and self.holds(resolve, node.right)
            return left or self.holds(resolve, node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return not self.holds(resolve, node.operand)
        if isinstance(node, ast.Compare):
            compare = self._COMPARE.get(type(node.comparator))
            if compare is None:
                raise ValueError(f"operator {type(node.comparator).__name__} is not supported")
            return compare(self.holds(resolve, node.left), self.holds(resolve, node.right))
        if isinstance(node, ast.Identifier | ast.Attribute):
            return _comparable(resolve(next(iter(self.names(node)))))
        if isinstance(node, ast.DateTime):
            return dt.datetime.fromisoformat(node.val)
        if isinstance(node, ast.String | ast.GUID):
            return node.val
        if isinstance(node, ast.Integer | ast.Float | ast.Boolean):
            return node.py_val
        if isinstance(node, ast.Null):
            return None
        raise ValueError(f"{type(node).__name__} is not supported in this fake's $filter")


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


# -- Business Central ----------------------------------------------------------------

# (name, EDM type) of the standard v2.0 documents; enum-typed ones are Microsoft.NAV.*.
BC_INVOICE_FIELDS = (
    ("id", "Edm.Guid"),
    ("number", "Edm.String"),
    ("externalDocumentNumber", "Edm.String"),
    ("invoiceDate", "Edm.Date"),
    ("postingDate", "Edm.Date"),
    ("dueDate", "Edm.Date"),
    ("customerId", "Edm.Guid"),
    ("customerNumber", "Edm.String"),
    ("customerName", "Edm.String"),
    ("currencyCode", "Edm.String"),
    ("orderNumber", "Edm.String"),
    ("status", "Microsoft.NAV.invoiceEntityAggregateStatus"),
    ("totalAmountExcludingTax", "Edm.Decimal"),
    ("totalAmountIncludingTax", "Edm.Decimal"),
    ("lastModifiedDateTime", "Edm.DateTimeOffset"),
)
BC_ORDER_FIELDS = (
    ("id", "Edm.Guid"),
    ("number", "Edm.String"),
    ("externalDocumentNumber", "Edm.String"),
    ("orderDate", "Edm.Date"),
    ("postingDate", "Edm.Date"),
    ("customerId", "Edm.Guid"),
    ("customerNumber", "Edm.String"),
    ("customerName", "Edm.String"),
    ("currencyCode", "Edm.String"),
    ("requestedDeliveryDate", "Edm.Date"),
    ("fullyShipped", "Edm.Boolean"),
    ("status", "Microsoft.NAV.salesOrderEntityBufferStatus"),
    ("totalAmountExcludingTax", "Edm.Decimal"),
    ("totalAmountIncludingTax", "Edm.Decimal"),
    ("lastModifiedDateTime", "Edm.DateTimeOffset"),
)
BC_LINE_FIELDS = (
    ("id", "Edm.Guid"),
    ("documentId", "Edm.Guid"),
    ("sequence", "Edm.Int32"),
    ("itemId", "Edm.Guid"),
    ("accountId", "Edm.Guid"),
    ("lineType", "Microsoft.NAV.invoiceLineAggLineType"),
    ("lineObjectNumber", "Edm.String"),
    ("description", "Edm.String"),
    ("unitOfMeasureCode", "Edm.String"),
    ("unitPrice", "Edm.Decimal"),
    ("quantity", "Edm.Decimal"),
    ("discountAmount", "Edm.Decimal"),
    ("discountPercent", "Edm.Decimal"),
    ("amountExcludingTax", "Edm.Decimal"),
    ("amountIncludingTax", "Edm.Decimal"),
    ("netAmount", "Edm.Decimal"),
    ("shipmentDate", "Edm.Date"),
    ("itemVariantId", "Edm.Guid"),
    ("locationId", "Edm.Guid"),
)
BC_ORDER_LINE_EXTRA = (("shippedQuantity", "Edm.Decimal"), ("invoicedQuantity", "Edm.Decimal"))
# Extension fields, served only under CUSTOM_ROUTE.
BC_HEADER_EXTENSION = (("salesChannel", "Edm.String"),)
BC_LINE_EXTENSION = (("binCode", "Edm.String"),)
BC_ENUMS = {
    "invoiceEntityAggregateStatus": (
        "_x0020_",
        "Draft",
        "In_x0020_Review",
        "Open",
        "Paid",
        "Canceled",
        "Corrective",
    ),
    "salesOrderEntityBufferStatus": ("Draft", "In_x0020_Review", "Open"),
    "invoiceLineAggLineType": (
        "Comment",
        "Account",
        "Item",
        "Resource",
        "Fixed_x0020_Asset",
        "Charge",
    ),
}


@dataclass(frozen=True)
class BcKind:
    entity_set: str
    entity_type: str
    lines: str
    line_type: str
    date: str
    prefix: str
    header_fields: tuple[tuple[str, str], ...]
    line_fields: tuple[tuple[str, str], ...]


BC_KINDS = {
    "salesInvoices": BcKind(
        "salesInvoices",
        "salesInvoice",
        "salesInvoiceLines",
        "salesInvoiceLine",
        "invoiceDate",
        "S-INV",
        BC_INVOICE_FIELDS,
        BC_LINE_FIELDS,
    ),
    "salesOrders": BcKind(
        "salesOrders",
        "salesOrder",
        "salesOrderLines",
        "salesOrderLine",
        "orderDate",
        "S-ORD",
        BC_ORDER_FIELDS,
        BC_LINE_FIELDS + BC_ORDER_LINE_EXTRA,
    ),
}
_INVOICE_STATUSES = ("Open", "Paid", "Paid", "Draft", "Open", "Canceled")
_ORDER_STATUSES = ("Open", "Draft", "Open", "In Review")


class FakeBusinessCentral(_FakeApi):
    """Business Central API v2.0 (and one custom API route) of one tenant's environment.

    ``documents[(company_id, entity_set)]`` holds the documents as served, lines
    included; they are made by :meth:`add_documents` and changed by :meth:`touch`.
    """

    resource = BC_RESOURCE

    def __init__(
        self, identity: FakeIdentity, *, invoices: int, orders: int, page_cap: int
    ) -> None:
        super().__init__(identity)
        self.page_cap = page_cap
        self.documents: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.registered_apps = {CLIENT_ID}
        self.denied: set[str] = set()
        self._clock = BASE_TIME
        for company, _, _ in COMPANIES:
            for entity_set in BC_KINDS:
                self.documents[(company, entity_set)] = []
        first, second = COMPANIES[0][0], COMPANIES[1][0]
        self.add_documents(first, "salesInvoices", invoices)
        self.add_documents(first, "salesOrders", orders)
        # The second company has documents of its own, so a wrong pick shows.
        self.add_documents(second, "salesInvoices", 3)

    # -- data --

    def _tick(self) -> dt.datetime:
        self._clock += STEP
        return self._clock

    def add_documents(self, company: str, entity_set: str, count: int) -> list[dict[str, Any]]:
        """Append ``count`` documents, each modified later than any before."""
        kind = BC_KINDS[entity_set]
        made = []
        with self._lock:
            stored = self.documents[(company, entity_set)]
            for _ in range(count):
                made.append(self._document(company, kind, len(stored) + 1))
                stored.append(made[-1])
        return made

    def _document(self, company: str, kind: BcKind, index: int) -> dict[str, Any]:
        doc_id = _guid(company, kind.entity_set, index)
        day = (BASE_TIME + dt.timedelta(days=index % 60)).date().isoformat()
        customer = 10000 * (1 + index % 5)
        lines = []
        for position in range(1 + index % 3):
            item = ITEMS[(index + position) % len(ITEMS)]
            quantity = Decimal(1 + (index * 3 + position) % 9)
            price = Decimal(ITEMS.index(item) * 10 + 49) + Decimal("0.90")
            location = (LOCATIONS[0][0], LOCATIONS[1][0], EMPTY_GUID)[(index + position) % 3]
            line = {
                "@odata.etag": f'W/"JzQ0O{index}{position}Jw=="',
                "id": _guid(doc_id, position),
                "documentId": doc_id,
                "sequence": 10000 * (position + 1),
                "itemId": _guid("item", item),
                "accountId": EMPTY_GUID,
                "lineType": "Item",
                "lineObjectNumber": item,
                "description": f"Item {item}",
                "unitOfMeasureCode": "PCS",
                "unitPrice": _number(price),
                "quantity": _number(quantity),
                "discountAmount": 0,
                "discountPercent": 0,
                "amountExcludingTax": _number(price * quantity),
                "amountIncludingTax": _number(price * quantity),
                "netAmount": _number(price * quantity),
                "shipmentDate": day,
                "itemVariantId": EMPTY_GUID,
                "locationId": location,
                "binCode": f"BIN-{1 + position}",
            }
            if kind.entity_set == "salesOrders":
                line |= {"shippedQuantity": 0, "invoicedQuantity": 0}
            lines.append(line)
        if index % 4 == 0:
            comment = dict.fromkeys(name for name, _ in kind.line_fields)
            comment |= {
                "id": _guid(doc_id, "comment"),
                "documentId": doc_id,
                "sequence": 10000 * (len(lines) + 1),
                "lineType": "Comment",
                "lineObjectNumber": "",
                "description": "Deliver to the back door",
                "quantity": 0,
                "unitPrice": 0,
            }
            lines.append(comment)
        statuses = _INVOICE_STATUSES if kind.entity_set == "salesInvoices" else _ORDER_STATUSES
        total = sum(Decimal(str(line["amountExcludingTax"] or 0)) for line in lines)
        header: dict[str, Any] = {
            "@odata.etag": f'W/"JzE5OzEy{index}Jw=="',
            "id": doc_id,
            "number": f"{kind.prefix}{100000 + index}",
            "externalDocumentNumber": "",
            kind.date: day,
            "postingDate": day,
            "customerId": _guid("customer", customer),
            "customerNumber": str(customer),
            "customerName": f"Customer {customer}",
            "currencyCode": "USD",
            "status": statuses[index % len(statuses)],
            "totalAmountExcludingTax": _number(total),
            "totalAmountIncludingTax": _number(total),
            "lastModifiedDateTime": _iso(self._tick(), millis=True),
            "salesChannel": ("WEB", "STORE", "PHONE")[index % 3],
            kind.lines: lines,
        }
        if kind.entity_set == "salesInvoices":
            header |= {"dueDate": day, "orderNumber": ""}
        else:
            header |= {"requestedDeliveryDate": day, "fullyShipped": False}
        return header

    def touch(self, company: str, entity_set: str, numbers: Iterable[str]) -> None:
        """Change documents: a later ``lastModifiedDateTime``, each item line's quantity + 1."""
        wanted = set(numbers)
        with self._lock:
            for document in self.documents[(company, entity_set)]:
                if document["number"] in wanted:
                    document["lastModifiedDateTime"] = _iso(self._tick(), millis=True)
                    for line in document[BC_KINDS[entity_set].lines]:
                        if line["lineType"] == "Item":
                            line["quantity"] += 1

    def changed_after(self, company: str, entity_set: str, moment: dt.datetime) -> list[str]:
        """The numbers of the documents modified after ``moment``, as a filtered read returns."""
        with self._lock:
            return [
                d["number"]
                for d in self.documents[(company, entity_set)]
                if dt.datetime.fromisoformat(d["lastModifiedDateTime"]) > moment
            ]

    def item_lines(self, company: str, entity_set: str) -> dict[tuple[str, int], Any]:
        """``(document id, sequence) -> quantity`` of every item line."""
        lines = BC_KINDS[entity_set].lines
        with self._lock:
            return {
                (d["id"], line["sequence"]): line["quantity"]
                for d in self.documents[(company, entity_set)]
                for line in d[lines]
                if line["lineType"] == "Item"
            }

    # -- errors as Business Central sends them --

    @staticmethod
    def _error(status: int, code: str, message: str) -> Response:
        return _json({"error": {"code": code, "message": message}}, status)

    def _refuse(self, status: int, code: str, message: str) -> _Refusal:
        return _Refusal(self._error(status, code, message))

    def _unauthorised(self) -> Response:
        response = self._error(
            401,
            "Authentication_InvalidCredentials",
            f"The server has rejected the client credentials.  CorrelationId:  {uuid.uuid4()}.",
        )
        response.headers["WWW-Authenticate"] = (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{TENANT_ID}", '
            'error="invalid_token"'
        )
        return response

    def _throttled(self, retry_after: str | None) -> Response:
        response = self._error(
            429,
            "Application_TooManyRequests",
            "Too many requests reached. Please retry after a while.",
        )
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def _failed(self, status: int) -> Response:
        return self._error(
            status,
            "Internal_ServerError",
            f"The service is temporarily unavailable.  CorrelationId:  {uuid.uuid4()}.",
        )

    # -- routing --

    def handle(  # noqa: PLR0912 - the routes of the API, in one place
        self, request: Request, client_id: str | None
    ) -> Response:
        if client_id not in self.registered_apps:
            # An app registration not added on the Microsoft Entra Applications page.
            return self._unauthorised()
        if request.method != "GET":
            raise self._refuse(405, "BadRequest_MethodNotAllowed", "Only GET is served here.")
        segments = request.path.strip("/").split("/")
        if len(segments) < 5 or segments[0] != "v2.0" or segments[3] != "api":
            raise self._refuse(404, "BadRequest_ResourceNotFound", "Resource not found.")
        tenant, environment = segments[1], segments[2]
        if tenant not in (TENANT_ID, TENANT_DOMAIN) or environment != ENVIRONMENT:
            raise self._refuse(
                404,
                "BadRequest_ResourceNotFound",
                f"Resource not found for the segment '{environment}'.",
            )
        rest = segments[4:]
        if rest[:1] == ["v2.0"]:
            route, rest = "v2.0", rest[1:]
        elif "/".join(rest[:3]) == CUSTOM_ROUTE:
            route, rest = CUSTOM_ROUTE, rest[3:]
        else:
            raise self._refuse(
                404,
                "BadRequest_ResourceNotFound",
                f"Resource not found for the segment '{rest[0] if rest else ''}'.",
            )
        if rest == ["$metadata"]:
            return Response(self.metadata(route), content_type="application/xml")
        if rest == ["companies"]:
            rows = [{"id": c, "name": n, "displayName": d} for c, n, d in COMPANIES]
            return self._collection(
                request, route, "companies", rows, ("id", "name", "displayName")
            )
        if len(rest) != 2 or not rest[0].startswith("companies("):
            raise self._refuse(404, "BadRequest_ResourceNotFound", "Resource not found.")
        company = rest[0].removeprefix("companies(").removesuffix(")").lower()
        if company not in {c for c, _, _ in COMPANIES}:
            raise self._refuse(
                404,
                "Internal_CompanyNotFound",
                "Cannot process the request because the default company cannot be found. You "
                "can specify a default company in the service configuration file, or specify one "
                'for each tenant, or you can add a query string in the form of "company=[name]". '
                "You can see the available companies by accessing the default OData web service, "
                'Company. For more information, see "OData Web Services" in Help.',
            )
        entity_set = rest[1]
        if entity_set == "locations" and route == "v2.0":
            rows = [{"id": i, "code": c, "displayName": n} for i, c, n in LOCATIONS]
            return self._collection(request, route, entity_set, rows, ("id", "code", "displayName"))
        if entity_set not in BC_KINDS:
            raise self._refuse(
                404,
                "BadRequest_ResourceNotFound",
                f"Resource not found for the segment '{entity_set}'.",
            )
        if entity_set in self.denied:
            raise self._refuse(
                403,
                "Internal_ServerError",
                "Sorry, the current permissions prevented the action. (TableData 36 Sales Header "
                f"Read: Base Application)  CorrelationId:  {uuid.uuid4()}.",
            )
        return self._documents(request, route, company, BC_KINDS[entity_set])

    def _collection(
        self,
        request: Request,
        route: str,
        entity_set: str,
        rows: list[dict[str, Any]],
        names: tuple[str, ...],
    ) -> Response:
        rows = [self._select(request, row, names, entity_set) for row in rows]
        context = f"{self._root(request, route)}/$metadata#{entity_set}"
        return _json({"@odata.context": context, "value": rows})

    def _select(
        self, request: Request, row: dict[str, Any], names: Iterable[str], type_name: str
    ) -> dict[str, Any]:
        select = request.args.get("$select")
        if not select:
            return row
        wanted = [name.strip() for name in select.split(",")]
        known = set(names)
        for name in wanted:
            if name not in known:
                raise self._bad_property(name, type_name)
        return {key: value for key, value in row.items() if key in wanted or key.startswith("@")}

    def _bad_property(self, name: str, type_name: str) -> _Refusal:
        return self._refuse(
            400,
            "BadRequest",
            f"Could not find a property named '{name}' on type 'Microsoft.NAV.{type_name}'.",
        )

    @staticmethod
    def _root(request: Request, route: str) -> str:
        return f"{request.host_url.rstrip('/')}/v2.0/{TENANT_ID}/{ENVIRONMENT}/api/{route}"

    def _documents(self, request: Request, route: str, company: str, kind: BcKind) -> Response:
        custom = route == CUSTOM_ROUTE
        header_names = {n for n, _ in kind.header_fields} | (
            {n for n, _ in BC_HEADER_EXTENSION} if custom else set()
        )
        line_names = {n for n, _ in kind.line_fields} | (
            {n for n, _ in BC_LINE_EXTENSION} if custom else set()
        )
        expand = request.args.get("$expand", "")
        for name in _split_top(expand):
            if name != kind.lines:
                raise self._bad_property(name, kind.entity_type)
        condition = self._filter(request, header_names, kind)
        with self._lock:
            documents = sorted(self.documents[(company, kind.entity_set)], key=lambda d: d["id"])
            documents = [json.loads(json.dumps(d)) for d in documents]
        if condition is not None:
            documents = [
                d for d in documents if condition.holds(lambda names, d=d: d.get(names[0]))
            ]
        skip = request.args.get("$skiptoken")
        if skip is not None:
            last = skip.strip("'")
            documents = [d for d in documents if d["id"] > last]
        top = request.args.get("$top")
        if top is not None:
            if not top.isdigit():
                raise self._refuse(400, "BadRequest", f"Invalid value '{top}' for $top.")
            documents = documents[: int(top)]
        asked = _prefer_page_size(request)
        size = min(asked or self.page_cap, self.page_cap)
        page, more = documents[:size], len(documents) > size
        rows = []
        for document in page:
            row = {k: v for k, v in document.items() if k in header_names or k.startswith("@")}
            if kind.lines in _split_top(expand):
                row[kind.lines] = [
                    {k: v for k, v in line.items() if k in line_names or k.startswith("@")}
                    for line in document[kind.lines]
                ]
            rows.append(self._select(request, row, header_names | {kind.lines}, kind.entity_type))
        body: dict[str, Any] = {
            "@odata.context": f"{self._root(request, route)}/$metadata#companies({company})/"
            f"{kind.entity_set}",
            "value": rows,
        }
        if more:
            body["@odata.nextLink"] = _with_query(
                request.url, **{"$skiptoken": f"'{page[-1]['id']}'"}
            )
        headers = {}
        if asked is not None and asked <= self.page_cap:
            headers["Preference-Applied"] = f"odata.maxpagesize={asked}"
        return _json(body, headers=headers)

    def _filter(self, request: Request, names: set[str], kind: BcKind) -> _Filter | None:
        text = request.args.get("$filter")
        if not text:
            return None
        try:
            condition = _Filter(text)
        except ODataException:
            raise self._refuse(
                400, "BadRequest_NotFound", "Bad Request - Error in query syntax."
            ) from None
        for path in condition.names():
            if path[0] not in names or len(path) > 1:
                raise self._bad_property(".".join(path), kind.entity_type)
        return condition

    def metadata(self, route: str) -> str:
        """The CSDL document of an API route."""
        custom = route == CUSTOM_ROUTE

        def props(fields: Iterable[tuple[str, str]]) -> str:
            return "".join(
                f'<Property Name="{escape(name)}" Type="{escape(type_)}"/>'
                for name, type_ in fields
            )

        types = []
        for kind in BC_KINDS.values():
            header = kind.header_fields + (BC_HEADER_EXTENSION if custom else ())
            lines = kind.line_fields + (BC_LINE_EXTENSION if custom else ())
            types.append(
                f'<EntityType Name="{kind.entity_type}"><Key><PropertyRef Name="id"/></Key>'
                f'{props(header)}<NavigationProperty Name="{kind.lines}" '
                f'Type="Collection(Microsoft.NAV.{kind.line_type})" ContainsTarget="true"/>'
                "</EntityType>"
            )
            types.append(
                f'<EntityType Name="{kind.line_type}"><Key><PropertyRef Name="id"/></Key>'
                f"{props(lines)}</EntityType>"
            )
        types.append(
            '<EntityType Name="company"><Key><PropertyRef Name="id"/></Key>'
            + props((("id", "Edm.Guid"), ("name", "Edm.String"), ("displayName", "Edm.String")))
            + "</EntityType>"
        )
        enums = "".join(
            f'<EnumType Name="{name}">'
            + "".join(f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(members))
            + "</EnumType>"
            for name, members in BC_ENUMS.items()
        )
        sets = "".join(
            f'<EntitySet Name="{kind.entity_set}" EntityType="Microsoft.NAV.{kind.entity_type}"/>'
            for kind in BC_KINDS.values()
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
            "<edmx:DataServices>"
            '<Schema Namespace="Microsoft.NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
            f"{enums}{''.join(types)}"
            f'<EntityContainer Name="NAV"><EntitySet Name="companies" '
            f'EntityType="Microsoft.NAV.company"/>{sets}</EntityContainer>'
            "</Schema></edmx:DataServices></edmx:Edmx>"
        )

    def deny(self, entity_set: str) -> None:
        """Refuse reads of ``entity_set`` for want of a permission (403)."""
        self.denied.add(entity_set)


# -- Dataverse -----------------------------------------------------------------------

DV_PRODUCTS = tuple((_guid("product", sku), sku, f"Product {sku}") for sku in ITEMS)
DV_CURRENCY = (_guid("currency", "USD"), "USD")
DV_USER = _guid("application-user")
DV_ORDER_COLUMNS = (
    ("salesorderid", "Uniqueidentifier", "Order"),
    ("ordernumber", "String", "Order ID"),
    ("name", "String", "Name"),
    ("createdon", "DateTime", "Created On"),
    ("submitdate", "DateTime", "Date Submitted"),
    ("datefulfilled", "DateTime", "Date Fulfilled"),
    ("requestdeliveryby", "DateTime", "Requested Delivery Date"),
    ("statecode", "State", "Status"),
    ("statuscode", "Status", "Status Reason"),
    ("customerid", "Customer", "Customer"),
    ("modifiedon", "DateTime", "Modified On"),
    ("new_region", "String", "Region"),
)
DV_LINE_COLUMNS = (
    ("salesorderdetailid", "Uniqueidentifier", "Order Product"),
    ("salesorderid", "Lookup", "Order"),
    ("productid", "Lookup", "Existing Product"),
    ("productidname", "String", None),
    ("productdescription", "String", "Write-In Product"),
    ("quantity", "Decimal", "Quantity"),
    ("priceperunit", "Money", "Price Per Unit"),
    ("baseamount", "Money", "Amount"),
    ("extendedamount", "Money", "Extended Amount"),
    ("lineitemnumber", "Integer", "Line Item Number"),
    ("sequencenumber", "Integer", "Sequence Number"),
    ("transactioncurrencyid", "Lookup", "Currency"),
    ("uomid", "Lookup", "Unit"),
    ("requestdeliveryby", "DateTime", "Requested Delivery Date"),
    ("createdon", "DateTime", "Created On"),
    ("modifiedon", "DateTime", "Modified On"),
    ("ispriceoverridden", "Boolean", "Pricing"),
    ("new_channel", "String", "Channel"),
    ("new_promotioncode", "String", "Promotion Code"),
)
_CUSTOM_COLUMNS = frozenset({"new_channel", "new_promotioncode", "new_region"})
_ATTRIBUTE_OF = {"productidname": "productid"}
_LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})


def _record_names(columns: Iterable[tuple[str, str, str | None]]) -> set[str]:
    """The member names rows carry for a table's columns (lookups as _x_value)."""
    return {
        f"_{name}_value" if kind in _LOOKUP_TYPES else name
        for name, kind, _ in columns
        if name not in _ATTRIBUTE_OF
    }


_DV_EXPANDS = {
    "salesorderid": ("salesorder", _record_names(DV_ORDER_COLUMNS)),
    "productid": ("product", {"productid", "productnumber", "name"}),
    "transactioncurrencyid": ("transactioncurrency", {"transactioncurrencyid", "isocurrencycode"}),
}


class FakeDataverse(_FakeApi):
    """The Web API of one Dataverse environment with Dynamics 365 Sales orders.

    ``orders`` and ``lines`` hold the rows as stored (lines reference their
    order by ``_salesorderid_value``); :meth:`add_orders`, :meth:`touch_lines`
    and :meth:`close_orders` change them.
    """

    max_page = 5_000

    def __init__(self, identity: FakeIdentity, *, orders: int) -> None:
        super().__init__(identity)
        self.orders: dict[str, dict[str, Any]] = {}
        self.lines: dict[str, dict[str, Any]] = {}
        self.application_users = {CLIENT_ID}
        self.missing_privilege: str | None = None
        self._clock = BASE_TIME
        self._pending_orders = orders

    @property
    def resource(self) -> str:  # type: ignore[override]
        return self.url

    def start_data(self) -> None:
        self.add_orders(self._pending_orders)

    def _tick(self) -> dt.datetime:
        self._clock += STEP
        return self._clock

    def add_orders(self, count: int) -> list[str]:
        """Add orders with 1–3 order products each; returns the new order numbers."""
        numbers = []
        with self._lock:
            for _ in range(count):
                index = len(self.orders) + 1
                order_id = _guid("salesorder", index)
                created = self._tick()
                number = f"ORD-{1000 + index:05d}-C{index % 7}X{index % 3}Z"
                self.orders[order_id] = {
                    "salesorderid": order_id,
                    "ordernumber": number,
                    "name": f"Order {index}",
                    "createdon": _iso(created),
                    "submitdate": None,
                    "datefulfilled": None,
                    "requestdeliveryby": None,
                    "statecode": (0, 1, 0, 3)[index % 4],
                    "statuscode": (1, 2, 1, 100001)[index % 4],
                    "_customerid_value": _guid("account", index % 6),
                    "modifiedon": _iso(created),
                    "new_region": ("NORTH", "SOUTH")[index % 2],
                }
                for position in range(1 + index % 3):
                    product_id, sku, name = DV_PRODUCTS[(index + position) % len(DV_PRODUCTS)]
                    line_id = _guid("salesorderdetail", index, position)
                    quantity = Decimal(1 + (index + 2 * position) % 7)
                    price = Decimal(39 + 10 * ((index + position) % 8)) + Decimal("0.50")
                    self.lines[line_id] = {
                        "salesorderdetailid": line_id,
                        "_salesorderid_value": order_id,
                        "_productid_value": product_id,
                        "productdescription": None,
                        "quantity": _number(quantity),
                        "priceperunit": _number(price),
                        "baseamount": _number(price * quantity),
                        "extendedamount": _number(price * quantity),
                        "lineitemnumber": position + 1,
                        "sequencenumber": position + 1,
                        "_transactioncurrencyid_value": DV_CURRENCY[0],
                        "_uomid_value": _guid("uom", "each"),
                        "requestdeliveryby": None,
                        "createdon": _iso(created),
                        "modifiedon": _iso(created),
                        "ispriceoverridden": False,
                        "new_channel": ("web", "store", "marketplace")[(index + position) % 3],
                        "new_promotioncode": None,
                        "_name_sku": sku,
                        "_name_product": name,
                    }
                numbers.append(number)
        return numbers

    def touch_lines(self, line_ids: Iterable[str]) -> None:
        """Change order products: quantity + 1 and a later ``modifiedon``."""
        with self._lock:
            for line_id in line_ids:
                line = self.lines[line_id]
                line["quantity"] += 1
                line["modifiedon"] = _iso(self._tick())

    def close_orders(self, numbers: Iterable[str], statecode: int = 3) -> None:
        """Fulfil (3) or cancel (2) orders: only the header changes."""
        wanted = set(numbers)
        with self._lock:
            for order in self.orders.values():
                if order["ordernumber"] in wanted:
                    order["statecode"] = statecode
                    order["statuscode"] = 100001 if statecode == 3 else 4
                    order["modifiedon"] = _iso(self._tick())

    def changed_after(self, moment: dt.datetime) -> set[str]:
        """Ids of the order products whose row or order changed after ``moment``."""
        with self._lock:
            return {
                line_id
                for line_id, line in self.lines.items()
                if dt.datetime.fromisoformat(line["modifiedon"]) > moment
                or dt.datetime.fromisoformat(self.orders[line["_salesorderid_value"]]["modifiedon"])
                > moment
            }

    # -- errors as Dataverse sends them --

    @staticmethod
    def _error(
        status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> Response:
        return _json({"error": {"code": code, "message": message}}, status, headers)

    def _refuse(self, status: int, code: str, message: str) -> _Refusal:
        return _Refusal(self._error(status, code, message))

    def _unauthorised(self) -> Response:
        return Response(
            b"",
            status=401,
            headers={
                "WWW-Authenticate": "Bearer authorization_uri=https://login.microsoftonline.com/"
                f"{TENANT_ID}/oauth2/authorize, resource_id={self.url}"
            },
        )

    def _throttled(self, retry_after: str | None) -> Response:
        return self._error(
            429,
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            {"Retry-After": retry_after} if retry_after is not None else None,
        )

    def _failed(self, status: int) -> Response:
        return self._error(status, "0x80040216", "An unexpected error occurred.")

    # -- routing --

    def handle(self, request: Request, client_id: str | None) -> Response:
        if request.method != "GET":
            raise self._refuse(405, "0x80060888", "The HTTP method is not served by this fake.")
        if client_id not in self.application_users:
            raise self._refuse(403, "0x80072560", "The user is not a member of the organization.")
        prefix = "/api/data/v9.2/"
        if not request.path.startswith(prefix):
            raise self._refuse(404, "0x8006088a", "Resource not found for the segment 'api'.")
        resource = request.path.removeprefix(prefix)
        if resource == "WhoAmI":
            return _json(
                {
                    "@odata.context": f"{self.url}{prefix}$metadata#Microsoft.Dynamics.CRM."
                    "WhoAmIResponse",
                    "BusinessUnitId": _guid("business-unit"),
                    "UserId": DV_USER,
                    "OrganizationId": _guid("organization"),
                }
            )
        if resource.startswith("EntityDefinitions(LogicalName='") and resource.endswith(
            "')/Attributes"
        ):
            table = resource.removeprefix("EntityDefinitions(LogicalName='").removesuffix(
                "')/Attributes"
            )
            return self._attributes(request, table)
        if resource == "salesorderdetails":
            return self._order_products(request)
        raise self._refuse(
            404, "0x8006088a", f"Resource not found for the segment '{resource.split('(')[0]}'."
        )

    def _bad_property(self, name: str, table: str) -> _Refusal:
        return self._refuse(
            400,
            "0x80060888",
            f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table}'.",
        )

    def _privilege_check(self, tables: Iterable[str]) -> None:
        if self.missing_privilege is None or self.missing_privilege not in tables:
            return
        table = self.missing_privilege
        raise self._refuse(
            403,
            "0x80040220",
            f"Principal user (Id={DV_USER}, type=8, roleCount=1, privilegeCount=312, "
            f"accessMode=4), is missing prvRead{table.capitalize()} privilege "
            f"(Id={_guid('privilege', table)}) on OTC=1088 for entity '{table}'. "
            f"context.Caller={DV_USER}",
        )

    def _attributes(self, request: Request, table: str) -> Response:
        columns = {"salesorderdetail": DV_LINE_COLUMNS, "salesorder": DV_ORDER_COLUMNS}.get(table)
        if columns is None:
            raise self._refuse(
                404, "0x80040217", f"Could not find entity with LogicalName '{table}'."
            )
        select = [s for s in request.args.get("$select", "").split(",") if s]
        rows = []
        for name, kind, label in columns:
            localized = {"Label": label, "LanguageCode": 1033} if label else None
            row = {
                "@odata.type": f"#Microsoft.Dynamics.CRM.{kind}AttributeMetadata",
                "MetadataId": _guid("attribute", table, name),
                "LogicalName": name,
                "AttributeType": kind,
                "IsCustomAttribute": name in _CUSTOM_COLUMNS,
                "AttributeOf": _ATTRIBUTE_OF.get(name),
                "IsValidForRead": True,
                "DisplayName": {
                    "LocalizedLabels": [localized] if localized else [],
                    "UserLocalizedLabel": localized,
                },
            }
            if select:
                row = {
                    k: v
                    for k, v in row.items()
                    if k in select or k in ("MetadataId", "@odata.type")
                }
            rows.append(row)
        return _json(
            {
                "@odata.context": f"{self.url}/api/data/v9.2/$metadata"
                f"#EntityDefinitions('{table}')/Attributes",
                "value": rows,
            }
        )

    def _order_products(self, request: Request) -> Response:
        line_names = _record_names(DV_LINE_COLUMNS)
        expands = self._expands(request.args.get("$expand", ""))
        self._privilege_check(["salesorderdetail", *(_DV_EXPANDS[n][0] for n in expands)])
        condition = self._filter(request.args.get("$filter"), line_names)
        with self._lock:
            lines = sorted(self.lines.values(), key=lambda line: line["salesorderdetailid"])
            lines = [json.loads(json.dumps(line)) for line in lines]
            orders = {key: dict(order) for key, order in self.orders.items()}

        def value(line: dict[str, Any], names: tuple[str, ...]) -> Any:
            if len(names) == 1:
                return line.get(names[0])
            return orders[line["_salesorderid_value"]].get(names[1])

        if condition is not None:
            lines = [line for line in lines if condition.holds(lambda n, line=line: value(line, n))]
        skip = request.args.get("$skiptoken")
        if skip is not None:
            lines = [line for line in lines if line["salesorderdetailid"] > self._last_id(skip)]
        top = request.args.get("$top")
        if top is not None:
            lines = lines[: int(top)]
        asked = _prefer_page_size(request)
        size = min(asked or self.max_page, self.max_page)
        page, more = lines[:size], len(lines) > size
        select = [s for s in request.args.get("$select", "").split(",") if s]
        for name in select:
            if name not in line_names:
                raise self._bad_property(name, "salesorderdetail")
        rows = []
        for line in page:
            row = {"@odata.etag": f'W/"{abs(hash(line["modifiedon"])) % 10**8}"'}
            row |= {
                k: v for k, v in line.items() if k in line_names and (not select or k in select)
            }
            for navigation, columns in expands.items():
                row[navigation] = self._related(navigation, line, orders, columns)
            rows.append(row)
        body: dict[str, Any] = {
            "@odata.context": f"{self.url}/api/data/v9.2/$metadata#salesorderdetails",
            "value": rows,
        }
        if more:
            body["@odata.nextLink"] = _with_query(
                request.url, **{"$skiptoken": self._cookie(page, skip)}
            )
        headers = {}
        if asked is not None:
            headers["Preference-Applied"] = f"odata.maxpagesize={min(asked, self.max_page)}"
        return _json(body, headers=headers)

    def _expands(self, text: str) -> dict[str, list[str] | None]:
        expands: dict[str, list[str] | None] = {}
        for item in _split_top(text):
            name, _, options = item.partition("(")
            if name not in _DV_EXPANDS:
                raise self._bad_property(name, "salesorderdetail")
            columns = None
            for option in options.removesuffix(")").split(";"):
                key, _, value = option.partition("=")
                if key == "$select":
                    columns = value.split(",")
                    for column in columns:
                        if column not in _DV_EXPANDS[name][1]:
                            raise self._bad_property(column, _DV_EXPANDS[name][0])
            expands[name] = columns
        return expands

    @staticmethod
    def _related(
        navigation: str,
        line: dict[str, Any],
        orders: dict[str, dict[str, Any]],
        columns: list[str] | None,
    ) -> dict[str, Any]:
        if navigation == "salesorderid":
            row = orders[line["_salesorderid_value"]]
        elif navigation == "productid":
            row = {
                "productid": line["_productid_value"],
                "productnumber": line["_name_sku"],
                "name": line["_name_product"],
            }
        else:
            row = {"transactioncurrencyid": DV_CURRENCY[0], "isocurrencycode": DV_CURRENCY[1]}
        key = _DV_EXPANDS[navigation][0] + "id"
        picked = {k: v for k, v in row.items() if columns is None or k in columns or k == key}
        return {"@odata.etag": 'W/"1"', **picked}

    def _filter(self, text: str | None, line_names: set[str]) -> _Filter | None:
        if not text:
            return None
        try:
            condition = _Filter(text)
        except ODataException:
            raise self._refuse(
                400, "0x80060888", "Syntax error in the $filter query option."
            ) from None
        order_names = _DV_EXPANDS["salesorderid"][1]
        for path in condition.names():
            if len(path) == 1 and path[0] in line_names:
                continue
            if len(path) == 2 and path[0] == "salesorderid" and path[1] in order_names:
                continue
            raise self._bad_property("/".join(path), "salesorderdetail")
        return condition

    @staticmethod
    def _cookie(page: list[dict[str, Any]], previous: str | None) -> str:
        """A paging cookie as Dataverse writes it in ``$skiptoken`` (double URL-encoded)."""
        number = 2
        if previous:
            number = int(previous.split('pagenumber="')[1].split('"')[0]) + 1
        first, last = page[0]["salesorderdetailid"], page[-1]["salesorderdetailid"]
        inner = (
            f'<cookie page="{number - 1}"><salesorderdetailid last="{{{last.upper()}}}" '
            f'first="{{{first.upper()}}}" /></cookie>'
        )
        return (
            f'<cookie pagenumber="{number}" pagingcookie="{quote(quote(inner, safe=""), safe="")}" '
            'istracking="False" />'
        )

    def _last_id(self, skiptoken: str) -> str:
        try:
            encoded = skiptoken.split('pagingcookie="')[1].split('"', maxsplit=1)[0]
            inner = unquote(unquote(encoded))
            return inner.split('last="{')[1].split("}")[0].lower()
        except IndexError:
            raise self._refuse(400, "0x80060888", "The $skiptoken is not valid.") from None

    def deny_privilege(self, table: str) -> None:
        """Refuse reads touching ``table`` for a missing read privilege (403)."""
        self.missing_privilege = table

    def remove_application_user(self) -> None:
        """The app registration is no longer an application user of the environment."""
        self.application_users.clear()


# -- serving --------------------------------------------------------------------------


@dataclass
class BusinessCentralFakes:
    identity: FakeIdentity
    api: FakeBusinessCentral
    login_url: str
    api_url: str

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings of the ``dynamics_bc`` preset that read this fake's first company."""
        values = {
            "tenant_id": TENANT_ID,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "environment": ENVIRONMENT,
            "company_id": COMPANIES[0][0],
            "documents": "sales_invoices",
        }
        values.update(overrides)
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class DataverseFakes:
    identity: FakeIdentity
    api: FakeDataverse
    login_url: str
    environment_url: str

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings of the ``dynamics_dataverse`` preset for this fake."""
        values = {
            "environment_url": self.environment_url,
            "tenant_id": TENANT_ID,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        values.update(overrides)
        return {key: value for key, value in values.items() if value is not None}


@contextmanager
def serve_business_central(
    *, invoices: int = 30, orders: int = 8, page_cap: int = 20_000, token_lifetime: int = 3599
) -> Iterator[BusinessCentralFakes]:
    """The identity fake and the Business Central fake, each on its own port."""
    identity = FakeIdentity(token_lifetime=token_lifetime)
    api = FakeBusinessCentral(identity, invoices=invoices, orders=orders, page_cap=page_cap)
    with WsgiServer(identity) as login, WsgiServer(api) as service:
        api.url = service.url
        yield BusinessCentralFakes(identity, api, login.url, service.url)


@contextmanager
def serve_dataverse(*, orders: int = 20, token_lifetime: int = 3599) -> Iterator[DataverseFakes]:
    """The identity fake and a Dataverse environment, each on its own port."""
    identity = FakeIdentity(token_lifetime=token_lifetime)
    api = FakeDataverse(identity, orders=orders)
    with WsgiServer(identity) as login, WsgiServer(api) as service:
        api.url = service.url
        identity.resources.add(service.url)
        api.start_data()
        yield DataverseFakes(identity, api, login.url, service.url)
