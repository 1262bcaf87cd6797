"""Bulk operations: run a bulk query, wait for it, and stream its JSONL result.

The result file holds one JSON object per line: each order, then (the preset
asks Shopify to group them) its line items, each with ``__parentId`` naming the
order. :func:`orders_from_lines` puts them back together one order at a time,
so that a file of years of orders is read in constant memory. The file is read
in chunks and split into lines here, counting bytes, so that a pull can stop
between two orders and later go on from that byte with a ``Range`` request.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConnectorError,
    RetryableError,
    SourceDataError,
)
from app.connectors.http import USER_AGENT, RetryPolicy, excerpt, path_of
from app.connectors.shopify import queries
from app.connectors.shopify.client import AdminClient

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# A line longer than this is not an order Shopify wrote: refuse it rather than grow.
MAX_LINE = 16 * 1024 * 1024
PARENT = "__parentId"
LINE_ITEM = "gid://shopify/LineItem/"
RUNNING = ("CREATED", "RUNNING", "CANCELING")


class ResultUnavailable(ConnectorError):
    """The bulk operation's result file is gone (its URL expired or was refused)."""


@dataclass(frozen=True)
class BulkOperation:
    """A bulk operation as Shopify reports it."""

    id: str
    status: str
    created_at: str
    url: str | None = None
    error_code: str | None = None
    object_count: int = 0
    query: str = ""

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> BulkOperation:
        return cls(
            id=str(node["id"]),
            status=str(node.get("status") or ""),
            created_at=str(node.get("createdAt") or ""),
            url=node.get("url"),
            error_code=node.get("errorCode"),
            object_count=int(node.get("objectCount") or 0),
            query=str(node.get("query") or ""),
        )


def _same_query(left: str, right: str) -> bool:
    return " ".join(left.split()) == " ".join(right.split())


def start(client: AdminClient, query: str) -> BulkOperation:
    """Start a bulk query; adopt one of ours that is already running the same query.

    Raises:
        RetryableError: another bulk query of this app is running on the shop
            (up to API version 2025-10 an app runs one at a time); the next sync
            tries again.
        ConnectorError: Shopify refused the query.
    """
    data = client.query(queries.RUN_BULK, {"query": query})
    payload = data.get("bulkOperationRunQuery") or {}
    errors = payload.get("userErrors") or []
    if not errors and payload.get("bulkOperation"):
        operation = BulkOperation.from_node(payload["bulkOperation"])
        log.info("Shopify %s: bulk operation %s started", client.shop, operation.id)
        return operation
    codes = {str(error.get("code") or "") for error in errors}
    said = "; ".join(str(error.get("message", "")).rstrip(".") for error in errors)
    said = said or "no reason given"
    if codes & {"OPERATION_IN_PROGRESS", "LIMIT_REACHED"}:
        current = current_operation(client)
        if current is not None and current.status in RUNNING:
            if _same_query(current.query, query):
                log.info(
                    "Shopify %s: adopting bulk operation %s already running the backfill",
                    client.shop,
                    current.id,
                )
                return current
            raise RetryableError(
                f"Shopify ({client.shop}) is already running another bulk query of this app "
                f"({current.id}, started {current.created_at}); the backfill starts once it is "
                "done. Sync again later."
            )
    raise ConnectorError(f"Shopify ({client.shop}) refused the bulk query: {said}.")


def current_operation(client: AdminClient) -> BulkOperation | None:
    node = client.query(queries.CURRENT_BULK).get("currentBulkOperation")
    return BulkOperation.from_node(node) if node else None


def status(client: AdminClient, operation_id: str) -> BulkOperation | None:
    """The operation's current state; None when Shopify no longer knows it."""
    node = client.query(queries.BULK_STATUS, {"id": operation_id}).get("node")
    return BulkOperation.from_node(node) if node else None


def wait(
    client: AdminClient,
    operation: BulkOperation,
    *,
    interval: tuple[float, float],
    sleep: Callable[[float], None],
) -> BulkOperation:
    """Poll until the operation ends; returns it COMPLETED.

    The wait between polls starts at ``interval[0]`` seconds and grows to
    ``interval[1]``: short exports finish quickly, long ones are not polled
    more than needed.

    Raises:
        AuthError: it failed with ACCESS_DENIED.
        RetryableError: it failed on Shopify's side (timeout, internal error).
        ConnectorError: it was cancelled on the shop, or is unknown.
    """
    delay, longest = interval
    while operation.status in RUNNING:
        sleep(delay)
        delay = min(longest, delay * 1.5)
        found = status(client, operation.id)
        if found is None:
            raise ConnectorError(f"Shopify ({client.shop}) no longer knows {operation.id}.")
        operation = found
        log.debug(
            "Shopify %s: bulk operation %s %s, %s objects",
            client.shop,
            operation.id,
            operation.status,
            operation.object_count,
        )
    if operation.status == "COMPLETED":
        return operation
    code = operation.error_code or "no error code"
    what = f"Shopify ({client.shop}) bulk operation {operation.id} ended {operation.status}"
    if operation.status == "FAILED" and code == "ACCESS_DENIED":
        raise AuthError(f"{what} ({code}): the token may not read orders (read_orders).")
    if operation.status == "FAILED":
        raise RetryableError(f"{what} ({code}); the next sync starts a new one.")
    if operation.status == "EXPIRED":
        raise ResultUnavailable(f"{what}: its result file has expired.")
    raise ConnectorError(f"{what}; someone cancelled it on the shop. Sync again to restart.")


