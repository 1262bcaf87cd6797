"""A fake Shopify Admin GraphQL API, served for real on 127.0.0.1.

It answers as Shopify documents its Admin GraphQL API (version 2025-10): the
queries are parsed, validated and executed by ``graphql-core`` against a
subset of the real schema (orders with line items, refunds and fulfilments,
bulk operations, webhook subscriptions, locations, the shop and the app's
access scopes), so a query with a misspelt field is refused here as there.

Start it with the context manager; the Admin API and the bulk result files
are served by two servers on free ports (result files live on another host in
Shopify too, behind signed URLs)::

    with serve_shopify(orders=40) as shop:
        shop.admin_url     # "http://127.0.0.1:<port>/{shop}/admin/api/{version}"
        shop.settings()    # the preset's settings for this fake

Point the preset at it by monkeypatching
``app.connectors.shopify.settings.ADMIN_URL`` with ``shop.admin_url``.

What it does as Shopify does:

- ``X-Shopify-Access-Token`` checked: unknown token → HTTP 401 with
  ``{"errors": "[API] Invalid API key or access token ..."}``; a token without
  ``read_orders`` gets ``ACCESS_DENIED`` errors (HTTP 200) on order fields;
  without ``read_all_orders`` only the last 60 days of orders are visible.
- Cost: each query's requested cost is computed from the document (objects 1,
  scalars 0, connections 2 + ``first`` × the cost of a node, lists by their
  size, mutations 10); a query over 1,000 gets ``MAX_COST_EXCEEDED``. A leaky
  bucket (``maximum``, ``restore_rate`` per second) must hold the requested
  cost, else the answer is ``THROTTLED`` (HTTP 200, ``actualQueryCost`` null);
  the difference between requested and actual cost is refunded (unless
  ``refund_unused_cost=False``, a shop whose queries cost what they ask). Every answer
  carries ``extensions.cost`` with ``throttleStatus``.
- Connections need ``first`` or ``last`` (at most 250) outside bulk queries;
  cursors are opaque; ``orders`` takes ``query`` (``updated_at:>'...'``,
  ``>=``, ``<``, ``<=`` on ``updated_at``/``created_at``, joined by ``AND``),
  ``sortKey`` and ``reverse``.
- ``bulkOperationRunQuery`` checks the bulk rules (a connection, at most five,
  nested at most two deep, none inside a list field, ``id`` on parents of
  nested connections); one bulk query runs at a time (``OPERATION_IN_PROGRESS``).
  It is ``CREATED``, then ``RUNNING``, and ``COMPLETED`` after
  ``bulk_polls`` polls; its JSONL file (grouped: each line item right after its
  order, with ``__parentId``) is written when it completes, from the orders as
  they were then, and served with ``Range`` support at ``url``.
- ``webhookSubscriptionCreate`` refuses a second subscription of the same
  topic to the same address ("Address for this topic has already been taken").

The generated shop: order *n* (1..N) has id 5,000,000 + *n*, was created at
2023-01-02 08:00 UTC + *n* hours and updated 30 minutes later; it has 1 + *n*
% 3 line items (line *j* id 10 × order id + *j*); every 7th order's first line
has no SKU; every 11th order is cancelled; every 2nd (not cancelled) is
fulfilled, from one of :data:`LOCATIONS`, and every 8th from two (its first
line from the other location); every 5th has refunded one unit of its first
line. Times go on from the last order: ``now`` moves one hour per change.

Control: ``touch(n)``, ``cancel(n)``, ``refund(n, line=0, quantity=1)``,
``fulfil(n, location=0)``, ``drain()`` (empty the bucket), ``storm(count,
retry_after)`` (the next requests get HTTP 429), ``fail_next_bulk(code)``,
``expire_results()`` (the files written so far), ``break_download(after_bytes)``, ``add_token(token,
scopes)``. Inspection: ``served`` (one :class:`Served` per GraphQL request),
``order_pages`` (the order numbers each ``orders`` page returned),
``bulk_operations``, ``subscriptions``, ``result_requests``,
``graphql_order(n)`` and ``rest_order(n)`` (the same order in GraphQL and in
the REST shape of an order webhook).

To measure a client without the fake in its interpreter, run it in its own
process: ``python -m tests.fakes.shopify --orders 400 --name-padding 10000``
prints ``admin_url`` on its first line and serves until stdin closes.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_schema,
    execute,
    get_named_type,
    is_leaf_type,
    parse,
    validate,
    value_from_ast_untyped,
)
from werkzeug.wrappers import Request, Response

from tests.fakes.rest_server import WsgiServer

SHOP = "tidewater-outfitters.myshopify.com"
SHOP_NAME = "Tidewater Outfitters"
TOKEN = "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"
LIMITED_TOKEN = "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"
FULL_SCOPES = frozenset({"read_orders", "read_all_orders", "read_locations", "read_products"})
VERSIONS = ("2025-07", "2025-10", "2026-01")
CURRENCY = "EUR"
BASE_TIME = dt.datetime(2023, 1, 2, 8, 0, tzinfo=dt.UTC)
# The shop's offset in REST payloads (GraphQL answers in UTC).
SHOP_OFFSET = dt.timezone(dt.timedelta(hours=-4))
LOCATIONS = (
    {"id": 64_001, "name": "Hamburg Warehouse"},
    {"id": 64_002, "name": "Leipzig Store"},
)
CATALOGUE = (
    ("TW-JACKET-M", "Storm Jacket - M", "89.90", 41_001),
    ("TW-BOOT-42", "Trail Boot - 42", "129.00", 41_002),
    ("TW-CAP", "Harbour Cap", "19.50", 41_003),
    ("TW-SOCKS-3", "Wool Socks 3-pack", "24.00", 41_004),
    ("TW-BOTTLE", "Steel Bottle", "15.25", 41_005),
)
MAX_QUERY_COST = 1_000
MAX_PAGE = 250
DOCS = "https://shopify.dev/api/usage/rate-limits"

SCHEMA_SDL = """
scalar DateTime
scalar Decimal
scalar URL
scalar UnsignedInt64

interface Node { id: ID! }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

enum OrderSortKeys { CREATED_AT CUSTOMER_NAME ID NUMBER PROCESSED_AT TOTAL_PRICE UPDATED_AT }
enum FulfillmentStatus { CANCELLED ERROR FAILURE OPEN PENDING SUCCESS }
enum BulkOperationStatus { CANCELED CANCELING COMPLETED CREATED EXPIRED FAILED RUNNING }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationType { MUTATION QUERY }
enum BulkOperationUserErrorCode { INVALID LIMIT_REACHED OPERATION_IN_PROGRESS }
enum WebhookSubscriptionTopic { APP_UNINSTALLED ORDERS_CANCELLED ORDERS_CREATE ORDERS_UPDATED }
enum WebhookSubscriptionFormat { JSON XML }

