"""A fake QuickBooks Online Accounting API and its token endpoint, served on 127.0.0.1.

Start it with the context manager; it picks a free port and frees it on exit::

    with serve_quickbooks(invoices=30, credit_memos=4) as qbo:
        qbo.url            # "http://127.0.0.1:<port>": the API host (production or sandbox)
        qbo.realm_id       # the company's realm id
        qbo.token_url      # qbo.url + "/oauth2/v1/tokens/bearer"
        qbo.access_token   # a valid grant issued at start (with qbo.refresh_token)

What it answers, shaped as developer.intuit.com documents it:

- ``GET /v3/company/{realmId}/query?query=...``: the query language subset
  ``SELECT * | COUNT(*) FROM Invoice | CreditMemo [WHERE prop op 'value' [AND
  ...]] [ORDERBY prop [ASC|DESC]] [STARTPOSITION n] [MAXRESULTS m]``, parsed
  (keywords in any case, literals in single quotes with backslash escapes).
  ``MAXRESULTS`` defaults to 100 and is capped at 1000; documents tied on the
  sort key come in Id order. The answer is ``{"QueryResponse": {"Invoice":
  [...], "startPosition": n, "maxResults": k}, "time": ...}``, with an empty
  ``QueryResponse`` when nothing matches; ``COUNT(*)`` answers ``totalCount``.
  Anything else is a 400 ``ValidationFault`` (QueryParserError).
- ``GET /v3/company/{realmId}/companyinfo/{realmId}``: ``{"CompanyInfo": {...}}``.
- ``GET /v3/company/{realmId}/cdc?entities=...&changedSince=...``: every
  listed document changed since then, in full, and every deleted one as
  ``{"domain": "QBO", "status": "Deleted", "Id": ..., "MetaData": {...}}``,
  at most 1000 per entity, in ``CDCResponse[0].QueryResponse``. A
  ``changedSince`` older than 30 days is a 400 ``ValidationFault`` (what
  QuickBooks answers then is not documented; this fake refuses it).
- ``POST /oauth2/v1/tokens/bearer``: the refresh-token grant with the client
  authenticated by HTTP Basic (:data:`CLIENT_ID`, :data:`CLIENT_SECRET`).
  Access tokens last ``token_lifetime`` seconds; every refresh returns a new
  refresh token and revokes the one spent, so a client that loses the newest
  one fails (``invalid_grant``), as QuickBooks' rotation can make it.

Errors: a missing, unknown, expired or revoked access token is a 401 whose
body is the lower-case ``fault`` seen from QuickBooks, with ``WWW-Authenticate:
Bearer realm="Intuit", error="invalid_token"``; a token without the accounting
scope, or for another company, is a 403 ``ApplicationAuthorizationFailed``.
:meth:`FakeQuickBooks.throttle` makes the next requests a 429
``ThrottleExceeded`` without ``Retry-After``, as QuickBooks sends it. Every
answer carries an ``intuit_tid`` header. ``minorversion`` is recorded, not
enforced (QuickBooks answers at 75 whatever is sent).

Documents: invoices 1..N and credit memos N+1..N+M (QuickBooks numbers all
transactions in one sequence). Invoice *i* has a sales line ``1`` (item
``ITEMS[i % 5]``, quantity ``1 + i % 4``), a second sales line ``2`` on even
*i*, a description line on every third, a discount line on every fourth, a
bundle (group line ``5`` with sales lines ``6`` and ``7``) on every fifth, and
a subtotal line. Credit memos have one sales line. Their LastUpdatedTime runs
from a day back, three documents per time (ties happen in QuickBooks too);
every change afterwards is stamped with the current time, later than any
before. Times carry the company's offset (a fixed -08:00).

Control (safe while serving): :meth:`add_invoice`, :meth:`add_invoices`,
:meth:`set_quantity`, :meth:`void`, :meth:`delete`, :meth:`throttle`,
:meth:`expire_access_tokens`, :meth:`revoke_grant`, :meth:`issue_grant`.
Inspection: ``requests`` (every API request: path, params, headers, status),
``queries`` (each query string), ``served`` ((entity, Id) of each document a
query answered), ``refreshes`` (token grants served).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

CLIENT_ID = "fake-intuit-client"
CLIENT_SECRET = "fake-intuit-secret-8d3f1a"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
OFFSET = dt.timezone(dt.timedelta(hours=-8))
ITEMS = (("11", "Rock Fountain"), ("12", "Pump"), ("13", "Hose"), ("14", "Sod"), ("15", "Lamp"))
BUNDLE = ("30", "Starter Kit")
MAX_RESULTS = 1000
CHANGE_LIMIT = 1000
CHANGE_WINDOW = dt.timedelta(days=30)

# The field mapping the preset ships, for tests that compare rows.
ENTITIES = ("Invoice", "CreditMemo")


def stamp(moment: dt.datetime) -> str:
    """A LastUpdatedTime as QuickBooks writes it: seconds, with the company's offset."""
    return moment.astimezone(OFFSET).isoformat(timespec="seconds")


