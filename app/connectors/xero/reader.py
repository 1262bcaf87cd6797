"""One pass over an organisation's sales invoices, then its credit notes, page by page.

Xero lists documents in ``UpdatedDateUTC`` order (ties by id) and filters them
with the ``If-Modified-Since`` header. Plain page numbers under one filter
would skip a document: one changed during the pull moves to the end of the
list, and everything after it moves up a place, so the first document of the
next page slips onto a page already read. The reader therefore moves the
filter instead: after a full page it asks again from the last document's time
(one second earlier, at the header's one-second precision), from page 1. Only
when a whole page shares that second does it go on by page number under the
same filter. The documents of the previous page that come again unchanged are
passed over; one that changed in between is read again, as it now is.

The cursor stored after each page (committed with the page's rows) is::

    {"tenant_id": ..., "high_water": {"invoices": iso, "credit_notes": iso},
     "kind": "invoices", "since": "2024-05-01T10:00:00", "page": 1}

``kind``/``since``/``page`` say where the pull goes on and are left out after
the last page. ``high_water`` is the latest ``UpdatedDateUTC`` read of each
kind; the next pull asks from it less :data:`OVERLAP`, for late writes. A
cursor of another organisation (the connector was pointed elsewhere) is not
used: the pull starts from the beginning.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from app.connectors.base import Cursor, Page, Record
from app.connectors.errors import SourceDataError
from app.connectors.xero.api import XeroApi
from app.connectors.xero.dates import XeroDateError, instant
from app.connectors.xero.documents import (
    BY_NAME,
    CANCELLING,
    KINDS,
    DocumentKind,
    Tally,
    lines_of,
    updated_at,
)
from app.sync.deletions import deleted_order

log = logging.getLogger(__name__)

# Documents per page: Xero's default, and the only size CreditNotes serves.
PAGE_SIZE = 100
# How far before the last change seen an incremental pull asks from.
OVERLAP = dt.timedelta(minutes=10)
# ``If-Modified-Since`` as Xero's documentation writes it: UTC, to the second.
SINCE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def since_text(moment: dt.datetime) -> str:
    """``moment`` as an ``If-Modified-Since`` value (UTC, whole seconds, rounded down)."""
    return moment.astimezone(dt.UTC).strftime(SINCE_FORMAT)


def _since_moment(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, SINCE_FORMAT).replace(tzinfo=dt.UTC)


class Reader:
    """Reads the pages of one pull for one organisation, producing resumable cursors."""

    def __init__(self, api: XeroApi, tenant_id: str, *, invoice_page_size: int = PAGE_SIZE):
        self.api = api
        self.tenant_id = tenant_id
        self.invoice_page_size = invoice_page_size
        self.tally = Tally()
        # The previous page's documents: id -> UpdatedDateUTC.
        self._previous: dict[str, Any] = {}

    def pages(self, cursor: Cursor | None, *, markers: bool = True) -> Iterator[Page]:
        """The pull's pages from ``cursor`` (None: everything) to the end.

        With ``markers`` a voided or deleted document also yields a marker
        (:func:`app.sync.deletions.deleted_order`) that cancels its stored lines.
        """
        state = self._state(cursor)
        high_water: dict[str, str | None] = state["high_water"]
        start = BY_NAME[state["kind"]] if state.get("kind") in BY_NAME else KINDS[0]
        since = state["since"] if "kind" in state else self._since(start, high_water)
        page = int(state.get("page", 1))
        for index in range(KINDS.index(start), len(KINDS)):
            kind = KINDS[index]
            if kind is not start:
                since, page = self._since(kind, high_water), 1
            asked: tuple[str | None, list[Any]] | None = None
            while True:
                self.api.config.check_cancelled()
                documents = self._fetch(kind, since, page)
                ids = [document.get(kind.id_field) for document in documents]
                if asked is not None and asked == (since, ids):
                    raise SourceDataError(
                        f"Xero answered page {page} of {kind.path} with the documents of the "
                        "page before; it ignored the page number, and the pull stops rather "
                        "than loop."
                    )
                asked = (since, ids)
                records = self._records(kind, documents, high_water, markers=markers)
                full = len(documents) >= self._page_size(kind)
                out: Cursor = {"tenant_id": self.tenant_id, "high_water": dict(high_water)}
                if full:
                    since, page = self._next_position(documents, since, page)
                    out |= {"kind": kind.name, "since": since, "page": page}
                elif index + 1 < len(KINDS):
                    following = KINDS[index + 1]
                    out |= {
                        "kind": following.name,
                        "since": self._since(following, high_water),
                        "page": 1,
                    }
                log.debug(
                    "Xero %s: %d documents, %d records", kind.path, len(documents), len(records)
                )
                yield Page(records, out)
                if not full:
                    break
        log.info("Xero pull for tenant %s: %s", self.tenant_id, self.tally.summary())

    # -- state -----------------------------------------------------------

    def _state(self, cursor: Cursor | None) -> dict[str, Any]:
        empty: dict[str, Any] = {"high_water": {kind.name: None for kind in KINDS}}
        if not cursor:
            return empty
        if cursor.get("tenant_id") != self.tenant_id:
            log.warning(
                "Xero: the stored position belongs to another organisation; reading "
                "tenant %s from the beginning",
                self.tenant_id,
            )
            return empty
        stored = cursor.get("high_water") if isinstance(cursor.get("high_water"), Mapping) else {}
        state: dict[str, Any] = {"high_water": {kind.name: stored.get(kind.name) for kind in KINDS}}
        if cursor.get("kind") in BY_NAME:
            since, page = cursor.get("since"), cursor.get("page", 1)
            try:
                if since is not None:
                    _since_moment(str(since))
                page = int(page)
            except (TypeError, ValueError):
                log.warning("Xero: the stored position is unreadable; re-reading that list")
                since, page = self._since(BY_NAME[cursor["kind"]], state["high_water"]), 1
            state |= {"kind": cursor["kind"], "since": since, "page": max(1, page)}
        return state

    def _page_size(self, kind: DocumentKind) -> int:
        return self.invoice_page_size if kind.sized_pages else PAGE_SIZE

    @staticmethod
    def _since(kind: DocumentKind, high_water: Mapping[str, str | None]) -> str | None:
        mark = high_water.get(kind.name)
        if not mark:
            return None
        try:
            return since_text(instant(mark) - OVERLAP)
        except XeroDateError:
            log.warning("Xero: the stored %s position is unreadable; reading them all", kind.name)
            return None

    # -- one page ----------------------------------------------------------

    def _fetch(self, kind: DocumentKind, since: str | None, page: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            **kind.params,
            "page": page,
            "order": "UpdatedDateUTC ASC",
            "unitdp": 4,
        }
        if kind.sized_pages:
            params["pageSize"] = self.invoice_page_size
        body = self.api.get(kind.path, params=params, modified_since=since)
        documents = body.get(kind.path)
        if documents is None:
            documents = []
        if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
            raise SourceDataError(f"Xero answered GET /{kind.path} without a list of {kind.path}.")
        return documents

    def _records(
        self,
        kind: DocumentKind,
        documents: list[dict[str, Any]],
        high_water: dict[str, str | None],
        *,
        markers: bool,
    ) -> list[Record]:
        records: list[Record] = []
        latest = instant(high_water[kind.name]) if high_water.get(kind.name) else None
        previous, self._previous = self._previous, {}
        for document in documents:
            document_id = document.get(kind.id_field)
            moment = updated_at(document)
            self._previous[str(document_id)] = moment
            if moment is not None and previous.get(str(document_id)) == moment:
                continue  # read on the page before, unchanged since
            records.extend(lines_of(document, kind, self.tally))
            status = str(document.get("Status") or "").upper()
            if markers and status in CANCELLING and document_id:
                records.append(deleted_order(f"{kind.order_prefix}{document_id}"))
            if moment is not None and (latest is None or moment > latest):
                latest = moment
        if latest is not None:
            high_water[kind.name] = latest.isoformat()
        return records

    @staticmethod
    def _next_position(
        documents: list[dict[str, Any]], since: str | None, page: int
    ) -> tuple[str | None, int]:
        """Where to ask after a full page: from the last document's time, or the next page."""
        times = [moment for document in documents if (moment := updated_at(document))]
        if len(times) != len(documents) or times != sorted(times):
            log.warning("Xero: a page was not in UpdatedDateUTC order; going on by page number")
            return since, page + 1
        last = times[-1]
        candidate = last.replace(microsecond=0) - dt.timedelta(seconds=1)
        if since is None or candidate > _since_moment(since):
            return since_text(candidate), 1
        return since, page + 1