type Shop { name: String! myshopifyDomain: String! currencyCode: String! ianaTimezone: String! }
type AccessScope { handle: String! description: String! }
type AppInstallation implements Node { id: ID! accessScopes: [AccessScope!]! }

type MoneyV2 { amount: Decimal! currencyCode: String! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }

type Customer implements Node { id: ID! legacyResourceId: UnsignedInt64! }
type ProductVariant implements Node { id: ID! legacyResourceId: UnsignedInt64! sku: String }
type Location implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  isActive: Boolean!
}

type LineItem implements Node {
  id: ID!
  name: String!
  title: String!
  sku: String
  quantity: Int!
  currentQuantity: Int!
  unfulfilledQuantity: Int!
  variant: ProductVariant
  originalUnitPriceSet: MoneyBag!
}
type LineItemEdge { cursor: String! node: LineItem! }
type LineItemConnection { edges: [LineItemEdge!]! nodes: [LineItem!]! pageInfo: PageInfo! }

type RefundLineItem {
  id: ID
  quantity: Int!
  restockType: String!
  lineItem: LineItem!
  location: Location
}
type RefundLineItemEdge { cursor: String! node: RefundLineItem! }
type RefundLineItemConnection {
  edges: [RefundLineItemEdge!]!
  nodes: [RefundLineItem!]!
  pageInfo: PageInfo!
}
type Refund implements Node {
  id: ID!
  createdAt: DateTime
  refundLineItems(first: Int, after: String, last: Int, before: String): RefundLineItemConnection!
}

type FulfillmentLineItem implements Node { id: ID! quantity: Int lineItem: LineItem! }
type FulfillmentLineItemEdge { cursor: String! node: FulfillmentLineItem! }
type FulfillmentLineItemConnection {
  edges: [FulfillmentLineItemEdge!]!
  nodes: [FulfillmentLineItem!]!
  pageInfo: PageInfo!
}
type Fulfillment implements Node {
  id: ID!
  status: FulfillmentStatus!
  createdAt: DateTime!
  location: Location
  fulfillmentLineItems(
    first: Int, after: String, last: Int, before: String
  ): FulfillmentLineItemConnection!
}

type Order implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  createdAt: DateTime!
  updatedAt: DateTime!
  cancelledAt: DateTime
  sourceName: String
  currencyCode: String!
  customer: Customer
  lineItems(
    first: Int, after: String, last: Int, before: String, reverse: Boolean
  ): LineItemConnection!
  refunds(first: Int): [Refund!]!
  fulfillments(first: Int): [Fulfillment!]!
}
type OrderEdge { cursor: String! node: Order! }
type OrderConnection { edges: [OrderEdge!]! nodes: [Order!]! pageInfo: PageInfo! }

type LocationEdge { cursor: String! node: Location! }
type LocationConnection { edges: [LocationEdge!]! nodes: [Location!]! pageInfo: PageInfo! }

type BulkOperation implements Node {
  id: ID!
  status: BulkOperationStatus!
  errorCode: BulkOperationErrorCode
  createdAt: DateTime!
  completedAt: DateTime
  objectCount: UnsignedInt64!
  rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64
  url: URL
  partialDataUrl: URL
  query: String!
  type: BulkOperationType!
}
type BulkOperationUserError { code: BulkOperationUserErrorCode field: [String!] message: String! }
type BulkOperationRunQueryPayload {
  bulkOperation: BulkOperation
  userErrors: [BulkOperationUserError!]!
}

type WebhookSubscription implements Node {
  id: ID!
  topic: WebhookSubscriptionTopic!
  uri: String!
  format: WebhookSubscriptionFormat!
  createdAt: DateTime!
}
type WebhookSubscriptionEdge { cursor: String! node: WebhookSubscription! }
type WebhookSubscriptionConnection {
  edges: [WebhookSubscriptionEdge!]!
  nodes: [WebhookSubscription!]!
  pageInfo: PageInfo!
}
input WebhookSubscriptionInput {
  uri: String
  callbackUrl: URL
  format: WebhookSubscriptionFormat
  includeFields: [String!]
}
type UserError { field: [String!] message: String! }
type WebhookSubscriptionCreatePayload {
  webhookSubscription: WebhookSubscription
  userErrors: [UserError!]!
}

type Query {
  shop: Shop!
  currentAppInstallation: AppInstallation!
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  orders(
    first: Int, after: String, last: Int, before: String,
    query: String, reverse: Boolean = false, sortKey: OrderSortKeys = PROCESSED_AT
  ): OrderConnection!
  locations(
    first: Int, after: String, includeInactive: Boolean = false, includeLegacy: Boolean = false
  ): LocationConnection!
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  webhookSubscriptions(
    first: Int, after: String, topics: [WebhookSubscriptionTopic!], uri: String
  ): WebhookSubscriptionConnection!
}

type Mutation {
  bulkOperationRunQuery(query: String!, groupObjects: Boolean! = true): BulkOperationRunQueryPayload
  webhookSubscriptionCreate(
    topic: WebhookSubscriptionTopic!, webhookSubscription: WebhookSubscriptionInput!
  ): WebhookSubscriptionCreatePayload
}
"""

SCHEMA = build_schema(SCHEMA_SDL)


def gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def iso(moment: dt.datetime) -> str:
    """GraphQL's DateTime: UTC with ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rest_time(value: str | None) -> str | None:
    """A GraphQL UTC time as the REST API writes it: in the shop's offset."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value).astimezone(SHOP_OFFSET)
    return moment.isoformat(timespec="seconds")


def _encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode_cursor(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, TypeError):
        raise GraphQLError(
            "Invalid cursor for current pagination sort.",
            extensions={"code": "BAD_USER_INPUT"},
        ) from None


@dataclasses.dataclass(frozen=True)
class Served:
    """One GraphQL request as the fake answered it."""

    operation: str
    status: int
    throttled: bool
    requested_cost: int
    available_before: float
    variables: dict[str, Any]


@dataclasses.dataclass
class BulkOperation:
    number: int
    query: str
    search: str | None
    sort_key: str
    created_at: str
    status: str = "CREATED"
    polls: int = 0
    error_code: str | None = None
    completed_at: str | None = None
    path: Path | None = None
    size: int = 0
    objects: int = 0
    roots: int = 0
    fail_with: str | None = None

    @property
    def id(self) -> str:
        return gid("BulkOperation", self.number)


class _Bucket:
    """Shopify's leaky bucket of cost points."""

    def __init__(self, maximum: float, restore_rate: float) -> None:
        self.maximum = maximum
        self.restore_rate = restore_rate
        self.available = maximum
        self.stamp = time.monotonic()

    def refill(self) -> float:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.stamp) * self.restore_rate)
        self.stamp = now
        return self.available

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": float(round(self.available, 1)),
            "restoreRate": float(self.restore_rate),
        }