def parse_time(text: str) -> dt.datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return dt.datetime.fromisoformat(text).replace(tzinfo=OFFSET)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=OFFSET)


# -- lines ----------------------------------------------------------------------


def sales_line(
    line_id: str, item: tuple[str, str], qty: Any, price: Any, description: str | None = None
) -> dict[str, Any]:
    amount = Decimal(str(qty)) * Decimal(str(price))
    line: dict[str, Any] = {
        "Id": line_id,
        "LineNum": int(line_id) if line_id.isdigit() else 1,
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {
            "ItemRef": {"value": item[0], "name": item[1]},
            "UnitPrice": Decimal(str(price)),
            "Qty": Decimal(str(qty)),
            "TaxCodeRef": {"value": "NON"},
        },
    }
    if description:
        line["Description"] = description
    return line


def group_line(line_id: str, bundle: tuple[str, str], quantity: int, parts: list[dict]) -> dict:
    return {
        "Id": line_id,
        "LineNum": int(line_id),
        "Amount": sum((part["Amount"] for part in parts), Decimal(0)),
        "DetailType": "GroupLineDetail",
        "GroupLineDetail": {
            "GroupItemRef": {"value": bundle[0], "name": bundle[1]},
            "Quantity": quantity,
            "Line": parts,
        },
    }


def description_line(line_id: str, text: str) -> dict[str, Any]:
    return {
        "Id": line_id,
        "LineNum": int(line_id),
        "Description": text,
        "DetailType": "DescriptionOnly",
        "DescriptionLineDetail": {},
    }


def discount_line(percent: int, base: Decimal) -> dict[str, Any]:
    return {
        "Amount": (base * percent / 100).quantize(Decimal("0.01")),
        "DetailType": "DiscountLineDetail",
        "DiscountLineDetail": {
            "PercentBased": True,
            "DiscountPercent": percent,
            "DiscountAccountRef": {"value": "86", "name": "Discounts given"},
        },
    }


def subtotal_line(amount: Decimal) -> dict[str, Any]:
    return {"Amount": amount, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}


def _sales_total(lines: list[dict[str, Any]]) -> Decimal:
    total = Decimal(0)
    for line in lines:
        if line["DetailType"] in ("SalesItemLineDetail", "GroupLineDetail"):
            total += line["Amount"]
        elif line["DetailType"] == "DiscountLineDetail":
            total -= line["Amount"]
    return total


# -- the query language subset ----------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<literal>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|=|<|>)|(?P<star>\*)"
    r"|(?P<count>count\(\*\))|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<number>\d+))",
    re.IGNORECASE,
)


class QueryError(ValueError):
    """The query is outside the subset (or not the language at all)."""


