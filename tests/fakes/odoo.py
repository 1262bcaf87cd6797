"""A fake Odoo server speaking JSON-RPC and, from version 19, JSON-2; served on 127.0.0.1.

Start it with the context manager; it picks a free port::

    with serve_odoo(version=17, orders=12) as odoo:
        odoo.connector_settings()          # the odoo preset's settings for it

Protocols, as Odoo's external API documentation describes them:

- ``POST /jsonrpc`` (every version): ``{"jsonrpc": "2.0", "method": "call",
  "params": {"service", "method", "args"}}``. ``common.version`` states the
  version; ``common.authenticate(db, login, key, {})`` returns the user id, or
  ``false`` for a wrong login or key; ``object.execute_kw(db, uid, key, model,
  method, args, kwargs)`` runs a model method. Failures answer HTTP 200 with
  ``{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name",
  "message", "arguments", "context", "debug"}}}``: ``odoo.exceptions.AccessDenied``
  for a wrong uid or key, ``odoo.exceptions.AccessError`` for a model the user
  may not read (``denied_models``), ``psycopg2.OperationalError`` for an unknown
  database, ``builtins.ValueError`` for an unknown field.
- ``GET /web/version`` and ``POST /json/2/<model>/<method>`` (version 19 and
  later only; older versions answer them with an HTML 404 page): the API key
  as ``Authorization: bearer``, ``X-Odoo-Database`` optional but checked when
  sent, the method's arguments named in the JSON body. Failures use the HTTP
  status (401 for a bad key, 403 for an access error, 404 for an unknown
  database, 422 for a bad argument) with ``{"name", "message", "arguments",
  "context", "debug"}``.

Methods: ``search_read`` (``domain``, ``fields``, ``offset``, ``limit``,
``order``), ``search_count``, ``read`` (``ids``, ``fields``) and
``fields_get`` (``attributes``). Domains are evaluated, not matched: leaves
``[field, op, value]`` with ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``
and ``not in``, and the prefix operators ``&``, ``|`` and ``!``. Many2one
values are ``[id, display_name]``, empty values ``false``, datetimes UTC text.

Data (generated from the order number): sale orders of ``lines`` lines (one
section line on every fourth order), confirmed, cancelled or still quotations;
customer invoices and credit notes with product, tax and payment-term lines,
posted, draft or cancelled. Two orders at a time share a ``write_date``.
Custom fields: ``x_pick_zone`` on sale order lines, ``x_sales_channel`` on
sale orders and ``x_cost_center`` on invoice lines. Product 10 has no internal
reference.

Control: ``revoke_key()``; ``touch_orders(ids)`` / ``touch_invoices(ids)`` rewrite documents' lines
(a later ``write_date``, one more unit); ``add_orders(n)``; ``fail_with_429(count,
retry_after="1")`` and ``fail_with_5xx(count, status=502)`` answer the next
POSTs with errors; ``calls`` lists ``(protocol, model, method)`` per model call.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

DATABASE = "acme-prod"
LOGIN = "integration@acme.example"
API_KEY = "5f0c3a9e7b2d4816a0c9e3b7d1f4a2c86e9b0d37"
UID = 7
START = dt.datetime(2024, 3, 1, 8, 0, 0)
FORMAT = "%Y-%m-%d %H:%M:%S"

MODELS_LABELS = {
    "sale.order.line": "Sales Order Line",
    "sale.order": "Sales Order",
    "account.move.line": "Journal Item",
    "account.move": "Journal Entry",
    "product.product": "Product Variant",
}


def _field(label: str, kind: str, relation: str | None = None, store: bool = True) -> dict:
    out: dict[str, Any] = {"string": label, "type": kind, "store": store}
    if relation:
        out["relation"] = relation
    return out


SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {
    "sale.order.line": {
        "id": _field("ID", "integer"),
        "order_id": _field("Order Reference", "many2one", "sale.order"),
        "product_id": _field("Product", "many2one", "product.product"),
        "name": _field("Description", "text"),
        "product_uom_qty": _field("Quantity", "float"),
        "qty_delivered": _field("Delivery Quantity", "float"),
        "price_unit": _field("Unit Price", "float"),
        "currency_id": _field("Currency", "many2one", "res.currency"),
        "order_partner_id": _field("Customer", "many2one", "res.partner"),
        "company_id": _field("Company", "many2one", "res.company"),
        "state": _field("Order Status", "selection"),
        "display_type": _field("Display Type", "selection"),
        "write_date": _field("Last Updated on", "datetime"),
        "tax_id": _field("Taxes", "many2many", "account.tax"),
        "x_pick_zone": _field("Pick zone", "char"),
    },
    "sale.order": {
        "id": _field("ID", "integer"),
        "name": _field("Order Reference", "char"),
        "date_order": _field("Order Date", "datetime"),
        "warehouse_id": _field("Warehouse", "many2one", "stock.warehouse"),
        "partner_id": _field("Customer", "many2one", "res.partner"),
        "state": _field("Status", "selection"),
        "order_line": _field("Order Lines", "one2many", "sale.order.line"),
        "x_sales_channel": _field("Sales channel", "selection"),
    },
    "account.move.line": {
        "id": _field("ID", "integer"),
        "move_id": _field("Journal Entry", "many2one", "account.move"),
        "product_id": _field("Product", "many2one", "product.product"),
        "name": _field("Label", "char"),
        "quantity": _field("Quantity", "float"),
        "price_unit": _field("Unit Price", "float"),
        "currency_id": _field("Currency", "many2one", "res.currency"),
        "partner_id": _field("Partner", "many2one", "res.partner"),
        "company_id": _field("Company", "many2one", "res.company"),
        "parent_state": _field("Status", "selection"),
        "move_type": _field("Type", "selection", store=False),
        "display_type": _field("Display Type", "selection"),
        "write_date": _field("Last Updated on", "datetime"),
        "x_cost_center": _field("Cost center", "char"),
    },
    "account.move": {
        "id": _field("ID", "integer"),
        "name": _field("Number", "char"),
        "invoice_date": _field("Invoice/Bill Date", "date"),
        "invoice_origin": _field("Origin", "char"),
        "move_type": _field("Type", "selection"),
        "state": _field("Status", "selection"),
    },
    "product.product": {
        "id": _field("ID", "integer"),
        "default_code": _field("Internal Reference", "char"),
        "name": _field("Name", "char"),
    },
}
NAMES = {
    "res.currency": {1: "EUR", 2: "USD"},
    "res.company": {1: "Acme GmbH"},
    "stock.warehouse": {1: "Main warehouse", 2: "East depot"},
    "res.partner": {20 + n: f"Customer {n}" for n in range(1, 6)},
}
ORDER_STATES = ("sale", "sale", "cancel", "sale", "draft")
CHANNELS = ("web", "phone", False)


class OdooError(Exception):
    """An exception the fake Odoo raises in a model method."""

    def __init__(self, name: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.status = status


class Database:
    """The records of one database, and the ORM methods the preset calls."""

    def __init__(self, orders: int, lines: int) -> None:
        self.lines_per = lines
        self.clock = START
        self.records: dict[str, dict[int, dict[str, Any]]] = {model: {} for model in SCHEMAS}
        for product in range(1, 11):
            self.records["product.product"][product] = {
                "id": product,
                "default_code": f"FURN_{product:04d}" if product < 10 else False,
                "name": f"Chair {product}",
            }
        self.add_orders(orders)
        for number in range(1, orders // 2 + 1):
            self._add_invoice(number)

    # -- generation ---------------------------------------------------------

    def _stamp(self, number: int) -> str:
        stamp = START + dt.timedelta(minutes=5 * ((number - 1) // 2))
        self.clock = max(self.clock, stamp)
        return stamp.strftime(FORMAT)

    def add_orders(self, count: int) -> list[int]:
        orders = self.records["sale.order"]
        start = len(orders) + 1
        for number in range(start, start + count):
            state = ORDER_STATES[number % len(ORDER_STATES)]
            orders[number] = {
                "id": number,
                "name": f"S{number:05d}",
                "date_order": (START + dt.timedelta(hours=number)).strftime(FORMAT),
                "warehouse_id": 1 + number % 2,
                "partner_id": 21 + number % 5,
                "state": state,
                "x_sales_channel": CHANNELS[number % 3],
            }
            written = self._stamp(number)
            table = self.records["sale.order.line"]
            if number % 4 == 0:
                self._sale_line(table, number, 0, written, section=True)
            for line in range(1, self.lines_per + 1):
                self._sale_line(table, number, line, written)
        return list(range(start, start + count))

    def _sale_line(
        self, table: dict[int, Any], order: int, line: int, written: str, section: bool = False
    ) -> None:
        # Ids interleave across orders, so id order is not write order.
        line_id = 1000 + order * 10 + line if order % 2 else 5000 + order * 10 + line
        quantity = float((order + line) % 4 + 1)
        state = self.records["sale.order"][order]["state"]
        table[line_id] = {
            "id": line_id,
            "order_id": order,
            "product_id": False if section else 1 + (order + line) % 10,
            "name": "Section" if section else f"Chair {(order + line) % 10 + 1}",
            "product_uom_qty": 0.0 if section else quantity,
            "qty_delivered": quantity if order % 3 == 0 and state == "sale" else 0.0,
            "price_unit": 0.0 if section else 40.0 + line,
            "currency_id": 1,
            "order_partner_id": 21 + order % 5,
            "company_id": 1,
            "state": state,
            "display_type": "line_section" if section else False,
            "write_date": written,
            "tax_id": [1],
            "x_pick_zone": False if line == 2 else f"Z{line}",
        }

    def _add_invoice(self, number: int) -> None:
        refund = number % 3 == 0
        move_type = "out_refund" if refund else "out_invoice"
        state = ("posted", "posted", "draft", "cancel", "posted")[number % 5]
        self.records["account.move"][number] = {
            "id": number,
            "name": f"{'RINV' if refund else 'INV'}/2024/{number:05d}",
            "invoice_date": (START + dt.timedelta(days=number)).date().isoformat(),
            "invoice_origin": f"S{number:05d}",
            "move_type": move_type,
            "state": state,
        }
        written = self._stamp(number)
        table = self.records["account.move.line"]
        kinds = ["product"] * self.lines_per + ["tax", "payment_term"]
        for position, kind in enumerate(kinds, start=1):
            line_id = 9000 + number * 10 + position
            product = kind == "product"
            table[line_id] = {
                "id": line_id,
                "move_id": number,
                "product_id": 1 + (number + position) % 10 if product else False,
                "name": f"Chair {(number + position) % 10 + 1}" if product else kind,
                "quantity": float(position) if product else 1.0,
                "price_unit": 40.0 + position if product else 12.5,
                "currency_id": 1,
                "partner_id": 21 + number % 5,
                "company_id": 1,
                "parent_state": state,
                "move_type": move_type,
                "display_type": kind,
                "write_date": written,
                "x_cost_center": f"CC-{number % 3}" if product else False,
            }

    def touch(self, model: str, parent_field: str, parents: list[int], quantity: str) -> str:
        self.clock += dt.timedelta(minutes=5)
        stamp = self.clock.strftime(FORMAT)
        for row in self.records[model].values():
            if row[parent_field] in parents:
                row["write_date"] = stamp
                if row.get("product_id"):
                    row[quantity] += 1.0
        return stamp

    # -- ORM methods --------------------------------------------------------

    def execute(self, model: str, method: str, ids: list[int] | None, kwargs: dict) -> Any:
        if model not in SCHEMAS:
            raise OdooError("builtins.KeyError", f"Model {model!r} does not exist.", 404)
        if method == "fields_get":
            attributes = kwargs.get("attributes")
            return {
                name: {k: v for k, v in info.items() if not attributes or k in attributes}
                for name, info in SCHEMAS[model].items()
            }
        if method == "search_count":
            return len(self._search(model, kwargs.get("domain", [])))
        if method == "search_read":
            rows = self._search(model, kwargs.get("domain", []))
            rows = self._order(model, rows, kwargs.get("order") or "id asc")
            offset = int(kwargs.get("offset") or 0)
            limit = kwargs.get("limit")
            rows = rows[offset : offset + int(limit)] if limit else rows[offset:]
            return [self._read_row(model, row, kwargs.get("fields")) for row in rows]
        if method == "read":
            table = self.records[model]
            return [
                self._read_row(model, table[i], kwargs.get("fields"))
                for i in ids or []
                if i in table
            ]
        raise OdooError(
            "builtins.AttributeError",
            f"The method '{method}' does not exist on the model '{model}'",
        )

    def _read_row(
        self, model: str, row: dict[str, Any], fields: list[str] | None
    ) -> dict[str, Any]:
        schema = SCHEMAS[model]
        names = fields or [name for name in schema if schema[name]["type"] != "one2many"]
        out: dict[str, Any] = {"id": row["id"]}
        for name in names:
            if name not in schema:
                raise OdooError("builtins.ValueError", f"Invalid field {name!r} on model {model!r}")
            info = schema[name]
            value = row.get(name, False)
            if info["type"] == "many2one" and value:
                value = [value, self._display(info["relation"], value)]
            out[name] = value
        return out

    def _display(self, model: str, record_id: int) -> str:
        if model in NAMES:
            return NAMES[model][record_id]
        row = self.records[model][record_id]
        if model == "product.product" and row["default_code"]:
            return f"[{row['default_code']}] {row['name']}"
        return str(row["name"])

    def _order(self, model: str, rows: list[dict], order: str) -> list[dict]:
        for part in reversed([p.strip() for p in order.split(",") if p.strip()]):
            name, _, direction = part.partition(" ")
            if name not in SCHEMAS[model]:
                raise OdooError("builtins.ValueError", f"Invalid field {name!r} in order {order!r}")
            rows = sorted(
                rows,
                key=lambda row: (row.get(name) is False, row.get(name)),
                reverse=direction.strip().lower() == "desc",
            )
        return rows

    def _search(self, model: str, domain: Any) -> list[dict]:
        if not isinstance(domain, list):
            raise OdooError("builtins.ValueError", f"Invalid domain {domain!r}")
        return [row for row in self.records[model].values() if self._matches(model, row, domain)]

    def _matches(self, model: str, row: dict, domain: list) -> bool:
        stack: list[bool] = []
        for term in reversed(domain):
            if term == "&":
                stack.append(stack.pop() and stack.pop())
            elif term == "|":
                stack.append(stack.pop() or stack.pop())
            elif term == "!":
                stack.append(not stack.pop())
            elif isinstance(term, list | tuple) and len(term) == 3:
                stack.append(self._leaf(model, row, term))
            else:
                raise OdooError("builtins.ValueError", f"Invalid leaf {term!r}")
        return all(stack)

    def _leaf(self, model: str, row: dict, leaf: list | tuple) -> bool:
        name, operator, value = leaf
        if name not in SCHEMAS[model]:
            raise OdooError(
                "builtins.ValueError", f"Invalid field {model}.{name} in leaf {tuple(leaf)!r}"
            )
        actual = row.get(name, False)
        if operator in ("in", "not in"):
            found = actual in value
            return found if operator == "in" else not found
        if operator == "=":
            return actual == value
        if operator == "!=":
            return actual != value
        if actual is False or value is False:
            return False
        comparisons = {
            ">": actual > value,
            ">=": actual >= value,
            "<": actual < value,
            "<=": actual <= value,
        }
        if operator not in comparisons:
            raise OdooError("builtins.ValueError", f"Invalid operator {operator!r}")
        return comparisons[operator]


def _traceback(name: str, message: str) -> str:
    return f"Traceback (most recent call last):\n  ...\n{name}: {message}\n"


class FakeOdoo:
    """An Odoo server of one version with one database; see the module docstring."""

    def __init__(
        self,
        version: int = 17,
        *,
        orders: int = 12,
        lines: int = 3,
        denied_models: tuple[str, ...] = (),
    ) -> None:
        self.version = version
        self.database = Database(orders, lines)
        self.denied_models = set(denied_models)
        self.api_key = API_KEY
        self.calls: list[tuple[str, str, str]] = []
        self.requests = 0
        self._faults: list[Response] = []
        self._lock = threading.Lock()
        self.server = WsgiServer(self._app)

    @property
    def url(self) -> str:
        return self.server.url

    def connector_settings(self, **overrides: Any) -> dict[str, Any]:
        values = {
            "url": self.url,
            "database": DATABASE,
            "username": LOGIN,
            "api_key": API_KEY,
            "model": "sale_order_lines",
        }
        values.update(overrides)
        return values

    # -- control ------------------------------------------------------------

    def touch_orders(self, ids: list[int]) -> str:
        with self._lock:
            return self.database.touch("sale.order.line", "order_id", ids, "product_uom_qty")

    def touch_invoices(self, ids: list[int]) -> str:
        with self._lock:
            return self.database.touch("account.move.line", "move_id", ids, "quantity")

    def add_orders(self, count: int) -> list[int]:
        with self._lock:
            return self.database.add_orders(count)

    def revoke_key(self) -> None:
        """The user's API key stops working, as when it is deleted or expires."""
        self.api_key = "revoked"

    def rows(self, model: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.database.records[model].values()]

    def fail_with_429(self, count: int, retry_after: str = "1") -> None:
        with self._lock:
            for _ in range(count):
                self._faults.append(
                    Response(
                        "<html><body><h1>429 Too Many Requests</h1></body></html>",
                        status=429,
                        headers={"Retry-After": retry_after},
                        content_type="text/html",
                    )
                )

    def fail_with_5xx(self, count: int, status: int = 502) -> None:
        with self._lock:
            for _ in range(count):
                self._faults.append(
                    Response(
                        "<html><body>Bad Gateway</body></html>",
                        status=status,
                        content_type="text/html",
                    )
                )

    # -- serving ------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._handle(Request(environ))(environ, start_response)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests += 1
            fault = self._faults.pop(0) if self._faults and request.method == "POST" else None
        if fault is not None:
            return fault
        json2 = self.version >= 19
        if request.path == "/jsonrpc" and request.method == "POST":
            return self._jsonrpc(request)
        if json2 and request.path == "/web/version" and request.method == "GET":
            return self._json(
                {
                    "version_info": [self.version, 0, 0, "final", 0, ""],
                    "version": f"{self.version}.0",
                }
            )
        if json2 and request.path.startswith("/json/2/") and request.method == "POST":
            return self._json2(request)
        return Response(
            "<html><body><h1>404: Page not found</h1></body></html>",
            status=404,
            content_type="text/html",
        )

    @staticmethod
    def _json(body: Any, status: int = 200) -> Response:
        return Response(
            json.dumps(body), status=status, content_type="application/json; charset=utf-8"
        )

    def _run(self, protocol: str, model: str, method: str, ids: Any, kwargs: dict) -> Any:
        with self._lock:
            self.calls.append((protocol, model, method))
            if model in self.denied_models:
                label = MODELS_LABELS.get(model, model)
                raise OdooError(
                    "odoo.exceptions.AccessError",
                    f"You are not allowed to access '{label}' ({model}) records.\n\nThis "
                    "operation is allowed for the following groups:\n\t- Sales/User: Own "
                    "Documents Only\n\nContact your administrator to request access if necessary.",
                    403,
                )
            return self.database.execute(model, method, ids, kwargs)

    # -- JSON-RPC -----------------------------------------------------------

    def _jsonrpc(self, request: Request) -> Response:
        try:
            payload = json.loads(request.get_data(as_text=True))
            params = payload["params"]
            service, method, args = params["service"], params["method"], list(params["args"])
        except (ValueError, KeyError, TypeError):
            return self._json(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
            )
        try:
            result = self._dispatch(service, method, args)
        except OdooError as exc:
            error = {
                "code": 200,
                "message": "Odoo Server Error",
                "data": {
                    "name": exc.name,
                    "debug": _traceback(exc.name, exc.message),
                    "message": exc.message,
                    "arguments": [exc.message],
                    "context": {},
                },
            }
            return self._json({"jsonrpc": "2.0", "id": payload.get("id"), "error": error})
        return self._json({"jsonrpc": "2.0", "id": payload.get("id"), "result": result})

    def _dispatch(self, service: str, method: str, args: list[Any]) -> Any:
        if service == "common" and method == "version":
            return {
                "server_version": f"{self.version}.0",
                "server_version_info": [self.version, 0, 0, "final", 0, ""],
                "server_serie": f"{self.version}.0",
                "protocol_version": 1,
            }
        if service == "common" and method in ("authenticate", "login"):
            db, login, key = args[0], args[1], args[2]
            self._check_database(db)
            return UID if (login, key) == (LOGIN, self.api_key) else False
        if service == "object" and method == "execute_kw":
            db, uid, key, model, model_method = args[:5]
            positional = args[5] if len(args) > 5 else []
            kwargs = dict(args[6]) if len(args) > 6 and args[6] else {}
            self._check_database(db)
            if uid != UID or key != self.api_key:
                raise OdooError("odoo.exceptions.AccessDenied", "Access Denied", 401)
            ids = None
            if model_method == "read":
                ids = positional[0] if positional else []
            elif model_method in ("search_read", "search_count") and positional:
                kwargs["domain"] = positional[0]
            return self._run("JSON-RPC", model, model_method, ids, kwargs)
        raise OdooError(
            "builtins.NameError", f"Service or method not found: {service}.{method}", 404
        )

    @staticmethod
    def _check_database(name: str) -> None:
        if name != DATABASE:
            raise OdooError(
                "psycopg2.OperationalError",
                f'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
                f'FATAL:  database "{name}" does not exist',
                404,
            )

    # -- JSON-2 -------------------------------------------------------------

    def _json2(self, request: Request) -> Response:
        _, _, rest = request.path.partition("/json/2/")
        model, _, method = rest.partition("/")
        try:
            scheme, _, key = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or key.strip() != self.api_key:
                raise OdooError("werkzeug.exceptions.Unauthorized", "Invalid apikey", 401)
            database = request.headers.get("X-Odoo-Database")
            if database is not None and database != DATABASE:
                raise OdooError(
                    "werkzeug.exceptions.NotFound", f"Database {database!r} not found.", 404
                )
            try:
                body = json.loads(request.get_data(as_text=True) or "{}")
            except ValueError:
                raise OdooError(
                    "werkzeug.exceptions.BadRequest", "The body is not JSON.", 400
                ) from None
            if not isinstance(body, dict):
                raise OdooError(
                    "werkzeug.exceptions.BadRequest", "The body must be an object.", 400
                )
            ids = body.pop("ids", None)
            body.pop("context", None)
            result = self._run("JSON-2", model, method, ids, body)
        except OdooError as exc:
            error = {
                "name": exc.name,
                "message": exc.message,
                "arguments": [exc.message, exc.status],
                "context": {},
                "debug": _traceback(exc.name, exc.message),
            }
            return self._json(error, exc.status)
        return self._json(result)

    def __enter__(self) -> FakeOdoo:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()


@contextmanager
def serve_odoo(version: int = 17, **options: Any) -> Iterator[FakeOdoo]:
    with FakeOdoo(version, **options) as fake:
        yield fake