class FakeShopify:
    """The shop's data, its API's rules, and the knobs tests turn."""

    def __init__(
        self,
        orders: int = 40,
        *,
        maximum: float = 2_000.0,
        restore_rate: float = 100.0,
        bulk_polls: int = 2,
        name_padding: int = 0,
        refund_unused_cost: bool = True,
    ) -> None:
        self.lock = threading.RLock()
        self.refund_unused_cost = refund_unused_cost
        self.bucket = _Bucket(maximum, restore_rate)
        self.bulk_polls = bulk_polls
        self.name_padding = name_padding
        self.tokens: dict[str, frozenset[str]] = {
            TOKEN: FULL_SCOPES,
            LIMITED_TOKEN: frozenset({"read_products"}),
        }
        self.orders: dict[int, dict[str, Any]] = {}
        self.index: dict[str, dict[str, Any]] = {}
        self.served: list[Served] = []
        self.order_pages: list[list[int]] = []
        self.bulk_operations: list[BulkOperation] = []
        self.subscriptions: list[dict[str, Any]] = []
        self.result_requests: list[dict[str, Any]] = []
        self._storm: list[str] = []
        self._next_bulk_failure: str | None = None
        self._expired: set[int] = set()
        self._break_after: int | None = None
        self._results_dir = Path(tempfile.mkdtemp(prefix="fake-shopify-"))
        self.now = BASE_TIME + dt.timedelta(hours=orders + 1)
        for location in LOCATIONS:
            self._index(self._location(location))
        for number in range(1, orders + 1):
            self._put(number, self._generate(number))
        self.admin = WsgiServer(self._admin_app)
        self.files = WsgiServer(self._files_app)

    # -- serving ------------------------------------------------------------

    def start(self) -> FakeShopify:
        self.admin.start()
        self.files.start()
        return self

    def stop(self) -> None:
        self.admin.stop()
        self.files.stop()
        shutil.rmtree(self._results_dir, ignore_errors=True)

    def __enter__(self) -> FakeShopify:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def admin_url(self) -> str:
        """A value for ``app.connectors.shopify.settings.ADMIN_URL``."""
        return self.admin.url + "/{shop}/admin/api/{version}"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {"shop": SHOP, "access_token": TOKEN, **overrides}

    # -- the generated shop -------------------------------------------------

    def _location(self, location: dict[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "Location",
            "id": gid("Location", location["id"]),
            "legacyResourceId": str(location["id"]),
            "name": location["name"],
            "isActive": True,
        }

    def _generate(self, number: int) -> dict[str, Any]:
        order_id = 5_000_000 + number
        created = BASE_TIME + dt.timedelta(hours=number)
        cancelled = number % 11 == 0
        lines = []
        for j in range(1 + number % 3):
            sku, name, price, variant = CATALOGUE[(number + j) % len(CATALOGUE)]
            quantity = 1 + (number + j) % 4
            lines.append(
                {
                    "__typename": "LineItem",
                    "id": gid("LineItem", order_id * 10 + j),
                    "name": f"{name} {'x' * self.name_padding}".strip(),
                    "title": name.split(" - ")[0],
                    "sku": "" if (number % 7 == 0 and j == 0) else sku,
                    "quantity": quantity,
                    "currentQuantity": quantity,
                    "unfulfilledQuantity": quantity,
                    "variant": {
                        "__typename": "ProductVariant",
                        "id": gid("ProductVariant", variant),
                        "legacyResourceId": str(variant),
                        "sku": sku,
                    },
                    "originalUnitPriceSet": _money(price),
                }
            )
        customer = None
        if number % 4 != 3:
            customer_id = 900_000 + number % 50
            customer = {
                "__typename": "Customer",
                "id": gid("Customer", customer_id),
                "legacyResourceId": str(customer_id),
            }
        order = {
            "__typename": "Order",
            "id": gid("Order", order_id),
            "legacyResourceId": str(order_id),
            "name": f"#{1000 + number}",
            "createdAt": iso(created),
            "updatedAt": iso(created + dt.timedelta(minutes=30)),
            "cancelledAt": iso(created + dt.timedelta(minutes=20)) if cancelled else None,
            "sourceName": "pos" if number % 3 == 0 else "web",
            "currencyCode": CURRENCY,
            "customer": customer,
            "lineItems": lines,
            "refunds": [],
            "fulfillments": [],
        }
        if number % 2 == 0 and not cancelled:
            home = number % 4 // 2
            when = iso(created + dt.timedelta(minutes=10))
            if number % 8 == 2 and len(lines) > 1:
                self._add_fulfilment(order, [lines[0]], 1 - home, when, 0)
                self._add_fulfilment(order, lines[1:], home, when, 1)
            else:
                self._add_fulfilment(order, lines, home, when, 0)
        if number % 5 == 0:
            self._add_refund(order, 0, 1, iso(created + dt.timedelta(minutes=25)))
        return order

    def _add_fulfilment(
        self,
        order: dict[str, Any],
        lines: list[dict[str, Any]],
        location: int,
        when: str,
        sequence: int,
    ) -> None:
        number = int(order["legacyResourceId"]) * 10 + sequence
        for line in lines:
            line["unfulfilledQuantity"] = 0
        order["fulfillments"].append(
            {
                "__typename": "Fulfillment",
                "id": gid("Fulfillment", number),
                "status": "SUCCESS",
                "createdAt": when,
                "location": self.index[gid("Location", LOCATIONS[location]["id"])],
                "fulfillmentLineItems": [
                    {
                        "__typename": "FulfillmentLineItem",
                        "id": gid("FulfillmentLineItem", int(line["id"].rsplit("/", 1)[1]) + 1),
                        "quantity": line["quantity"],
                        "lineItem": line,
                    }
                    for line in lines
                ],
            }
        )

    def _add_refund(self, order: dict[str, Any], line: int, quantity: int, when: str) -> None:
        number = int(order["legacyResourceId"]) * 10 + len(order["refunds"])
        item = order["lineItems"][line]
        item["currentQuantity"] -= quantity
        if item["unfulfilledQuantity"]:
            item["unfulfilledQuantity"] = max(0, item["unfulfilledQuantity"] - quantity)
        order["refunds"].append(
            {
                "__typename": "Refund",
                "id": gid("Refund", number),
                "createdAt": when,
                "refundLineItems": [
                    {
                        "__typename": "RefundLineItem",
                        "id": gid("RefundLineItem", number),
                        "quantity": quantity,
                        "restockType": "RETURN",
                        "lineItem": item,
                        "location": None,
                    }
                ],
            }
        )

    def _put(self, number: int, order: dict[str, Any]) -> None:
        self.orders[number] = order
        self._index(order)
        for key in ("lineItems", "refunds", "fulfillments"):
            for item in order[key]:
                self._index(item)

    def _index(self, node: dict[str, Any]) -> dict[str, Any]:
        self.index[node["id"]] = node
        return node

    def _change(self, number: int) -> dict[str, Any]:
        """A copy of order ``number`` to change; bulk snapshots keep the old one."""
        self.now += dt.timedelta(hours=1)
        order = copy.deepcopy(self.orders[number])
        order["updatedAt"] = iso(self.now)
        return order

    # -- changes between syncs ------------------------------------------------

    def touch(self, number: int) -> None:
        """Change order ``number`` (one more unit on its first line)."""
        with self.lock:
            order = self._change(number)
            order["lineItems"][0]["quantity"] += 1
            order["lineItems"][0]["currentQuantity"] += 1
            self._put(number, order)

    def cancel(self, number: int) -> None:
        with self.lock:
            order = self._change(number)
            order["cancelledAt"] = order["updatedAt"]
            self._put(number, order)

    def refund(self, number: int, line: int = 0, quantity: int = 1) -> None:
        with self.lock:
            order = self._change(number)
            self._add_refund(order, line, quantity, order["updatedAt"])
            self._put(number, order)

    def fulfil(self, number: int, location: int = 0) -> None:
        with self.lock:
            order = self._change(number)
            waiting = [line for line in order["lineItems"] if line["unfulfilledQuantity"]]
            self._add_fulfilment(
                order, waiting, location, order["updatedAt"], len(order["fulfillments"])
            )
            self._put(number, order)

    def add_token(self, token: str, scopes: Iterable[str]) -> None:
        self.tokens[token] = frozenset(scopes)

    # -- faults ---------------------------------------------------------------

    def drain(self) -> None:
        """Empty the cost bucket, as another app's burst on the shop would."""
        with self.lock:
            self.bucket.refill()
            self.bucket.available = 0.0

    def storm(self, count: int, retry_after: str = "1.0") -> None:
        """The next ``count`` GraphQL requests get HTTP 429 with ``Retry-After``."""
        with self.lock:
            self._storm = [retry_after] * count

    def fail_next_bulk(self, code: str = "INTERNAL_SERVER_ERROR") -> None:
        self._next_bulk_failure = code

    def expire_results(self) -> None:
        """The result URLs given so far stop working; their operations become EXPIRED."""
        with self.lock:
            for operation in self.bulk_operations:
                self._expired.add(operation.number)
                if operation.status == "COMPLETED":
                    operation.status = "EXPIRED"

    def break_download(self, after_bytes: int) -> None:
        """The next result download is cut off after ``after_bytes`` bytes."""
        self._break_after = after_bytes

    # -- inspection -----------------------------------------------------------

    def graphql_order(self, number: int) -> dict[str, Any]:
        """Order ``number`` in the GraphQL shape the preset reads (connections as ``nodes``)."""
        order = copy.deepcopy(_plain(self.orders[number]))
        order["lineItems"] = {"nodes": order["lineItems"]}
        for refund in order["refunds"]:
            refund["refundLineItems"] = {"nodes": refund["refundLineItems"]}
        for fulfilment in order["fulfillments"]:
            fulfilment["fulfillmentLineItems"] = {"nodes": fulfilment["fulfillmentLineItems"]}
        return order

    def rest_order(self, number: int) -> dict[str, Any]:
        """Order ``number`` as an ``orders/updated`` webhook delivers it (REST shape)."""
        order = self.orders[number]
        order_id = int(order["legacyResourceId"])
        customer = order["customer"]
        return {
            "id": order_id,
            "admin_graphql_api_id": order["id"],
            "name": order["name"],
            "order_number": int(order["name"][1:]),
            "created_at": rest_time(order["createdAt"]),
            "updated_at": rest_time(order["updatedAt"]),
            "processed_at": rest_time(order["createdAt"]),
            "cancelled_at": rest_time(order["cancelledAt"]),
            "cancel_reason": "customer" if order["cancelledAt"] else None,
            "currency": CURRENCY,
            "presentment_currency": CURRENCY,
            "source_name": order["sourceName"],
            "test": False,
            "customer": {"id": int(customer["legacyResourceId"])} if customer else None,
            "line_items": [_rest_line(line) for line in order["lineItems"]],
            "fulfillments": [
                {
                    "id": int(f["id"].rsplit("/", 1)[1]),
                    "admin_graphql_api_id": f["id"],
                    "order_id": order_id,
                    "status": f["status"].lower(),
                    "created_at": rest_time(f["createdAt"]),
                    "location_id": int(f["location"]["legacyResourceId"]),
                    "name": f"{order['name']}.{index + 1}",
                    "line_items": [
                        _rest_line(item["lineItem"]) for item in f["fulfillmentLineItems"]
                    ],
                }
                for index, f in enumerate(order["fulfillments"])
            ],
            "refunds": [
                {
                    "id": int(r["id"].rsplit("/", 1)[1]),
                    "admin_graphql_api_id": r["id"],
                    "order_id": order_id,
                    "created_at": rest_time(r["createdAt"]),
                    "refund_line_items": [
                        {
                            "id": int(item["id"].rsplit("/", 1)[1]),
                            "line_item_id": int(item["lineItem"]["id"].rsplit("/", 1)[1]),
                            "quantity": item["quantity"],
                            "restock_type": item["restockType"].lower(),
                            "location_id": None,
                            "subtotal": _rest_amount(
                                item["lineItem"]["originalUnitPriceSet"]["shopMoney"]["amount"]
                            ),
                            "line_item": _rest_line(item["lineItem"]),
                        }
                        for item in r["refundLineItems"]
                    ],
                }
                for r in order["refunds"]
            ],
        }

    def location_names(self) -> dict[str, str]:
        return {str(location["id"]): location["name"] for location in LOCATIONS}

    # -- the Admin API over HTTP -------------------------------------------

    def _admin_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self._answer(request)(environ, start_response)

    def _answer(self, request: Request) -> Response:
        match = re.fullmatch(r"/([^/]+)/admin/api/([^/]+)/graphql\.json", request.path)
        if request.method != "POST" or match is None or match.group(1) != SHOP:
            return _json({"errors": "Not Found"}, 404)
        if match.group(2) not in VERSIONS:
            return _json({"errors": "Not Found"}, 404)
        storm = self._storm_answer()
        if storm is not None:
            return storm
        scopes = self.tokens.get(request.headers.get("X-Shopify-Access-Token", ""))
        if scopes is None:
            return _json(
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or "
                    "wrong password)"
                },
                401,
            )
        return self._graphql(request, scopes)

    def _storm_answer(self) -> Response | None:
        with self.lock:
            if self._storm:
                retry_after = self._storm.pop()
                self.served.append(Served("", 429, False, 0, self.bucket.available, {}))
                return _json(
                    {
                        "errors": "Exceeded 2 calls per second for api client. Reduce request "
                        "rates to resume uninterrupted service."
                    },
                    429,
                    {"Retry-After": retry_after},
                )
        return None

    def _graphql(self, request: Request, scopes: frozenset[str]) -> Response:
        try:
            payload = json.loads(request.get_data())
            document = parse(payload["query"])
        except (ValueError, KeyError, TypeError, GraphQLError) as exc:
            return _json({"errors": [{"message": f"Parse error: {exc}"}]}, 200)
        variables = payload.get("variables") or {}
        problems = validate(SCHEMA, document)
        if problems:
            return _json({"errors": [error.formatted for error in problems]}, 200)
        with self.lock:
            return self._execute(document, variables, scopes)

    def _execute(
        self, document: Any, variables: dict[str, Any], scopes: frozenset[str]
    ) -> Response:
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        name = operation.name.value if operation.name else "anonymous"
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        try:
            requested = self._requested_cost(operation, variables, fragments)
        except GraphQLError as exc:
            return _json({"errors": [exc.formatted]}, 200)
        available = self.bucket.refill()
        cost = {"requestedQueryCost": requested}
        if requested > MAX_QUERY_COST:
            self.served.append(Served(name, 200, False, requested, available, variables))
            message = (
                f"Query cost is {requested}, which exceeds the single query max cost limit "
                f"({MAX_QUERY_COST}).\n\nSee {DOCS} for more information on how the cost of a "
                "query is calculated.\n\nTo query larger amounts of data with fine grained "
                "cursor control, we recommend using bulk operations."
            )
            return _json(
                {
                    "errors": [
                        {
                            "message": message,
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": MAX_QUERY_COST,
                                "documentation": DOCS,
                            },
                        }
                    ],
                    "extensions": {"cost": cost | {"actualQueryCost": None}},
                },
                200,
            )
        if available < requested:
            self.served.append(Served(name, 200, True, requested, available, variables))
            return _json(
                {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {"code": "THROTTLED", "documentation": DOCS},
                        }
                    ],
                    "extensions": {
                        "cost": cost
                        | {"actualQueryCost": None, "throttleStatus": self.bucket.status()}
                    },
                },
                200,
            )
        self.bucket.available -= requested
        context = {"scopes": scopes}
        result = execute(
            SCHEMA,
            document,
            root_value=self._root(),
            context_value=context,
            variable_values=variables,
            field_resolver=_resolve,
        )
        actual = min(requested, _objects(result.data)) if result.data else 0
        if not self.refund_unused_cost:
            actual = requested
        self.bucket.available = min(self.bucket.maximum, self.bucket.available + requested - actual)
        self.served.append(Served(name, 200, False, requested, available, variables))
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        body["data"] = result.data
        body["extensions"] = {
            "cost": cost | {"actualQueryCost": actual, "throttleStatus": self.bucket.status()}
        }
        return _json(body, 200)

    # -- cost ---------------------------------------------------------------

    def _requested_cost(
        self,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        fragments: dict[str, FragmentDefinitionNode],
    ) -> int:
        if operation.operation is OperationType.MUTATION:
            return 10 * len(operation.selection_set.selections)
        return _cost(operation.selection_set, SCHEMA.query_type, variables, fragments)

    # -- resolvers ----------------------------------------------------------

    def _root(self) -> dict[str, Any]:
        return {
            "shop": lambda info: {
                "name": SHOP_NAME,
                "myshopifyDomain": SHOP,
                "currencyCode": CURRENCY,
                "ianaTimezone": "America/New_York",
            },
            "currentAppInstallation": lambda info: {
                "id": gid("AppInstallation", 1),
                "accessScopes": [
                    {"handle": scope, "description": scope.replace("_", " ")}
                    for scope in sorted(info.context["scopes"])
                ],
            },
            "node": self._node_field,
            "nodes": lambda info, ids: [self._node(info, one) for one in ids],
            "orders": self._orders,
            "locations": self._locations,
            "currentBulkOperation": self._current_bulk,
            "webhookSubscriptions": self._webhook_list,
            "bulkOperationRunQuery": self._run_bulk,
            "webhookSubscriptionCreate": self._create_webhook,
        }

    def _node_field(self, info: Any, id: str) -> dict[str, Any] | None:
        return self._node(info, id)

    def _node(self, info: Any, node_id: str) -> dict[str, Any] | None:
        if node_id.startswith("gid://shopify/BulkOperation/"):
            return self._bulk_view(self._poll(node_id))
        node = self.index.get(node_id)
        if node is None:
            return None
        if node["__typename"] in ("Order", "Refund", "Fulfillment", "LineItem"):
            _need(info, "read_orders", "node")
            if node["__typename"] == "Order" and not self._visible(info, node):
                return None
        return node

    def _visible(self, info: Any, order: dict[str, Any]) -> bool:
        if "read_all_orders" in info.context["scopes"]:
            return True
        created = dt.datetime.fromisoformat(order["createdAt"])
        return created >= self.now - dt.timedelta(days=60)

    def _orders(self, info: Any, **args: Any) -> dict[str, Any]:
        _need(info, "read_orders", "orders")
        sort_key = args.get("sortKey") or "PROCESSED_AT"
        orders = [
            order
            for order in self._matching(self.orders.values(), args.get("query"))
            if self._visible(info, order)
        ]
        page = _page_by_key(orders, _sort_value(sort_key), args)
        self.order_pages.append(
            [int(node["legacyResourceId"]) - 5_000_000 for node in page["nodes"]]
        )
        return page

    def _matching(
        self, orders: Iterable[dict[str, Any]], search: str | None
    ) -> list[dict[str, Any]]:
        tests = []
        for field, op, value in re.findall(
            r"(updated_at|created_at):(>=|<=|>|<)?'?([^' ]+)'?", search or ""
        ):
            key = "updatedAt" if field == "updated_at" else "createdAt"
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            tests.append((key, op or "=", moment))

        def keep(order: dict[str, Any]) -> bool:
            for key, op, moment in tests:
                have = dt.datetime.fromisoformat(order[key])
                if not {
                    ">": have > moment,
                    ">=": have >= moment,
                    "<": have < moment,
                    "<=": have <= moment,
                    "=": have == moment,
                }[op]:
                    return False
            return True

        return [order for order in orders if keep(order)]

    def _locations(self, info: Any, **args: Any) -> dict[str, Any]:
        _need(info, "read_locations", "locations")
        nodes = [self.index[gid("Location", location["id"])] for location in LOCATIONS]
        return _page_by_index(nodes, args)

    # -- bulk operations ----------------------------------------------------

    def _run_bulk(self, info: Any, query: str, **args: Any) -> dict[str, Any]:
        _need(info, "read_orders", "bulkOperationRunQuery")
        running = [op for op in self.bulk_operations if op.status in ("CREATED", "RUNNING")]
        if running:
            return {
                "bulkOperation": None,
                "userErrors": [
                    {
                        "code": "OPERATION_IN_PROGRESS",
                        "field": None,
                        "message": "A bulk query operation for this app and shop is already in "
                        f"progress: {running[0].id}.",
                    }
                ],
            }
        problems, search, sort_key = _check_bulk_query(query)
        if problems:
            return {
                "bulkOperation": None,
                "userErrors": [
                    {"code": "INVALID", "field": ["query"], "message": problem}
                    for problem in problems
                ],
            }
        if not args.get("groupObjects", True):
            raise GraphQLError("The fake writes grouped results only.")
        operation = BulkOperation(
            number=len(self.bulk_operations) + 1,
            query=query,
            search=search,
            sort_key=sort_key,
            created_at=iso(self.now),
            fail_with=self._next_bulk_failure,
        )
        self._next_bulk_failure = None
        self.bulk_operations.append(operation)
        return {"bulkOperation": self._bulk_view(operation), "userErrors": []}

    def _current_bulk(self, info: Any, **args: Any) -> dict[str, Any] | None:
        if not self.bulk_operations:
            return None
        return self._bulk_view(self._poll(self.bulk_operations[-1].id))

    def _poll(self, operation_id: str) -> BulkOperation | None:
        operation = next((op for op in self.bulk_operations if op.id == operation_id), None)
        if operation is None or operation.status not in ("CREATED", "RUNNING"):
            return operation
        operation.polls += 1
        if operation.status == "CREATED":
            operation.status = "RUNNING"
        elif operation.polls > self.bulk_polls:
            if operation.fail_with:
                operation.status, operation.error_code = "FAILED", operation.fail_with
            else:
                self._write_result(operation)
                operation.status = "COMPLETED"
            operation.completed_at = iso(self.now)
        return operation

    def _write_result(self, operation: BulkOperation) -> None:
        """The operation's JSONL file, from the orders as they are now."""
        selection = _root_node_selection(operation.query)
        orders = self._matching(self.orders.values(), operation.search)
        orders.sort(key=_sort_value(operation.sort_key))
        path = self._results_dir / f"{operation.number}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            for order in orders:
                for line in _bulk_lines(order, selection):
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
                    operation.objects += 1
                operation.roots += 1
        operation.path = path
        operation.size = path.stat().st_size

    def _bulk_view(self, operation: BulkOperation | None) -> dict[str, Any] | None:
        if operation is None:
            return None
        url = None
        if operation.status == "COMPLETED" and operation.roots:
            url = (
                f"{self.files.url}/results/{operation.number}.jsonl"
                "?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Expires=604800"
                f"&X-Goog-Signature={operation.number:064x}"
            )
        return {
            "__typename": "BulkOperation",
            "id": operation.id,
            "status": operation.status,
            "errorCode": operation.error_code,
            "createdAt": operation.created_at,
            "completedAt": operation.completed_at,
            "objectCount": str(operation.objects),
            "rootObjectCount": str(operation.roots),
            "fileSize": str(operation.size) if url else None,
            "url": url,
            "partialDataUrl": None,
            "query": operation.query,
            "type": "QUERY",
        }

    # -- webhooks -----------------------------------------------------------

    def _webhook_list(self, info: Any, **args: Any) -> dict[str, Any]:
        topics = args.get("topics")
        nodes = [
            s
            for s in self.subscriptions
            if (not topics or s["topic"] in topics) and args.get("uri") in (None, s["uri"])
        ]
        return _page_by_index(nodes, args)

    def _create_webhook(self, info: Any, topic: str, **args: Any) -> dict[str, Any]:
        given = args["webhookSubscription"]
        uri = given.get("uri") or given.get("callbackUrl") or ""
        if topic.startswith("ORDERS_"):
            _need(info, "read_orders", "webhookSubscriptionCreate")
        errors = []
        if not uri.startswith("https://"):
            errors.append("Address protocol http:// is not supported")
        if any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            errors.append("Address for this topic has already been taken")
        if errors:
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {"field": ["webhookSubscription", "callbackUrl"], "message": message}
                    for message in errors
                ],
            }
        subscription = {
            "__typename": "WebhookSubscription",
            "id": gid("WebhookSubscription", 880_000 + len(self.subscriptions) + 1),
            "topic": topic,
            "uri": uri,
            "format": given.get("format") or "JSON",
            "createdAt": iso(self.now),
        }
        self.subscriptions.append(subscription)
        self._index(subscription)
        return {"webhookSubscription": subscription, "userErrors": []}

    # -- result files -------------------------------------------------------

    def _files_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        return self._result(request)(environ, start_response)

    def _result(self, request: Request) -> Response:
        self.result_requests.append(
            {
                "path": request.path,
                "range": request.headers.get("Range"),
                "headers": dict(request.headers),
            }
        )
        match = re.fullmatch(r"/results/(\d+)\.jsonl", request.path)
        operation = None
        if match is not None:
            number = int(match.group(1))
            operation = next((op for op in self.bulk_operations if op.number == number), None)
        if operation is None or operation.path is None:
            return Response(_gcs_error("NoSuchKey", "The specified key does not exist."), 404)
        if operation.number in self._expired:
            return Response(_gcs_error("ExpiredToken", "Invalid argument."), 400)
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
        if ranged:
            start = int(ranged.group(1))
            if start >= operation.size:
                return Response(b"", 416, {"Content-Range": f"bytes */{operation.size}"})
        cut, self._break_after = self._break_after, None
        body = _file_chunks(operation.path, start, cut)
        headers = {"Content-Type": "application/jsonl"}
        if ranged:
            headers["Content-Range"] = f"bytes {start}-{operation.size - 1}/{operation.size}"
        if cut is None:
            headers["Content-Length"] = str(operation.size - start)
        return Response(body, 206 if ranged else 200, headers, direct_passthrough=True)