@dataclass
class Query:
    entity: str
    count: bool = False
    conditions: list[tuple[str, str, str]] = field(default_factory=list)
    order: str | None = None
    descending: bool = False
    start: int = 1
    max_results: int = 100


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(
                f'QueryParserError: Encountered " {text[position : position + 10]!r} " at '
                f"line 1, column {position + 1}."
            )
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "literal":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        position = match.end()
    return out


def parse_query(text: str) -> Query:
    """The query as data; raises QueryError naming what it did not expect."""
    tokens = _tokens(text)
    position = 0

    def take(kind: str | None = None, word: str | None = None) -> str:
        nonlocal position
        if position >= len(tokens):
            raise QueryError("QueryParserError: Encountered end of query unexpectedly.")
        found_kind, value = tokens[position]
        if (kind and found_kind != kind) or (word and value.upper() != word):
            raise QueryError(f'QueryParserError: Encountered " {value} " unexpectedly.')
        position += 1
        return value

    def peek_word() -> str | None:
        if position < len(tokens) and tokens[position][0] == "word":
            return tokens[position][1].upper()
        return None

    take("word", "SELECT")
    kind = tokens[position][0] if position < len(tokens) else ""
    if kind == "star":
        take("star")
        count = False
    else:
        take("count")
        count = True
    take("word", "FROM")
    query = Query(entity=take("word"), count=count)
    if peek_word() == "WHERE":
        take("word", "WHERE")
        while True:
            prop = take("word")
            op = take("op")
            if position < len(tokens) and tokens[position][0] in ("literal", "number"):
                value = tokens[position][1]
                position += 1
            else:
                value = take("word")  # true / false
            query.conditions.append((prop, op, value))
            if peek_word() != "AND":
                break
            take("word", "AND")
    if peek_word() == "ORDERBY":
        take("word", "ORDERBY")
        query.order = take("word")
        if peek_word() in ("ASC", "DESC"):
            query.descending = take("word").upper() == "DESC"
    if peek_word() == "STARTPOSITION":
        take("word", "STARTPOSITION")
        query.start = int(take("number"))
    if peek_word() == "MAXRESULTS":
        take("word", "MAXRESULTS")
        query.max_results = int(take("number"))
    if position != len(tokens):
        raise QueryError(f'QueryParserError: Encountered " {tokens[position][1]} " unexpectedly.')
    return query


def _property(document: dict[str, Any], name: str) -> Any:
    value: Any = document
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        # Property names in queries are matched without regard to case (MetaData, Metadata).
        key = next((key for key in value if key.lower() == part.lower()), None)
        value = value.get(key) if key is not None else None
    return value