def created_at(operation: BulkOperation) -> str:
    """The operation's start in UTC (``...Z``); now when Shopify did not say."""
    if operation.created_at:
        return operation.created_at
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- the result file ------------------------------------------------------------


class ResultReader:
    """Reads a result file's lines from a byte offset, resuming after a broken transfer.

    The file's URL is a signed link on another host than the shop: it is read
    with a session of its own, so the shop's access token is never sent there.
    """

    def __init__(
        self,
        url: str,
        *,
        cancel: threading.Event,
        retry: RetryPolicy,
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self.url = url
        self.cancel = cancel
        self.retry = retry
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.host = urlsplit(url).hostname or "the result host"

    def close(self) -> None:
        self.session.close()

    def lines(self, offset: int = 0) -> Iterator[tuple[bytes, int]]:
        """Each line from ``offset`` with the offset just after it (after its newline)."""
        failures = 0
        position = offset
        while True:
            try:
                for line, end in self._read_from(position):
                    position = end
                    failures = 0
                    yield line, end
                return
            except RetryableError as exc:
                failures += 1
                if failures >= self.retry.attempts:
                    raise
                pause = min(self.retry.backoff_max, self.retry.backoff * 2 ** (failures - 1))
                log.info("%s Resuming at byte %d in %.1f s.", exc, position, pause)
                if self.cancel.wait(pause):
                    raise Cancelled("Cancelled by the operator.") from None

    def _read_from(self, offset: int) -> Iterator[tuple[bytes, int]]:
        response = self._open(offset)
        with response:
            if response.status_code == 416:
                return  # the offset is the file's end
            skip = offset if response.status_code == 200 else 0
            position = offset
            pending = b""
            try:
                for chunk in response.iter_content(CHUNK):
                    if self.cancel.is_set():
                        raise Cancelled("Cancelled by the operator.")
                    dropped = min(skip, len(chunk))
                    skip -= dropped
                    pending += chunk[dropped:]
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        position += len(line) + 1
                        yield line, position
                    if len(pending) > MAX_LINE:
                        raise SourceDataError(
                            f"The bulk result from {self.host} has a line over {MAX_LINE} bytes."
                        )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise RetryableError(
                    f"Reading the bulk result from {self.host} broke off ({type(exc).__name__})."
                ) from None
            except requests.exceptions.ChunkedEncodingError:
                raise RetryableError(
                    f"Reading the bulk result from {self.host} broke off (cut short)."
                ) from None
            if pending:
                yield pending, position + len(pending)

    def _open(self, offset: int) -> requests.Response:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        where = f"GET {path_of(self.url)} on {self.host}"
        try:
            response = self.session.get(
                self.url, headers=headers, stream=True, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetryableError(
                f"The bulk result could not be fetched ({where}: {type(exc).__name__})."
            ) from None
        status_code = response.status_code
        if status_code in (200, 206, 416):
            return response
        body = excerpt(response.text or "")
        response.close()
        if status_code in (400, 401, 403, 404, 410):
            raise ResultUnavailable(
                f"The bulk result is no longer available ({where}: HTTP {status_code}). {body}"
            )
        raise RetryableError(f"The bulk result could not be fetched ({where}: HTTP {status_code}).")


@dataclass
class AssembledOrder:
    """An order read back from a result file, and the byte offset just after it."""

    order: dict[str, Any]
    end: int


def orders_from_lines(lines: Iterator[tuple[bytes, int]], start: int) -> Iterator[AssembledOrder]:
    """Orders with their line items, from the lines of a grouped result file.

    Children follow their parent; an order is complete when the next one
    starts, and its ``end`` is the offset where that next order begins, so that
    a pull resumed there reads it whole again.

    Raises:
        SourceDataError: a line is not JSON, or a child does not follow its order.
    """
    current: dict[str, Any] | None = None
    end = start
    for raw, after in lines:
        text = raw.strip()
        if not text:
            end = after
            continue
        try:
            item = json.loads(text)
        except ValueError:
            raise SourceDataError(
                f"The bulk result has a line that is not JSON at byte {end}: "
                f"{excerpt(text.decode('utf-8', 'replace'))}"
            ) from None
        if not isinstance(item, dict):
            raise SourceDataError(
                f"The bulk result has a line that is not an object at byte {end}."
            )
        parent = item.pop(PARENT, None)
        if parent is None:
            if current is not None:
                yield AssembledOrder(current, end)
            current = item
            current["lineItems"] = {"nodes": []}
        elif current is not None and parent == current.get("id"):
            if str(item.get("id", "")).startswith(LINE_ITEM):
                current["lineItems"]["nodes"].append(item)
        else:
            raise SourceDataError(
                f"The bulk result lists a child of {parent} away from its order (byte {end}); "
                "the file is not grouped by order."
            )
        end = after
    if current is not None:
        yield AssembledOrder(current, end)