# -- helpers ------------------------------------------------------------------


class DownloadCut(Exception):
    """Raised inside a response body to drop the connection part-way."""


def _file_chunks(path: Path, start: int, cut: int | None) -> Iterator[bytes]:
    sent = 0
    with path.open("rb") as handle:
        handle.seek(start)
        while chunk := handle.read(16 * 1024):
            if cut is not None and sent + len(chunk) > cut:
                yield chunk[: cut - sent]
                raise DownloadCut("the fake drops the download here")
            sent += len(chunk)
            yield chunk


def _gcs_error(code: str, message: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status, {"Content-Type": "application/json", **(headers or {})}
    )


def _money(amount: str) -> dict[str, Any]:
    money = {"amount": str(float(amount)).rstrip("0").rstrip(".") if "." in amount else amount}
    money["currencyCode"] = CURRENCY
    return {"shopMoney": dict(money), "presentmentMoney": dict(money)}


def _rest_amount(amount: str) -> str:
    return f"{float(amount):.2f}"


def _rest_line(line: dict[str, Any]) -> dict[str, Any]:
    amount = _rest_amount(line["originalUnitPriceSet"]["shopMoney"]["amount"])
    variant = line["variant"]
    unfulfilled = line["unfulfilledQuantity"]
    return {
        "id": int(line["id"].rsplit("/", 1)[1]),
        "admin_graphql_api_id": line["id"],
        "variant_id": int(variant["legacyResourceId"]) if variant else None,
        "sku": line["sku"],
        "name": line["name"],
        "title": line["title"],
        "quantity": line["quantity"],
        "current_quantity": line["currentQuantity"],
        "fulfillable_quantity": unfulfilled,
        "fulfillment_status": "fulfilled" if unfulfilled == 0 else None,
        "price": amount,
        "price_set": {
            "shop_money": {"amount": amount, "currency_code": CURRENCY},
            "presentment_money": {"amount": amount, "currency_code": CURRENCY},
        },
        "gift_card": False,
        "taxable": True,
    }


