"""Reading a shop's orders: a bulk backfill first, then incremental pages by ``updated_at``.

The cursor stored after each page is a JSON object with ``phase``:

- ``backfill``: reading a bulk operation's result file. ``operation`` (its
  id), ``offset`` (the byte where the next order starts), ``snapshot`` (when
  the operation started), ``high_water`` (the latest ``updatedAt`` stored so
  far) and ``search`` (the filter the operation ran under, or null). A pull
  that stopped goes on at ``offset`` while Shopify keeps the file (seven days);
  after that it starts a new bulk query over the orders updated since the
  earlier of ``high_water`` and ``snapshot``, less :data:`OVERLAP`. The file is
  sorted by ``updated_at``, so everything before the offset was stored.
- ``incremental``: ``high_water``; mid-pull also ``since`` (the filter's time)
  and ``after`` (the page cursor Shopify gave). A new pull asks for orders
  updated after ``high_water`` less :data:`OVERLAP`, sorted by ``updated_at``.

When a backfill ends, ``high_water`` is the earlier of the latest ``updatedAt``
in the file and the bulk operation's start: an order changed while Shopify was
writing the file may be in it as it was before, and the first incremental pull
reads it again. Pages read twice are harmless: lines are upserted by key.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from app.connectors.base import Cursor, Page, Record
from app.connectors.errors import SourceDataError
from app.connectors.http import RetryPolicy
from app.connectors.shopify import bulk, queries
from app.connectors.shopify.client import AdminClient, QueryTooCostly
from app.connectors.shopify.lines import lines_from_graphql

log = logging.getLogger(__name__)

# How far before the last change seen each pull looks again (clock skew, late writes).
OVERLAP = dt.timedelta(minutes=5)

REFUND_LINES = queries.children_query(
    "ShopifyRefundLines", "Refund", "refundLineItems", queries.REFUND_LINE_FIELDS
)
MORE_REFUND_LINES = queries.more_children_query(
    "ShopifyMoreRefundLines", "Refund", "refundLineItems", queries.REFUND_LINE_FIELDS
)
FULFILMENT_LINES = queries.children_query(
    "ShopifyFulfilmentLines", "Fulfillment", "fulfillmentLineItems", queries.FULFILMENT_LINE_FIELDS
)
MORE_FULFILMENT_LINES = queries.more_children_query(
    "ShopifyMoreFulfilmentLines",
    "Fulfillment",
    "fulfillmentLineItems",
    queries.FULFILMENT_LINE_FIELDS,
)


@dataclass(frozen=True)
class Tuning:
    """Page and batch sizes, kept so that each query's requested cost stays under 1,000."""

    page_orders: int = 250  # orders per page read from a bulk result
    orders_per_query: int = 10  # orders per incremental page
    lines_per_order: int = 20  # line items fetched with each order (more: a query of their own)
    parents_per_query: int = 5  # refunds or fulfilments per children query
    children_per_parent: int = 50  # their line items per query
    poll: tuple[float, float] = (1.0, 15.0)  # first and longest wait between bulk polls


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def utc_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def later(left: str | None, right: str | None) -> str | None:
    """The later of two ISO 8601 times (either may be None)."""
    a, b = parse_time(left), parse_time(right)
    if a is None:
        return right if b is not None else left
    if b is None:
        return left
    return right if b > a else left


def earlier(left: str | None, right: str | None) -> str | None:
    """The earlier of two ISO 8601 times (None when one is unknown)."""
    a, b = parse_time(left), parse_time(right)
    if a is None or b is None:
        return left if b is None else right
    return right if b < a else left


def before(value: str | None, span: dt.timedelta) -> str | None:
    moment = parse_time(value)
    return utc_z(moment - span) if moment is not None else None