def _comparable(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name.lower().endswith("time"):
        return parse_time(str(value))
    if name.lower() == "id":
        return int(value)
    return str(value)


_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _matches(document: dict[str, Any], conditions: list[tuple[str, str, str]]) -> bool:
    for prop, op, raw in conditions:
        left = _comparable(prop, _property(document, prop))
        try:
            right = _comparable(prop, raw)
        except ValueError:
            raise QueryError(
                f"QueryValidationError: value {raw!r} is not valid for {prop}"
            ) from None
        if left is None or not _OPS[op](left, right):
            return False
    return True


# -- the fake ------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral() else int(value)
    raise TypeError(type(value).__name__)


@dataclass
class Grant:
    access_token: str
    refresh_token: str
    realm_id: str
    scopes: tuple[str, ...]
    expires: dt.datetime


@dataclass(frozen=True)
class Served:
    """One API request as the fake received and answered it."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int


class FakeQuickBooks:
    """The company's documents, the grants issued for it, and the WSGI app serving both."""

    def __init__(
        self,
        *,
        invoices: int = 20,
        credit_memos: int = 3,
        realm_id: str = "9130354865162317",
        company_name: str = "Sandbox Company_US_1",
        token_lifetime: int = 3600,
    ) -> None:
        self.realm_id = realm_id
        self.company_name = company_name
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self.documents: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self.deleted: dict[str, dict[str, str]] = {name: {} for name in ENTITIES}
        self._next_id = 1
        self._latest = dt.datetime.now(OFFSET).replace(microsecond=0) - dt.timedelta(days=1)
        self._grants: dict[str, Grant] = {}  # by access token
        self._refresh: dict[str, Grant] = {}  # by refresh token
        self._throttled = 0
        self._burst: int | None = None
        self._in_burst = 0
        self.requests: list[Served] = []
        self.queries: list[str] = []
        self.served: list[tuple[str, str]] = []
        self.refreshes = 0
        base = self._latest - dt.timedelta(hours=(invoices + credit_memos) // 3 + 1)
        for number in range(invoices):
            self._add_invoice_at(base + dt.timedelta(hours=number // 3))
        for number in range(invoices, invoices + credit_memos):
            self._add_credit_memo_at(base + dt.timedelta(hours=number // 3))
        self.access_token, self.refresh_token = self.issue_grant()

    # -- documents ---------------------------------------------------------------------

    def _take_id(self) -> str:
        number = self._next_id
        self._next_id += 1
        return str(number)

    def _now(self) -> dt.datetime:
        """A change's time: now, and always later than any change before."""
        moment = max(
            dt.datetime.now(OFFSET).replace(microsecond=0), self._latest + dt.timedelta(seconds=1)
        )
        self._latest = moment
        return moment

    def _invoice_lines(self, number: int) -> list[dict[str, Any]]:
        item = ITEMS[number % 5]
        lines = [sales_line("1", item, 1 + number % 4, 10 + number % 7, f"{item[1]}, each")]
        if number % 2 == 0:
            lines.append(sales_line("2", ITEMS[(number + 1) % 5], 2, Decimal("4.25")))
        if number % 3 == 0:
            lines.append(description_line("3", "Delivered to the back door"))
        if number % 5 == 0:
            parts = [sales_line("6", ITEMS[1], 2, 15), sales_line("7", ITEMS[2], 2, 5)]
            lines.append(group_line("5", BUNDLE, 2, parts))
        if number % 4 == 0:
            lines.append(discount_line(10, _sales_total(lines)))
        lines.append(
            subtotal_line(_sales_total([x for x in lines if "Discount" not in x["DetailType"]]))
        )
        return lines

    def _document(self, entity: str, number: int, lines: list[dict], when: dt.datetime) -> dict:
        document_id = self._take_id()
        total = _sales_total(lines)
        document: dict[str, Any] = {
            "domain": "QBO",
            "sparse": False,
            "Id": document_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": stamp(when), "LastUpdatedTime": stamp(when)},
            "DocNumber": str(1000 + int(document_id)),
            "TxnDate": (dt.date(2024, 1, 1) + dt.timedelta(days=number)).isoformat(),
            "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            "Line": lines,
            "CustomerRef": {"value": str(1 + number % 7), "name": f"Customer {1 + number % 7}"},
            "TotalAmt": total,
        }
        if number % 6 == 0:
            document["DepartmentRef"] = {"value": "2", "name": "Warehouse East"}
        if entity == "Invoice":
            document["Balance"] = Decimal(0) if number % 2 else total
        else:
            document["RemainingCredit"] = total
        self.documents[entity][document_id] = document
        return document

    def _add_invoice_at(self, when: dt.datetime) -> dict[str, Any]:
        number = self._next_id
        return self._document("Invoice", number, self._invoice_lines(number), when)

    def _add_credit_memo_at(self, when: dt.datetime) -> dict[str, Any]:
        number = self._next_id
        lines = [sales_line("1", ITEMS[number % 5], 1, 10 + number % 7, "Returned")]
        lines.append(subtotal_line(_sales_total(lines)))
        return self._document("CreditMemo", number, lines, when)

    def add_invoices(self, count: int) -> list[str]:
        """New generated invoices, stamped now; returns their Ids."""
        with self._lock:
            return [self._add_invoice_at(self._now())["Id"] for _ in range(count)]

    def add_invoice(self, lines: list[dict[str, Any]], **fields: Any) -> str:
        """An invoice with exactly ``lines`` (and top-level ``fields``), stamped now."""
        with self._lock:
            number = self._next_id
            document = self._document("Invoice", number, lines, self._now())
            document.update(fields)
            return str(document["Id"])

    def add_credit_memo(self, lines: list[dict[str, Any]], **fields: Any) -> str:
        with self._lock:
            number = self._next_id
            document = self._document("CreditMemo", number, lines, self._now())
            document.update(fields)
            return str(document["Id"])

    def document(self, entity: str, document_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.documents[entity][document_id])

    def _touch(self, document: dict[str, Any]) -> None:
        document["SyncToken"] = str(int(document["SyncToken"]) + 1)
        document["MetaData"]["LastUpdatedTime"] = stamp(self._now())

    def set_quantity(self, document_id: str, line_id: str, qty: Any) -> None:
        """Change a top-level sales line's quantity of an invoice."""
        with self._lock:
            document = self.documents["Invoice"][document_id]
            line = next(line for line in document["Line"] if line.get("Id") == line_id)
            detail = line["SalesItemLineDetail"]
            detail["Qty"] = Decimal(str(qty))
            line["Amount"] = detail["Qty"] * detail["UnitPrice"]
            self._touch(document)

    def void(self, entity: str, document_id: str) -> None:
        """Void as QuickBooks does: amounts and quantities zeroed, "Voided" put in PrivateNote."""
        with self._lock:
            document = self.documents[entity][document_id]
            for line in document["Line"]:
                line["Amount"] = Decimal(0)
                detail = line.get("SalesItemLineDetail")
                if detail is not None:
                    detail.pop("Qty", None)
                    detail.pop("UnitPrice", None)
            document["TotalAmt"] = Decimal(0)
            document["Balance"] = Decimal(0)
            note = document.get("PrivateNote")
            document["PrivateNote"] = f"Voided - {note}" if note else "Voided"
            self._touch(document)

    def delete(self, entity: str, document_id: str) -> None:
        with self._lock:
            del self.documents[entity][document_id]
            self.deleted[entity][document_id] = stamp(self._now())

    def ids(self, entity: str) -> list[str]:
        with self._lock:
            return sorted(self.documents[entity], key=int)

    # -- grants -----------------------------------------------------------------------

    def issue_grant(
        self, scopes: tuple[str, ...] = (ACCOUNTING_SCOPE,), realm_id: str | None = None
    ) -> tuple[str, str]:
        """A new access and refresh token pair; returns (access, refresh)."""
        with self._lock:
            return self._new_grant(scopes, realm_id or self.realm_id)

    def _new_grant(self, scopes: tuple[str, ...], realm_id: str) -> tuple[str, str]:
        grant = Grant(
            access_token="eyJ-qbo-" + secrets.token_urlsafe(24),
            refresh_token="AB11-qbo-" + secrets.token_urlsafe(24),
            realm_id=realm_id,
            scopes=scopes,
            expires=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.token_lifetime),
        )
        self._grants[grant.access_token] = grant
        self._refresh[grant.refresh_token] = grant
        return grant.access_token, grant.refresh_token

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is now expired (refresh tokens still work)."""
        with self._lock:
            for grant in self._grants.values():
                grant.expires = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)

    def revoke_grant(self) -> None:
        """The company disconnected the app: every token is refused."""
        with self._lock:
            self._grants.clear()
            self._refresh.clear()

    def throttle(self, count: int, *, burst: int | None = None) -> None:
        """Answer ``count`` API requests with 429 ThrottleExceeded, from the next one on.

        With ``burst``, every run of ``burst`` refusals is followed by one answer.
        """
        with self._lock:
            self._throttled = count
            self._burst = burst
            self._in_burst = 0

    # -- serving ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path == TOKEN_PATH and request.method == "POST":
            response = self._token(request)
        else:
            response = self._api(request)
            with self._lock:
                self.requests.append(
                    Served(
                        request.method,
                        request.path,
                        dict(request.args.items()),
                        dict(request.headers.items()),
                        response.status_code,
                    )
                )
        return response(environ, start_response)

    def _time(self) -> str:
        return dt.datetime.now(OFFSET).isoformat(timespec="milliseconds")

    def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        response = Response(
            json.dumps(body, default=_json_default),
            status=status,
            content_type="application/json;charset=UTF-8",
        )
        response.headers["intuit_tid"] = "1-" + secrets.token_hex(12)
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    def _fault(self, status: int, kind: str, message: str, detail: str, code: str) -> Response:
        error = {"Message": message, "Detail": detail, "code": code}
        return self._respond(
            status, {"Fault": {"Error": [error], "type": kind}, "time": self._time()}
        )

    def _unauthorized(self, detail: str) -> Response:
        body = {
            "fault": {
                "error": [
                    {
                        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        "detail": detail,
                        "code": "3200",
                    }
                ],
                "type": "AUTHENTICATION",
            },
            "time": self._time(),
        }
        challenge = 'Bearer realm="Intuit", error="invalid_token"'
        return self._respond(401, body, {"WWW-Authenticate": challenge})

    def _api(self, request: Request) -> Response:
        with self._lock:
            refusal = self._refusal(request)
            if refusal is not None:
                return refusal
            match = re.fullmatch(r"/v3/company/([^/]+)/(query|cdc|companyinfo/[^/]+)", request.path)
            if match is None:
                return self._fault(404, "SystemFault", "Not Found", request.path, "404")
            operation = match.group(2)
            try:
                if operation == "query":
                    return self._query(request.args.get("query", ""))
                if operation == "cdc":
                    return self._cdc(
                        request.args.get("entities", ""), request.args.get("changedSince", "")
                    )
                return self._company_info(operation.split("/", 1)[1])
            except QueryError as exc:
                return self._fault(400, "ValidationFault", "Error parsing query", str(exc), "4000")

    def _refusal(self, request: Request) -> Response | None:
        """The answer to a request that QuickBooks would not serve (bad token, throttled)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = self._grants.get(token) if scheme.lower() == "bearer" else None
        if grant is None:
            return self._unauthorized("Malformed bearer token or token revoked")
        if grant.expires <= dt.datetime.now(dt.UTC):
            return self._unauthorized(f"Token expired: {token[:12]}")
        realm = re.match(r"/v3/company/([^/]+)", request.path)
        if ACCOUNTING_SCOPE not in grant.scopes or (realm and realm.group(1) != grant.realm_id):
            return self._forbidden()
        if self._throttled > 0:
            if self._burst is not None and self._in_burst == self._burst:
                self._in_burst = 0
                return None
            self._throttled -= 1
            self._in_burst += 1
            return self._fault(
                429,
                "SERVICE",
                "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "The request limit was reached.",
                "3001",
            )
        return None

    def _forbidden(self) -> Response:
        return self._fault(
            403,
            "AuthorizationFault",
            "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            "",
            "003100",
        )

    def _company_info(self, realm: str) -> Response:
        if realm != self.realm_id:
            return self._fault(400, "ValidationFault", "Object Not Found", realm, "610")
        info = {
            "CompanyName": self.company_name,
            "LegalName": self.company_name,
            "Country": "US",
            "domain": "QBO",
            "sparse": False,
            "Id": "1",
            "SyncToken": "4",
            "MetaData": {"CreateTime": "2023-05-02T14:26:29-07:00"},
        }
        return self._respond(200, {"CompanyInfo": info, "time": self._time()})

    def _query(self, text: str) -> Response:
        self.queries.append(text)
        query = parse_query(text)
        if query.entity not in ENTITIES:
            raise QueryError(f"QueryValidationError: Invalid entity name {query.entity}")
        matching = [
            document
            for document in self.documents[query.entity].values()
            if _matches(document, query.conditions)
        ]
        matching.sort(key=lambda document: int(document["Id"]))
        if query.order:
            order = query.order

            def key(document: dict[str, Any]) -> tuple[bool, Any]:
                value = _comparable(order, _property(document, order))
                return value is not None, value

            matching.sort(key=key, reverse=query.descending)
        if query.count:
            return self._respond(
                200, {"QueryResponse": {"totalCount": len(matching)}, "time": self._time()}
            )
        size = max(0, min(query.max_results, MAX_RESULTS))
        page = matching[query.start - 1 : query.start - 1 + size]
        self.served.extend((query.entity, document["Id"]) for document in page)
        answer: dict[str, Any] = {}
        if page:
            answer = {
                query.entity: copy.deepcopy(page),
                "startPosition": query.start,
                "maxResults": len(page),
            }
        return self._respond(200, {"QueryResponse": answer, "time": self._time()})

    def _cdc(self, entities: str, changed_since: str) -> Response:
        try:
            since = parse_time(changed_since)
        except ValueError:
            raise QueryError(f"Invalid changedSince {changed_since!r}") from None
        if dt.datetime.now(dt.UTC) - since > CHANGE_WINDOW:
            raise QueryError("changedSince must be within the last 30 days")
        groups = []
        for name in entities.split(","):
            entity = next((e for e in ENTITIES if e.lower() == name.strip().lower()), None)
            if entity is None:
                raise QueryError(f"Invalid entity for change data capture: {name}")
            changed = [
                copy.deepcopy(document)
                for document in self.documents[entity].values()
                if parse_time(document["MetaData"]["LastUpdatedTime"]) >= since
            ]
            changed.extend(
                {
                    "domain": "QBO",
                    "status": "Deleted",
                    "Id": document_id,
                    "MetaData": {"LastUpdatedTime": when},
                }
                for document_id, when in self.deleted[entity].items()
                if parse_time(when) >= since
            )
            changed = changed[:CHANGE_LIMIT]
            groups.append({entity: changed, "startPosition": 1, "maxResults": len(changed)})
        body = {"CDCResponse": [{"QueryResponse": groups}], "time": self._time()}
        return self._respond(200, body)

    def _token(self, request: Request) -> Response:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            client = base64.b64decode(encoded).decode() if scheme.lower() == "basic" else ""
        except ValueError:
            client = ""
        if client != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return self._respond(401, {"error": "invalid_client"})
        if request.form.get("grant_type") != "refresh_token":
            return self._respond(400, {"error": "unsupported_grant_type"})
        with self._lock:
            old = self._refresh.pop(request.form.get("refresh_token", ""), None)
            if old is None:
                return self._respond(400, {"error": "invalid_grant"})
            self._grants.pop(old.access_token, None)
            self.refreshes += 1
            access, refresh = self._new_grant(old.scopes, old.realm_id)
        return self._respond(
            200,
            {
                "token_type": "bearer",
                "access_token": access,
                "expires_in": self.token_lifetime,
                "refresh_token": refresh,
                "x_refresh_token_expires_in": 8_726_400,
            },
        )


class QuickBooksServer(WsgiServer):
    """A :class:`FakeQuickBooks` on 127.0.0.1; attributes of the fake read through."""

    def __init__(self, fake: FakeQuickBooks) -> None:
        super().__init__(fake)
        self.fake = fake

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def __getattr__(self, name: str) -> Any:
        if name == "fake":  # not set yet: no recursion
            raise AttributeError(name)
        return getattr(self.fake, name)


@contextmanager
def serve_quickbooks(**options: Any) -> Iterator[QuickBooksServer]:
    """Serve a new :class:`FakeQuickBooks` made with ``options`` until the block ends."""
    with QuickBooksServer(FakeQuickBooks(**options)) as server:
        yield server