def _plain(value: Any) -> Any:
    """``value`` without the ``__typename`` keys the fake keeps for abstract types."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _need(info: Any, scope: str, field: str) -> None:
    if scope not in info.context["scopes"]:
        raise GraphQLError(
            f"Access denied for {field} field. Required access: `{scope}` access scope.",
            extensions={
                "code": "ACCESS_DENIED",
                "documentation": "https://shopify.dev/api/usage/access-scopes",
                "requiredAccess": f"`{scope}` access scope.",
            },
        )


def _sort_value(sort_key: str) -> Any:
    field = {"UPDATED_AT": "updatedAt", "ID": "legacyResourceId"}.get(sort_key, "createdAt")
    if field == "legacyResourceId":
        return lambda node: (int(node[field]), int(node["legacyResourceId"]))
    return lambda node: (node[field], int(node["legacyResourceId"]))


def _page_by_key(nodes: list[dict[str, Any]], key: Any, args: dict[str, Any]) -> dict[str, Any]:
    """A connection page of ``nodes`` ordered by ``key``; cursors hold the key, not a position."""
    reverse = bool(args.get("reverse"))
    ordered = sorted(nodes, key=key, reverse=reverse)
    if args.get("after"):
        mark = tuple(_decode_cursor(args["after"]))
        ordered = [n for n in ordered if (key(n) < mark if reverse else key(n) > mark)]
    size = _page_size(args)
    chosen = ordered[:size]
    return _connection(chosen, [_encode_cursor(list(key(n))) for n in chosen], len(ordered) > size)


def _page_by_index(nodes: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    start = _decode_cursor(args["after"]) + 1 if args.get("after") else 0
    size = _page_size(args)
    chosen = nodes[start : start + size]
    cursors = [_encode_cursor(start + i) for i in range(len(chosen))]
    return _connection(chosen, cursors, start + size < len(nodes))


def _page_size(args: dict[str, Any]) -> int:
    size = args.get("first") or args.get("last")
    if size is None:
        raise GraphQLError("you must provide one of first or last")
    if size > MAX_PAGE:
        raise GraphQLError(f"The 'first' and 'last' arguments cannot exceed {MAX_PAGE}.")
    return size


def _connection(nodes: list[dict[str, Any]], cursors: list[str], more: bool) -> dict[str, Any]:
    return {
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "nodes": nodes,
        "pageInfo": {
            "hasNextPage": more,
            "hasPreviousPage": False,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _resolve(source: Any, info: Any, **args: Any) -> Any:
    """Reads dicts; turns stored lists into connections or sized lists as the schema asks."""
    value = source.get(info.field_name) if isinstance(source, dict) else None
    if callable(value):
        return value(info, **args)
    named = get_named_type(info.return_type)
    if named.name.endswith("Connection") and isinstance(value, list):
        return _page_by_index(value, args)
    if isinstance(value, list) and args.get("first") is not None:
        return value[: args["first"]]
    return value


def _objects(data: Any) -> int:
    if isinstance(data, dict):
        return (0 if "edges" in data or "hasNextPage" in data else 1) + sum(
            _objects(v) for v in data.values()
        )
    if isinstance(data, list):
        return sum(_objects(item) for item in data)
    return 0


def _arguments(node: FieldNode, variables: dict[str, Any]) -> dict[str, Any]:
    """The field's arguments with variables filled in (what sizes a connection)."""
    return {
        arg.name.value: value_from_ast_untyped(arg.value, variables) for arg in node.arguments or ()
    }