class OrderReader:
    """One pull over a shop's orders, page by page, with resumable cursors."""

    def __init__(
        self,
        client: AdminClient,
        *,
        retry: RetryPolicy,
        tuning: Tuning,
        sleep: Callable[[float], None],
        check_cancelled: Callable[[], None],
    ) -> None:
        self.client = client
        self.retry = retry
        self.tuning = tuning
        self.sleep = sleep
        self.check_cancelled = check_cancelled
        self.high_water: str | None = None

    def pages(self, cursor: Cursor | None) -> Iterator[Page]:
        cursor = dict(cursor or {})
        self.high_water = cursor.get("high_water")
        if cursor.get("phase", "backfill") == "backfill":
            yield from self._backfill(cursor)
        else:
            yield from self._incremental(cursor)

    def recent(self, limit: int) -> list[Record]:
        """Line records of the most recently changed orders, for a preview."""
        first = max(1, min(limit, self.tuning.orders_per_query))
        connection, _ = self._orders_page(first, None, None, reverse=True)
        orders = connection.get("nodes") or []
        self.complete(orders)
        return [line for order in orders for line in lines_from_graphql(order)][:limit]

    # -- backfill -----------------------------------------------------------

    def _backfill(self, cursor: Cursor) -> Iterator[Page]:
        restarted = False
        while True:
            operation, offset, search = self._operation(cursor)
            try:
                yield from self._read(operation, offset, search)
                return
            except bulk.ResultUnavailable as exc:
                if restarted:
                    raise
                restarted = True
                log.warning("%s Starting a new bulk query from where the pull stopped.", exc)
                cursor = {
                    "phase": "backfill",
                    "high_water": self.high_water,
                    "snapshot": operation.created_at,
                    "restart": True,
                }

    def _operation(self, cursor: Cursor) -> tuple[bulk.BulkOperation, int, str | None]:
        """The completed operation to read, the offset to read it from, and its filter."""
        if cursor.get("operation"):
            found = bulk.status(self.client, str(cursor["operation"]))
            if found is not None and found.status == "COMPLETED" and found.url:
                log.info(
                    "Shopify %s: resuming bulk result %s at byte %s",
                    self.client.shop,
                    found.id,
                    cursor.get("offset", 0),
                )
                return found, int(cursor.get("offset", 0)), cursor.get("search")
            log.info(
                "Shopify %s: bulk result %s is no longer available; starting a new one",
                self.client.shop,
                cursor["operation"],
            )
        search = None
        if cursor.get("operation") or cursor.get("restart"):
            since = before(earlier(self.high_water, cursor.get("snapshot")), OVERLAP)
            search = f"updated_at:>='{since}'" if since else None
        operation = bulk.start(self.client, queries.bulk_orders_query(search))
        operation = bulk.wait(self.client, operation, interval=self.tuning.poll, sleep=self.sleep)
        return operation, 0, search

    def _read(
        self, operation: bulk.BulkOperation, offset: int, search: str | None
    ) -> Iterator[Page]:
        snapshot = bulk.created_at(operation)
        if not operation.url:  # nothing matched: Shopify writes no file
            yield Page([], self._incremental_cursor(snapshot))
            return
        reader = bulk.ResultReader(operation.url, cancel=self.client.http.cancel, retry=self.retry)
        try:
            batch: list[bulk.AssembledOrder] = []
            for assembled in bulk.orders_from_lines(reader.lines(offset), offset):
                batch.append(assembled)
                if len(batch) >= self.tuning.page_orders:
                    self.check_cancelled()
                    records = self._records([item.order for item in batch])
                    following = {
                        "phase": "backfill",
                        "operation": operation.id,
                        "offset": batch[-1].end,
                        "snapshot": snapshot,
                        "high_water": self.high_water,
                        "search": search,
                    }
                    yield Page(records, following)
                    batch = []
            records = self._records([item.order for item in batch])
            yield Page(records, self._incremental_cursor(snapshot))
        finally:
            reader.close()
        log.info("Shopify %s: backfill from bulk operation %s done", self.client.shop, operation.id)

    def _incremental_cursor(self, snapshot: str) -> Cursor:
        return {"phase": "incremental", "high_water": earlier(self.high_water, snapshot)}

    # -- incremental --------------------------------------------------------

    def _incremental(self, cursor: Cursor) -> Iterator[Page]:
        if "after" in cursor:  # an interrupted pull goes on under its own filter
            since, after = cursor.get("since"), cursor["after"]
        else:
            since, after = before(self.high_water, OVERLAP), None
        search = f"updated_at:>'{since}'" if since else None
        first = self.tuning.orders_per_query
        while True:
            self.check_cancelled()
            connection, first = self._orders_page(first, after, search, reverse=False)
            orders = connection.get("nodes") or []
            records = self._records(orders)
            info = connection.get("pageInfo") or {}
            following: Cursor = {"phase": "incremental", "high_water": self.high_water}
            more = bool(info.get("hasNextPage"))
            if more:
                if not info.get("endCursor") or info.get("endCursor") == after:
                    raise SourceDataError(
                        f"Shopify ({self.client.shop}) gave no new page cursor for more orders."
                    )
                following |= {"since": since, "after": info["endCursor"]}
            yield Page(records, following)
            if not more:
                return
            after = info["endCursor"]

    def _orders_page(
        self, first: int, after: str | None, search: str | None, *, reverse: bool
    ) -> tuple[dict[str, Any], int]:
        """A page of orders, and the page size that fitted Shopify's cost limit."""
        while True:
            variables = {
                "first": first,
                "after": after,
                "query": search,
                "reverse": reverse,
                "lines": self.tuning.lines_per_order,
            }
            try:
                return self.client.query(queries.ORDERS_PAGE, variables)["orders"], first
            except QueryTooCostly:
                if first == 1:
                    raise
                first = max(1, first // 2)
                log.info("Shopify %s: asking for %d orders a page", self.client.shop, first)

    # -- orders into records ------------------------------------------------

    def _records(self, orders: list[dict[str, Any]]) -> list[Record]:
        self.complete(orders)
        records: list[Record] = []
        for order in orders:
            self.high_water = later(self.high_water, order.get("updatedAt"))
            records.extend(lines_from_graphql(order))
        return records

    def complete(self, orders: list[dict[str, Any]]) -> None:
        """Fetch what the orders' own query could not hold: more line items, refund
        line items, and which lines each fulfilment held where an order shipped from
        several locations."""
        for order in orders:
            self._more_line_items(order)
        refunds = {r["id"]: r for order in orders for r in order.get("refunds") or []}
        found = self._children(list(refunds), REFUND_LINES, MORE_REFUND_LINES, "refundLineItems")
        for refund_id, refund in refunds.items():
            refund["refundLineItems"] = {"nodes": found.get(refund_id, [])}
        split = {
            f["id"]: f
            for order in orders
            if _shipping_locations(order) > 1
            for f in order.get("fulfillments") or []
        }
        held = self._children(
            list(split), FULFILMENT_LINES, MORE_FULFILMENT_LINES, "fulfillmentLineItems"
        )
        for fulfilment_id, fulfilment in split.items():
            fulfilment["fulfillmentLineItems"] = {"nodes": held.get(fulfilment_id, [])}

    def _more_line_items(self, order: dict[str, Any]) -> None:
        connection = order.get("lineItems") or {}
        info = connection.get("pageInfo") or {}
        while info.get("hasNextPage"):
            variables = {
                "id": order["id"],
                "after": info.get("endCursor"),
                "first": self.tuning.lines_per_order,
            }
            node = self.client.query(queries.MORE_LINE_ITEMS, variables).get("node") or {}
            page = node.get("lineItems") or {}
            connection.setdefault("nodes", []).extend(page.get("nodes") or [])
            info = page.get("pageInfo") or {}

    def _children(
        self, ids: list[str], first_query: str, more_query: str, connection: str
    ) -> dict[str, list[dict[str, Any]]]:
        """The items of ``connection`` under each parent id, all pages of them."""
        out: dict[str, list[dict[str, Any]]] = {}
        size = self.tuning.parents_per_query
        for start in range(0, len(ids), size):
            variables = {"ids": ids[start : start + size], "first": self.tuning.children_per_parent}
            for node in self.client.query(first_query, variables).get("nodes") or []:
                if not node:  # deleted since the order was read
                    continue
                page = node.get(connection) or {}
                items = out.setdefault(node["id"], [])
                items.extend(page.get("nodes") or [])
                info = page.get("pageInfo") or {}
                while info.get("hasNextPage"):
                    more = {
                        "id": node["id"],
                        "after": info.get("endCursor"),
                        "first": self.tuning.children_per_parent,
                    }
                    page = (self.client.query(more_query, more).get("node") or {}).get(
                        connection
                    ) or {}
                    items.extend(page.get("nodes") or [])
                    info = page.get("pageInfo") or {}
        return out


def _shipping_locations(order: dict[str, Any]) -> int:
    """How many locations the order's successful fulfilments left from."""
    places = set()
    for fulfilment in order.get("fulfillments") or []:
        if str(fulfilment.get("status") or "").upper() == "SUCCESS":
            location = fulfilment.get("location") or {}
            places.add(location.get("legacyResourceId") or location.get("name"))
    return len(places)
