"""A fake NetSuite account answering SuiteQL over REST, served for real on 127.0.0.1.

Start it with the context manager; it picks a free port and serves on a
background thread::

    with serve_netsuite(transactions=30) as ns:
        preset.base_url_template = ns.base_url_template
        ns.connector_settings()      # the netsuite preset's settings for this account

What it checks, as NetSuite does:

- Every request must carry a Token-Based Authentication header signed with
  HMAC-SHA256. The signature is verified by oauthlib's server-side
  ``SignatureOnlyEndpoint``, an implementation independent of the client's
  (authlib): a wrong secret, a tampered parameter, HMAC-SHA1, a reused nonce or
  a stale timestamp fail. The ``realm`` must be the account id in its
  ``1234567_SB1`` form. Failures get 401 with NetSuite's ``INVALID_LOGIN``
  body and ``WWW-Authenticate`` header.
- The host: tests cannot resolve ``1234567-sb1.suitetalk.api.netsuite.com``,
  so the host label is carried as the first path segment
  (``base_url_template`` is ``http://127.0.0.1:<port>/{host}``); another label,
  such as the realm form ``1234567_SB1``, is another account, which refuses
  the token (401).
- ``POST /services/rest/query/v1/suiteql`` needs ``Prefer: transient`` and a
  JSON body ``{"q": ...}``; ``limit`` is 1..1000, ``offset`` a multiple of it,
  and one query serves at most ``max_results`` (100,000) rows.

SuiteQL: the subset the preset sends is parsed and evaluated, not matched:
``SELECT`` of columns, ``*``, ``expr AS alias``, ``TO_CHAR``, ``BUILTIN.DF``;
``FROM`` a table with an alias and ``INNER``/``LEFT JOIN ... ON a = b``;
``WHERE`` with ``AND``/``OR``/``NOT``, comparisons, ``IN``, ``IS [NOT] NULL``
and ``TO_DATE``; ``ORDER BY`` with ``ASC``/``DESC``. A date compared with plain
text is parsed in the user's date format preference (``date_format``, German
``dd.MM.yyyy`` by default) and fails as NetSuite does when it does not fit;
dates selected without ``TO_CHAR`` are written in that format too. Unknown
tables or fields are search errors (400). ``can_read_transactions=False``
makes the role blind to transactions, as a role without the permission is.

The answer is ``{"links", "count", "hasMore", "items", "offset",
"totalResults"}``; each item has ``"links": []`` and its values as text, with
null columns left out, as NetSuite's REST answer does. Errors are
``{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}``.
Where NetSuite's exact wording is not public (the paging limits, the missing
``Prefer`` header), the wording is this fake's own.

Data (generated from the transaction number, so two fakes agree): transaction
*n* cycles through sales orders, invoices, credit memos, return authorisations
and cash sales; every third transaction shares its ``lastmodifieddate`` with
the two before it (ties that only a unique sort order pages through). Each has
a main line, ``lines`` item lines (negative quantities on sales, positive on
returns, as ``transactionline`` stores them), a discount line, a tax line and,
on invoices, cash sales and credit memos, COGS lines. Custom fields:
``custbody_channel`` on transactions (empty on every seventh) and
``custcol_bin`` on lines.

Control: ``touch(ids)`` changes transactions (a later ``lastmodifieddate``, one
more unit on each item line); ``add_transactions(n)``; ``fail_with_429(count)``
and ``fail_with_5xx(count, status=503)`` answer the next SuiteQL requests with
errors; ``log`` lists each SuiteQL request (query, limit, offset, status).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

ACCOUNT = "1234567_SB1"
HOST_LABEL = "1234567-sb1"
CONSUMER_KEY = "ck4f1e9a2b7c3d8e5f6a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
CONSUMER_SECRET = "cs9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8"
TOKEN_ID = "tk1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2"
TOKEN_SECRET = "ts0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9"
SECRETS = (CONSUMER_KEY, CONSUMER_SECRET, TOKEN_ID, TOKEN_SECRET)

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
MAX_LIMIT = 1_000
MAX_RESULTS = 100_000
START = dt.datetime(2024, 3, 1, 9, 0, 0)
TYPE_CYCLE = ("SalesOrd", "CustInvc", "SalesOrd", "CustCred", "RtnAuth", "CashSale", "SalesOrd")
RETURNS = frozenset({"CustCred", "RtnAuth", "CashRfnd"})
WITH_COGS = frozenset({"CustInvc", "CashSale", "CustCred"})
PREFIX = {"SalesOrd": "SO", "CustInvc": "INV", "CustCred": "CM", "RtnAuth": "RA", "CashSale": "CS"}
STATUS_CYCLE = {
    "SalesOrd": ("B", "G", "C", "D", "H"),
    "CustInvc": ("A", "B"),
    "CustCred": ("A", "B"),
    "RtnAuth": ("B", "C", "G"),
    "CashSale": ("C",),
}
STATUS_NAMES = {
    ("SalesOrd", "B"): "Sales Order : Pending Fulfillment",
    ("SalesOrd", "C"): "Sales Order : Cancelled",
    ("SalesOrd", "D"): "Sales Order : Partially Fulfilled",
    ("SalesOrd", "G"): "Sales Order : Billed",
    ("SalesOrd", "H"): "Sales Order : Closed",
}
CHANNELS = ("web", "retail", "marketplace")
ITEMS = 12
DISCOUNT_ITEM = 900
TAX_ITEM = 950
# A date format preference written the Java way, and how Python reads it.
DATE_FORMATS = {"dd.MM.yyyy": "%d.%m.%Y", "M/d/yyyy": "%m/%d/%Y", "yyyy-MM-dd": "%Y-%m-%d"}
ORACLE_FORMAT = (("YYYY", "%Y"), ("MM", "%m"), ("DD", "%d"), ("HH24", "%H"), ("MI", "%M"))


class SearchError(Exception):
    """A query NetSuite refuses: 400 with its detail."""


# -- SuiteQL: tokens, parser, evaluator ---------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op><>|!=|>=|<=|[=<>(),*]))"
)
KEYWORDS = frozenset(
    {
        *("SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "IS", "NULL", "AS"),
        *("ORDER", "BY", "ASC", "DESC", "JOIN", "INNER", "LEFT", "OUTER", "ON"),
    }
)


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SearchError(f"Syntax error near {text[position : position + 20]!r}")
        position = match.end()
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            tokens.append(("lit", value[1:-1].replace("''", "'")))
        elif kind == "number":
            tokens.append(("lit", Decimal(value)))
        elif kind == "name" and value.upper() in KEYWORDS:
            tokens.append(("kw", value.upper()))
        else:
            tokens.append((kind, value))
    return tokens


@dataclass
class Query:
    columns: list[tuple[Any, str]] | None  # None: SELECT *
    table: str
    alias: str
    joins: list[tuple[str, str, str, Any]]  # (kind, table, alias, condition)
    where: Any
    order: list[tuple[Any, bool]]


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            found = token[1] if token else "the end"
            raise SearchError(f"Syntax error: expected {value or kind}, found {found}")
        self.position += 1
        return token[1]

    def accept(self, kind: str, value: Any = None) -> bool:
        token = self.peek()
        if token is not None and token[0] == kind and (value is None or token[1] == value):
            self.position += 1
            return True
        return False

    def query(self) -> Query:
        self.take("kw", "SELECT")
        columns: list[tuple[Any, str]] | None = []
        if self.accept("op", "*"):
            columns = None
        else:
            while True:
                expression = self.expression()
                if self.accept("kw", "AS"):
                    alias = self.take("name")
                else:
                    alias = expression[2] if expression[0] == "col" else "expr"
                columns.append((expression, alias.lower()))
                if not self.accept("op", ","):
                    break
        self.take("kw", "FROM")
        table, alias = self.table()
        joins = []
        while self.peek() in (("kw", "INNER"), ("kw", "LEFT"), ("kw", "JOIN")):
            kind = "LEFT" if self.accept("kw", "LEFT") else "INNER"
            self.accept("kw", "INNER")
            self.accept("kw", "OUTER")
            self.take("kw", "JOIN")
            join_table, join_alias = self.table()
            self.take("kw", "ON")
            joins.append((kind, join_table, join_alias, self.expression()))
        where = self.expression() if self.accept("kw", "WHERE") else None
        order: list[tuple[Any, bool]] = []
        if self.accept("kw", "ORDER"):
            self.take("kw", "BY")
            while True:
                expression = self.expression()
                descending = self.accept("kw", "DESC")
                if not descending:
                    self.accept("kw", "ASC")
                order.append((expression, descending))
                if not self.accept("op", ","):
                    break
        if self.peek() is not None:
            raise SearchError(f"Syntax error near {self.peek()[1]}")
        return Query(columns, table, alias, joins, where, order)

    def table(self) -> tuple[str, str]:
        table = self.take("name").lower()
        token = self.peek()
        alias = self.take("name").lower() if token and token[0] == "name" else table
        return table, alias

    def expression(self) -> Any:
        node = self.conjunction()
        while self.accept("kw", "OR"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Any:
        node = self.negation()
        while self.accept("kw", "AND"):
            node = ("and", node, self.negation())
        return node

    def negation(self) -> Any:
        if self.accept("kw", "NOT"):
            return ("not", self.negation())
        return self.predicate()

    def predicate(self) -> Any:
        left = self.operand()
        token = self.peek()
        if (
            token is not None
            and token[0] == "op"
            and token[1] in ("=", "<>", "!=", ">", ">=", "<", "<=")
        ):
            self.position += 1
            return ("cmp", token[1], left, self.operand())
        negated = self.accept("kw", "NOT")
        if self.accept("kw", "IN"):
            self.take("op", "(")
            options = [self.operand()]
            while self.accept("op", ","):
                options.append(self.operand())
            self.take("op", ")")
            return ("in", negated, left, options)
        if self.accept("kw", "IS"):
            negated = self.accept("kw", "NOT")
            self.take("kw", "NULL")
            return ("isnull", negated, left)
        if negated:
            raise SearchError("Syntax error after NOT")
        return left

    def operand(self) -> Any:
        if self.accept("op", "("):
            node = self.expression()
            self.take("op", ")")
            return node
        token = self.peek()
        if token is None:
            raise SearchError("Syntax error: the query ends too early")
        if token[0] == "lit":
            self.position += 1
            return ("lit", token[1])
        if token[0] == "kw" and token[1] == "NULL":
            self.position += 1
            return ("lit", None)
        name = self.take("name")
        if self.accept("op", "("):
            arguments = [] if self.accept("op", ")") else self.arguments()
            return ("func", name.upper(), arguments)
        qualifier, _, column = name.rpartition(".")
        return ("col", qualifier.lower() or None, column.lower())

    def arguments(self) -> list[Any]:
        arguments = [self.expression()]
        while self.accept("op", ","):
            arguments.append(self.expression())
        self.take("op", ")")
        return arguments


def _strftime_format(oracle: str) -> str:
    out = oracle
    for token, replacement in ORACLE_FORMAT:
        out = out.replace(token, replacement)
    return out.replace("SS", "%S")


# -- the account's data -------------------------------------------------------------


def _item_rows() -> list[dict[str, Any]]:
    rows = [
        {
            "id": 100 + n,
            "itemid": f"SKU-{n:03d}",
            "displayname": f"Widget {n}",
            "itemtype": "InvtPart",
        }
        for n in range(1, ITEMS + 1)
    ]
    rows.append(
        {"id": DISCOUNT_ITEM, "itemid": "DISC-10", "displayname": "10% off", "itemtype": "Discount"}
    )
    rows.append({"id": TAX_ITEM, "itemid": "VAT", "displayname": "VAT", "itemtype": "TaxItem"})
    return rows


class Account:
    """The tables of one account, with the SuiteQL evaluator over them."""

    def __init__(self, transactions: int, lines: int, date_format: str) -> None:
        self.date_format = date_format
        self.lines_per = lines
        self.clock = START
        self.version = 0
        self.next_key = 5_000
        self.tables: dict[str, list[dict[str, Any]]] = {
            "transaction": [],
            "transactionline": [],
            "item": _item_rows(),
            "currency": [
                {"id": 1, "symbol": "USD", "name": "US Dollar"},
                {"id": 2, "symbol": "EUR", "name": "Euro"},
            ],
            "location": [
                {"id": 1, "name": "Main Warehouse"},
                {"id": 2, "name": "East DC"},
            ],
            "customer": [{"id": 700 + n, "companyname": f"Customer {n}"} for n in range(1, 6)],
        }
        self.schemas: dict[str, set[str]] = {}
        self.add(transactions)

    # -- generation ---------------------------------------------------------

    def add(self, count: int) -> list[int]:
        start = len(self.tables["transaction"]) + 1
        ids = []
        for number in range(start, start + count):
            self._add_transaction(number)
            ids.append(1_000 + number)
        self._changed()
        return ids

    def _add_transaction(self, number: int) -> None:
        kind = TYPE_CYCLE[(number - 1) % len(TYPE_CYCLE)]
        statuses = STATUS_CYCLE[kind]
        modified = START + dt.timedelta(minutes=7 * ((number - 1) // 3))
        self.clock = max(self.clock, modified)
        transaction_id = 1_000 + number
        self.tables["transaction"].append(
            {
                "id": transaction_id,
                "tranid": f"{PREFIX[kind]}{number:05d}",
                "type": kind,
                "trandate": (START + dt.timedelta(days=number // 2)).date(),
                "lastmodifieddate": modified,
                "createddate": modified,
                "status": statuses[number % len(statuses)],
                "voided": "F",
                "entity": 700 + number % 5 + 1,
                "currency": 1 + number % 2,
                "custbody_channel": None if number % 7 == 0 else CHANNELS[number % 3],
            }
        )
        sign = 1 if kind in RETURNS else -1
        rows = [self._line(transaction_id, 0, mainline="T", item=None, itemtype=None)]
        for line in range(1, self.lines_per + 1):
            item = 100 + (number + line) % ITEMS + 1
            quantity = Decimal(sign * ((number + line) % 4 + 1))
            rows.append(
                self._line(
                    transaction_id,
                    line,
                    item=item,
                    itemtype="InvtPart",
                    quantity=quantity,
                    rate=Decimal(f"{9 + line}.50"),
                    location=1 + (number + line) % 2,
                    custcol_bin=None if line == 2 else f"A-{line:02d}",
                )
            )
        count = self.lines_per
        rows.append(
            self._line(
                transaction_id,
                count + 1,
                item=DISCOUNT_ITEM,
                itemtype="Discount",
                quantity=None,
                rate=Decimal("-10"),
            )
        )
        rows.append(
            self._line(transaction_id, count + 2, item=TAX_ITEM, itemtype="TaxItem", taxline="T")
        )
        if kind in WITH_COGS:
            for line in range(1, self.lines_per + 1):
                item_row = rows[line]
                rows.append(
                    self._line(
                        transaction_id,
                        count + 2 + line,
                        item=item_row["item"],
                        itemtype="InvtPart",
                        quantity=item_row["quantity"],
                        iscogs="T",
                    )
                )
        self.tables["transactionline"].extend(rows)

    def _line(self, transaction_id: int, line: int, **values: Any) -> dict[str, Any]:
        self.next_key += 3  # keys are unique, not consecutive
        row = {
            "uniquekey": self.next_key,
            "transaction": transaction_id,
            "id": line,
            "mainline": "F",
            "taxline": "F",
            "iscogs": "F",
            "item": None,
            "itemtype": None,
            "quantity": None,
            "rate": None,
            "location": None,
            "custcol_bin": None,
        }
        row.update(values)
        return row

    def touch(self, ids: list[int]) -> dt.datetime:
        """A later lastmodifieddate on these transactions and one more unit per item line."""
        self.clock += dt.timedelta(minutes=5)
        wanted = set(ids)
        for row in self.tables["transaction"]:
            if row["id"] in wanted:
                row["lastmodifieddate"] = self.clock
        for row in self.tables["transactionline"]:
            if (
                row["transaction"] in wanted
                and row["itemtype"] == "InvtPart"
                and row["iscogs"] == "F"
            ):
                step = 1 if row["quantity"] > 0 else -1
                row["quantity"] += step
        self._changed()
        return self.clock

    def _changed(self) -> None:
        self.version += 1
        self.schemas = {
            name: {key for row in rows for key in row} for name, rows in self.tables.items()
        }

    # -- evaluation ---------------------------------------------------------

    def run(self, text: str, can_read_transactions: bool) -> list[dict[str, Any]]:
        query = Parser(text).query()
        tables = [query.table, *(join[1] for join in query.joins)]
        for table in tables:
            if table not in self.tables or (
                not can_read_transactions and table in ("transaction", "transactionline")
            ):
                raise SearchError(f"Record '{table}' was not found.")
        aliases = {query.alias: query.table, **{join[2]: join[1] for join in query.joins}}
        self._check_columns(query, aliases)
        contexts: list[dict[str, dict[str, Any]]] = [
            {query.alias: row} for row in self.tables[query.table]
        ]
        for join in query.joins:
            contexts = self._join(contexts, join, aliases)
        if query.where is not None:
            contexts = [ctx for ctx in contexts if self._truth(query.where, ctx, aliases)]
        for expression, descending in reversed(query.order):
            present = [ctx for ctx in contexts if self._value(expression, ctx, aliases) is not None]
            missing = [ctx for ctx in contexts if self._value(expression, ctx, aliases) is None]
            present.sort(
                key=lambda ctx: self._sortable(self._value(expression, ctx, aliases)),
                reverse=descending,
            )
            contexts = present + missing
        rows = []
        for ctx in contexts:
            if query.columns is None:
                if query.joins:
                    raise SearchError("SELECT * is only supported on a single record")
                rows.append(dict(ctx[query.alias]))
            else:
                rows.append(
                    {alias: self._value(expr, ctx, aliases) for expr, alias in query.columns}
                )
        return rows

    def _check_columns(self, query: Query, aliases: dict[str, str]) -> None:
        nodes: list[Any] = [query.where, *(join[3] for join in query.joins)]
        nodes += [expr for expr, _ in query.columns or []] + [expr for expr, _ in query.order]
        while nodes:
            node = nodes.pop()
            if not isinstance(node, tuple):
                if isinstance(node, list):
                    nodes.extend(node)
                continue
            if node[0] == "col":
                alias = node[1] or query.alias
                if alias not in aliases:
                    raise SearchError(f"Unknown identifier '{alias}'")
                if node[2] not in self.schemas[aliases[alias]]:
                    raise SearchError(
                        f"Field '{node[2]}' for record '{aliases[alias]}' was not found."
                    )
            else:
                nodes.extend(part for part in node[1:] if isinstance(part, tuple | list))

    def _join(
        self,
        contexts: list[dict[str, dict[str, Any]]],
        join: tuple[str, str, str, Any],
        aliases: dict[str, str],
    ) -> list[dict[str, dict[str, Any]]]:
        kind, table, alias, condition = join
        rows = self.tables[table]
        out = []
        for ctx in contexts:
            matched = False
            for row in rows:
                candidate = {**ctx, alias: row}
                if self._truth(condition, candidate, aliases):
                    out.append(candidate)
                    matched = True
            if not matched and kind == "LEFT":
                out.append({**ctx, alias: dict.fromkeys(self.schemas[table])})
        return out

    def _truth(  # noqa: PLR0911 - one answer per kind of node
        self, node: Any, ctx: dict[str, Any], aliases: dict[str, str]
    ) -> bool:
        kind = node[0]
        if kind == "and":
            return self._truth(node[1], ctx, aliases) and self._truth(node[2], ctx, aliases)
        if kind == "or":
            return self._truth(node[1], ctx, aliases) or self._truth(node[2], ctx, aliases)
        if kind == "not":
            return not self._truth(node[1], ctx, aliases)
        if kind == "isnull":
            return (self._value(node[2], ctx, aliases) is None) != node[1]
        if kind == "in":
            value = self._value(node[2], ctx, aliases)
            if value is None:
                return False
            found = any(self._compare(value, self._value(o, ctx, aliases)) == 0 for o in node[3])
            return found != node[1]
        if kind == "cmp":
            left, right = self._value(node[2], ctx, aliases), self._value(node[3], ctx, aliases)
            if left is None or right is None:
                return False
            order = self._compare(left, right)
            return {
                "=": order == 0,
                "<>": order != 0,
                "!=": order != 0,
                ">": order > 0,
                ">=": order >= 0,
                "<": order < 0,
                "<=": order <= 0,
            }[node[1]]
        raise SearchError("A condition must compare values")

    def _value(self, node: Any, ctx: dict[str, Any], aliases: dict[str, str]) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "col":
            alias = node[1] or next(iter(ctx))
            return ctx[alias].get(node[2])
        if kind == "func":
            return self._function(node[1], node[2], ctx, aliases)
        raise SearchError("A condition is not a value")

    def _function(
        self, name: str, arguments: list[Any], ctx: dict[str, Any], aliases: dict[str, str]
    ) -> Any:
        if name == "TO_DATE" and len(arguments) == 2:
            text, fmt = (self._value(arg, ctx, aliases) for arg in arguments)
            try:
                return dt.datetime.strptime(str(text), _strftime_format(str(fmt)))
            except ValueError:
                raise SearchError(
                    f'Parse of date/time "{text}" failed with date format "{fmt}"'
                ) from None
        if name == "TO_CHAR" and len(arguments) == 2:
            value, fmt = (self._value(arg, ctx, aliases) for arg in arguments)
            if isinstance(value, dt.date):
                return value.strftime(_strftime_format(str(fmt)))
            return None if value is None else str(value)
        if name == "BUILTIN.DF" and len(arguments) == 1 and arguments[0][0] == "col":
            return self._display(arguments[0], ctx)
        raise SearchError(f"Unknown function {name}")

    def _display(self, column: Any, ctx: dict[str, Any]) -> Any:
        alias = column[1] or next(iter(ctx))
        value = ctx[alias].get(column[2])
        if value is None:
            return None
        if column[2] == "status":
            return STATUS_NAMES.get((ctx[alias].get("type"), value), value)
        targets = {
            "item": ("item", "itemid"),
            "location": ("location", "name"),
            "currency": ("currency", "name"),
            "entity": ("customer", "companyname"),
        }
        if column[2] not in targets:
            return value
        table, display = targets[column[2]]
        return next((row[display] for row in self.tables[table] if row["id"] == value), None)

    def _compare(self, left: Any, right: Any) -> int:
        if isinstance(left, str) and isinstance(right, dt.date):
            return -self._compare(right, left)
        if isinstance(left, dt.date) and isinstance(right, str):
            right = self._user_date(right, with_time=isinstance(left, dt.datetime))
        if (
            isinstance(left, dt.datetime) != isinstance(right, dt.datetime)
            and isinstance(left, dt.date)
            and isinstance(right, dt.date)
        ):
            left = left if isinstance(left, dt.datetime) else dt.datetime.combine(left, dt.time())
            right = (
                right if isinstance(right, dt.datetime) else dt.datetime.combine(right, dt.time())
            )
        if isinstance(left, int | Decimal) or isinstance(right, int | Decimal):
            try:
                left, right = Decimal(str(left)), Decimal(str(right))
            except ArithmeticError:
                left, right = str(left), str(right)
        return (left > right) - (left < right)

    def _user_date(self, text: str, *, with_time: bool) -> dt.datetime:
        """Text read as a date the way NetSuite reads it: in the user's date format."""
        fmt = DATE_FORMATS[self.date_format]
        for candidate in (f"{fmt} %H:%M", fmt) if with_time else (fmt,):
            try:
                return dt.datetime.strptime(text, candidate)
            except ValueError:
                continue
        raise SearchError(
            f'Parse of date/time "{text}" failed with date format "{self.date_format}" '
            "in time zone America/Los_Angeles"
        )

    @staticmethod
    def _sortable(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return (0, value.isoformat())
        if isinstance(value, dt.date):
            return (0, dt.datetime.combine(value, dt.time()).isoformat())
        if isinstance(value, int | Decimal):
            return (1, Decimal(value))
        return (2, str(value))

    def render(self, value: Any) -> str:
        """A value as SuiteQL's REST answer writes it: text, dates in the user's format."""
        fmt = DATE_FORMATS[self.date_format]
        if isinstance(value, dt.datetime):
            return value.strftime(f"{fmt} %H:%M")
        if isinstance(value, dt.date):
            return value.strftime(fmt)
        if isinstance(value, Decimal):
            text = format(value, "f")
            return text.rstrip("0").rstrip(".") if "." in text else text
        return str(value)


# -- token-based authentication ------------------------------------------------------


class _Validator(RequestValidator):
    """What oauthlib needs to verify a TBA signature for the one integration and token."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    enforce_ssl = False  # the fake listens on plain HTTP on 127.0.0.1
    allowed_signature_methods = ("HMAC-SHA256",)
    client_key_length = (20, 80)
    access_token_length = (20, 80)
    nonce_length = (6, 64)
    dummy_client = "dummy-consumer-key-0000000000"
    dummy_access_token = "dummy-token-id-000000000000000"

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return client_key == CONSUMER_KEY

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return CONSUMER_SECRET if client_key == CONSUMER_KEY else "dummy-secret"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        return TOKEN_SECRET if token == TOKEN_ID else "dummy-token-secret"

    def validate_timestamp_and_nonce(  # type: ignore[override]
        self, client_key: str, timestamp: str, nonce: str, request: Any, **kwargs: Any
    ) -> bool:
        with self._lock:
            if (timestamp, nonce) in self._seen:
                return False
            self._seen.add((timestamp, nonce))
            return True


# -- the server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    query: str
    limit: int
    offset: int
    status: int


def _error(
    status: int, title: str, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15",
        "title": title,
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }
    return Response(
        json.dumps(body),
        status=status,
        headers=headers,
        content_type="application/vnd.oracle.resource+json; type=error",
    )


class FakeNetSuite:
    """A NetSuite account's SuiteQL endpoint; see the module docstring."""

    def __init__(
        self,
        transactions: int = 30,
        *,
        lines: int = 2,
        date_format: str = "dd.MM.yyyy",
        max_results: int = MAX_RESULTS,
        can_read_transactions: bool = True,
    ) -> None:
        self.account = Account(transactions, lines, date_format)
        self.max_results = max_results
        self.can_read_transactions = can_read_transactions
        self.log: list[Served] = []
        self.auth_failures = 0
        self._faults: list[Callable[[], Response]] = []
        self._cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._verifier = SignatureOnlyEndpoint(_Validator())
        self.server = WsgiServer(self._app)

    # -- control ------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url_template(self) -> str:
        """The preset's base URL template: the host label as the first path segment."""
        return self.server.url + "/{host}"

    def connector_settings(self, **overrides: Any) -> dict[str, Any]:
        values = {
            "account_id": ACCOUNT,
            "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET,
            "token_id": TOKEN_ID,
            "token_secret": TOKEN_SECRET,
            "record_types": "sales_orders",
        }
        values.update(overrides)
        return values

    def touch(self, ids: list[int]) -> dt.datetime:
        with self._lock:
            return self.account.touch(ids)

    def add_transactions(self, count: int) -> list[int]:
        with self._lock:
            return self.account.add(count)

    def transactions(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.account.tables["transaction"]]

    def lines(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self.account.tables["transactionline"]]

    def fail_with_429(self, count: int, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after else None
        fault = lambda: _error(  # noqa: E731
            429,
            "Too Many Requests",
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Concurrent request limit exceeded. Request blocked.",
            headers,
        )
        with self._lock:
            self._faults.extend([fault] * count)

    def fail_with_5xx(self, count: int, status: int = 503) -> None:
        fault = lambda: _error(  # noqa: E731
            status, "Service Unavailable", "UNEXPECTED_ERROR", "An unexpected error occurred."
        )
        with self._lock:
            self._faults.extend([fault] * count)

    # -- serving ------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self._handle(request)(environ, start_response)

    def _handle(self, request: Request) -> Response:
        label, _, rest = request.path.lstrip("/").partition("/")
        if not self._authorised(request, label):
            self.auth_failures += 1
            return _error(
                401,
                "Unauthorized",
                "INVALID_LOGIN",
                "Invalid login attempt. For more details, see the Login Audit Trail in the "
                "NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
                {
                    "WWW-Authenticate": f'OAuth realm="{ACCOUNT}", error="token_rejected", '
                    'error_description="Invalid login attempt."'
                },
            )
        if "/" + rest != SUITEQL_PATH or request.method != "POST":
            return _error(404, "Not Found", "NONEXISTENT_ID", f"Resource /{rest} was not found.")
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            response = fault()
            self.log.append(Served("", 0, 0, response.status_code))
            return response
        response, served = self._suiteql(request)
        self.log.append(served)
        return response

    def _authorised(self, request: Request, label: str) -> bool:
        header = request.headers.get("Authorization", "")
        realm = re.search(r'realm="([^"]*)"', header)
        if label != HOST_LABEL or realm is None or realm.group(1) != ACCOUNT:
            return False
        valid, _ = self._verifier.validate_request(
            request.url, http_method=request.method, body=None, headers=dict(request.headers)
        )
        return valid

    def _suiteql(self, request: Request) -> tuple[Response, Served]:
        text, limit, offset, refusal = self._read_request(request)
        served = Served(text, limit, offset, 400)
        if refusal is not None:
            return self._bad(*refusal), served
        try:
            with self._lock:
                key = (text, self.account.version)
                if key not in self._cache:
                    self._cache[key] = self.account.run(text, self.can_read_transactions)
                rows = self._cache[key]
        except SearchError as exc:
            detail = (
                "Invalid search query. Detailed unprocessed description follows. "
                f"Search error occurred: {exc}"
            )
            return self._bad("INVALID_PARAMETER", detail), served
        page = rows[offset : offset + limit]
        total = len(rows)
        more = offset + len(page) < total
        base = f"{request.host_url.rstrip('/')}/{HOST_LABEL}{SUITEQL_PATH}"
        links = [{"rel": "self", "href": f"{base}?limit={limit}&offset={offset}"}]
        if more:
            links.insert(
                0, {"rel": "next", "href": f"{base}?limit={limit}&offset={offset + limit}"}
            )
        body = {
            "links": links,
            "count": len(page),
            "hasMore": more,
            "items": [
                {
                    "links": [],
                    **{k: self.account.render(v) for k, v in row.items() if v is not None},
                }
                for row in page
            ],
            "offset": offset,
            "totalResults": total,
        }
        return Response(json.dumps(body), content_type="application/json"), Served(
            text, limit, offset, 200
        )

    def _read_request(self, request: Request) -> tuple[str, int, int, tuple[str, str] | None]:
        """The query, limit and offset, and (code, detail) when NetSuite would refuse them."""
        try:
            limit = int(request.args.get("limit", "1000"))
            offset = int(request.args.get("offset", "0"))
        except ValueError:
            return "", 0, 0, ("INVALID_PARAMETER", "The limit and offset must be whole numbers.")
        try:
            payload = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            payload = None
        text = payload.get("q") if isinstance(payload, dict) else None
        if request.headers.get("Prefer", "").lower() != "transient":
            refusal = ("INVALID_HEADER", "SuiteQL queries need the header 'Prefer: transient'.")
        elif not isinstance(text, str) or not text.strip():
            refusal = ("INVALID_CONTENT", "The body must be a JSON object with the query in 'q'.")
        elif not 1 <= limit <= MAX_LIMIT or offset < 0 or offset % limit:
            refusal = (
                "INVALID_PARAMETER",
                f"The limit must be 1 to {MAX_LIMIT} and the offset a multiple of the limit.",
            )
        elif offset + limit > self.max_results:
            refusal = (
                "INVALID_PARAMETER",
                f"A query serves at most {self.max_results} results through REST.",
            )
        else:
            refusal = None
        return text if isinstance(text, str) else "", limit, offset, refusal

    @staticmethod
    def _bad(code: str, detail: str) -> Response:
        return _error(400, "Bad Request", code, detail)

    def __enter__(self) -> FakeNetSuite:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()


@contextmanager
def serve_netsuite(transactions: int = 30, **options: Any) -> Iterator[FakeNetSuite]:
    with FakeNetSuite(transactions, **options) as fake:
        yield fake