def _cost(
    selection_set: SelectionSetNode | None,
    parent: Any,
    variables: dict[str, Any],
    fragments: dict[str, FragmentDefinitionNode],
) -> int:
    """The requested cost of a selection, as Shopify's rules compute it."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, InlineFragmentNode):
            kind = (
                SCHEMA.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            total += _cost(selection.selection_set, kind, variables, fragments)
            continue
        if isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            kind = SCHEMA.get_type(fragment.type_condition.name.value)
            total += _cost(fragment.selection_set, kind, variables, fragments)
            continue
        name = selection.name.value
        if name.startswith("__") or not hasattr(parent, "fields"):
            continue
        field = parent.fields[name]
        named = get_named_type(field.type)
        if is_leaf_type(named):
            continue
        child = _cost(selection.selection_set, named, variables, fragments)
        args = _arguments(selection, variables)
        if parent.name.endswith("Connection"):
            total += 0 if name == "pageInfo" else (child if name == "edges" else 1 + child)
        elif parent.name.endswith("Edge"):
            total += 1 + child
        elif named.name.endswith("Connection"):
            size = args.get("first") or args.get("last") or 1
            total += 2 + size * child
        elif _is_list(field.type):
            size = args.get("first") or (len(args["ids"]) if "ids" in args else 1)
            total += size * (1 + child)
        else:
            total += 1 + child
    return total


def _is_list(kind: Any) -> bool:
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


# -- bulk queries ---------------------------------------------------------------


def _check_bulk_query(text: str) -> tuple[list[str], str | None, str]:
    """The problems Shopify would report, and the root's search filter and sort key."""
    try:
        document = parse(text)
    except GraphQLError as exc:
        return [f"Invalid bulk query: {exc.message}"], None, "ID"
    problems = [error.message for error in validate(SCHEMA, document)]
    if problems:
        return problems, None, "ID"
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(roots) != 1:
        return ["Bulk queries must contain exactly one top-level field."], None, "ID"
    found: dict[str, Any] = {"connections": 0, "in_list": False, "deep": False, "no_id": []}
    _walk_bulk(roots[0], SCHEMA.query_type, found, depth=0, in_list=False)
    if found["connections"] == 0:
        problems.append("Bulk queries must contain at least one connection.")
    if found["connections"] > 5:
        problems.append("Bulk queries cannot contain more than 5 connections.")
    if found["deep"]:
        problems.append(
            "Bulk queries cannot contain connections with a nesting depth greater than 2."
        )
    if found["in_list"]:
        problems.append(
            "Queries that contain a connection field within a list field are not currently "
            "supported."
        )
    if found["no_id"]:
        problems.append(
            "The parent 'node' field for a nested connection must select the 'id' field without "
            f"an alias and must be of 'ID' return type. Connection fields without 'id': "
            f"{', '.join(found['no_id'])}."
        )
    args = {a.name.value: a.value for a in roots[0].arguments or ()}
    search = getattr(args.get("query"), "value", None)
    sort_key = getattr(args.get("sortKey"), "value", "ID")
    return problems, search, sort_key


def _walk_bulk(
    node: FieldNode, parent: GraphQLObjectType, found: dict[str, Any], depth: int, in_list: bool
) -> None:
    field = parent.fields[node.name.value]
    named = get_named_type(field.type)
    if is_leaf_type(named) or node.selection_set is None:
        return
    if named.name.endswith("Connection"):
        if in_list:
            found["in_list"] = True
        found["connections"] += 1
        depth += 1
        if depth > 2:
            found["deep"] = True
    elif _is_list(field.type) and not parent.name.endswith("Connection"):
        in_list = True
    children = [s for s in node.selection_set.selections if isinstance(s, FieldNode)]
    if depth >= 1 and not named.name.endswith(("Connection", "Edge")):
        nested = [
            child.name.value
            for child in children
            if get_named_type(named.fields[child.name.value].type).name.endswith("Connection")
        ]
        if nested and "id" not in {child.name.value for child in children}:
            found["no_id"].extend(nested)
    for child in children:
        if hasattr(named, "fields"):
            _walk_bulk(child, named, found, depth, in_list)


def _root_node_selection(text: str) -> SelectionSetNode:
    """The selection on each node of a bulk query's root connection."""
    operation = next(d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode))
    root = operation.selection_set.selections[0]
    return _node_selection(root.selection_set)


def _node_selection(connection: SelectionSetNode) -> SelectionSetNode:
    for selection in connection.selections:
        if selection.name.value == "nodes":
            return selection.selection_set
        if selection.name.value == "edges":
            for inner in selection.selection_set.selections:
                if inner.name.value == "node":
                    return inner.selection_set
    raise GraphQLError("A connection in a bulk query must select edges { node } or nodes.")


def _is_connection_selection(selection: FieldNode) -> bool:
    return selection.selection_set is not None and any(
        isinstance(s, FieldNode) and s.name.value in ("edges", "nodes")
        for s in selection.selection_set.selections
    )


def _bulk_lines(
    node: dict[str, Any], selection: SelectionSetNode, parent: str | None = None
) -> Iterator[dict[str, Any]]:
    """``node`` projected on ``selection`` as JSONL objects: itself, then its connections' items."""
    own, children = _project(node, selection)
    if parent is not None:
        own["__parentId"] = parent
    yield own
    for child_selection, items in children:
        for item in items:
            yield from _bulk_lines(item, child_selection, node["id"])


def _project(
    value: dict[str, Any], selection: SelectionSetNode
) -> tuple[dict[str, Any], list[Any]]:
    out: dict[str, Any] = {}
    children: list[Any] = []
    for field in selection.selections:
        if not isinstance(field, FieldNode):
            continue
        name = field.name.value
        key = field.alias.value if field.alias else name
        item = value.get(name)
        if field.selection_set is None:
            out[key] = item
        elif _is_connection_selection(field):
            children.append((_node_selection(field.selection_set), item or []))
        elif isinstance(item, list):
            out[key] = [_project(element, field.selection_set)[0] for element in item]
        elif isinstance(item, dict):
            out[key] = _project(item, field.selection_set)[0]
        else:
            out[key] = None
    return out, children


@contextmanager
def serve_shopify(orders: int = 40, **options: Any) -> Iterator[FakeShopify]:
    """A running fake shop of ``orders`` orders (keywords: see :class:`FakeShopify`)."""
    shop = FakeShopify(orders, **options)
    with shop:
        yield shop


def main(argv: list[str] | None = None) -> None:
    """Serve a fake shop in its own process: prints ``admin_url``, serves until stdin closes.

    For tests and benchmarks that measure the client's process alone.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=40)
    parser.add_argument("--name-padding", type=int, default=0)
    parser.add_argument("--maximum", type=float, default=2_000.0)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    args = parser.parse_args(argv)
    shop = FakeShopify(
        args.orders,
        maximum=args.maximum,
        restore_rate=args.restore_rate,
        name_padding=args.name_padding,
    )
    with shop:
        print(shop.admin_url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
