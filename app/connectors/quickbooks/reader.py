"""One pull: deletions from the change feed, then invoices, then credit memos.

The cursor stored after a page is a JSON object:

- ``watermarks``: per entity, the latest ``MetaData.LastUpdatedTime`` read
  (as QuickBooks wrote it), carried across pulls;
- ``changes_since``: the server time at which the last finished pull began;
  the next pull asks the change feed (CDC) for what was deleted since then;
- mid-pull only: ``step`` (``Invoice`` or ``CreditMemo``), ``started`` (this
  pull's server start time), and the position in the entity's pass: ``after``,
  the last LastUpdatedTime read, and ``seen``, the Ids read at exactly that time.

An entity's pass reads ``WHERE Metadata.LastUpdatedTime >= <from> ORDERBY
Metadata.LastUpdatedTime`` page by page. Each page starts again at the last
time read and drops the documents of ``seen``, rather than going on at a
running ``STARTPOSITION``: a document edited during the pass moves to the end
of the order, which shifts every later position down by one, so position
paging would skip a document. Counting the documents at the last time instead
of naming them would skip one too when one of them is edited. Only a group of
documents sharing one time that outgrows half a page starts further in (see
:meth:`Reader._start`); QuickBooks' rate limits make such groups unlikely.
``<from>`` is the entity's watermark less :data:`OVERLAP` (late writes, clock
skew), or nothing on a first pull.

Deletions: the change feed lists a deleted Invoice or CreditMemo with
``status: "Deleted"``; each becomes a :func:`~app.sync.deletions.deleted_order`
marker, and the sync cancels the lines stored for it. The feed covers 30 days:
when the last finished pull is older than that, the pull reads every document
again and says so in the log; deletions made in that gap cannot be seen, and
their lines stay until the operator removes the connector's data. The feed
answers at most 1,000 objects per entity; more changes than that since the
last pull are logged as a warning, since deletions among the rest are missed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.connectors.base import Cursor, Page, Record
from app.connectors.errors import SourceDataError
from app.connectors.quickbooks.api import QuickBooksClient, company_path, select
from app.connectors.quickbooks.documents import (
    ENTITIES,
    document_records,
    order_id,
    updated_at,
)
from app.sync.deletions import deleted_order

log = logging.getLogger(__name__)

# Each incremental pass re-reads this much before the watermark.
OVERLAP = dt.timedelta(minutes=5)
# How far back the change feed reaches, less a margin for clocks and the overlap.
CHANGE_WINDOW = dt.timedelta(days=30) - dt.timedelta(hours=1)
# The change feed's most objects per entity in one answer.
CHANGE_LIMIT = 1_000
# QuickBooks' largest MAXRESULTS.
MAX_PAGE = 1_000


def parse_time(value: str) -> dt.datetime:
    """A QuickBooks timestamp (ISO 8601 with an offset; none is read as UTC)."""
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def earlier(value: str, by: dt.timedelta) -> str:
    """``value`` moved back by ``by``, in the source's own offset, to the second."""
    return (parse_time(value) - by).isoformat(timespec="seconds")


@dataclass
class _State:
    watermarks: dict[str, str] = field(default_factory=dict)
    changes_since: str | None = None
    step: str | None = None
    started: str | None = None
    after: str | None = None
    seen: list[str] = field(default_factory=list)

    @classmethod
    def from_cursor(cls, cursor: Cursor | None) -> _State:
        cursor = cursor or {}
        return cls(
            watermarks=dict(cursor.get("watermarks") or {}),
            changes_since=cursor.get("changes_since"),
            # A step this version does not know starts the pull over.
            step=cursor.get("step") if cursor.get("step") in ENTITIES else None,
            started=cursor.get("started"),
            after=cursor.get("after"),
            seen=[str(item) for item in cursor.get("seen") or []],
        )

    def cursor(self) -> Cursor:
        out: Cursor = {"watermarks": dict(self.watermarks), "changes_since": self.changes_since}
        if self.step is not None:
            out |= {
                "step": self.step,
                "started": self.started,
                "after": self.after,
                "seen": list(self.seen),
            }
        return out


class Reader:
    """Pages of one company's sales lines, resumable from any page's cursor."""

    def __init__(
        self,
        client: QuickBooksClient,
        realm_id: str,
        *,
        page_size: int,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.client = client
        self.realm_id = realm_id
        self.page_size = max(1, min(page_size, MAX_PAGE))
        self.now = now or (lambda: dt.datetime.now(dt.UTC))

    def pages(
        self, cursor: Cursor | None, check_cancelled: Callable[[], None] | None = None
    ) -> Iterator[Page]:
        state = _State.from_cursor(cursor)
        if state.step is None:
            yield from self._begin(state)
        for entity in ENTITIES[ENTITIES.index(state.step) :] if state.step else ():
            state.step = entity
            yield from self._pass(state, check_cancelled)
            state.after, state.seen = None, []
        finished = _State(
            watermarks=state.watermarks,
            changes_since=state.started or self.now().isoformat(timespec="seconds"),
        )
        yield Page([], finished.cursor())

    # -- the change feed ------------------------------------------------------

    def _begin(self, state: _State) -> Iterator[Page]:
        """Start a pull: deletions since the last one, or a full read when it is too old."""
        state.step = ENTITIES[0]
        since = state.changes_since
        if since is not None and self.now() - parse_time(since) > CHANGE_WINDOW:
            log.warning(
                "QuickBooks company %s: the last finished sync began at %s, beyond the 30 days "
                "QuickBooks keeps changes for; reading every invoice and credit memo again. "
                "Documents deleted in between cannot be seen and keep their lines.",
                self.realm_id,
                since,
            )
            state.watermarks, state.changes_since = {}, None
            return
        if since is None:
            return
        body = self.client.get_body(
            company_path(self.realm_id, "cdc"),
            params={"entities": ",".join(ENTITIES), "changedSince": earlier(since, OVERLAP)},
        )
        state.started = _server_time(body)
        markers = self._deleted(body)
        if markers:
            log.info("QuickBooks company %s: %d deleted document(s)", self.realm_id, len(markers))
            yield Page(markers, state.cursor())

    def _deleted(self, body: dict[str, Any]) -> list[Record]:
        markers: list[Record] = []
        answers = body.get("CDCResponse")
        if not isinstance(answers, list):
            raise SourceDataError("QuickBooks answered the change feed without a CDCResponse.")
        for answer in answers:
            groups = answer.get("QueryResponse") if isinstance(answer, dict) else None
            for group in groups if isinstance(groups, list) else []:
                for entity in ENTITIES:
                    objects = group.get(entity) if isinstance(group, dict) else None
                    if not isinstance(objects, list):
                        continue
                    if len(objects) >= CHANGE_LIMIT:
                        log.warning(
                            "QuickBooks company %s: the change feed returned its limit of %d "
                            "%s changes; deletions beyond them are not seen. Sync more often.",
                            self.realm_id,
                            CHANGE_LIMIT,
                            entity,
                        )
                    markers.extend(
                        deleted_order(order_id(entity, item.get("Id")))
                        for item in objects
                        if isinstance(item, dict) and item.get("status") == "Deleted"
                    )
        return markers

    # -- one entity ---------------------------------------------------------

    def _pass(self, state: _State, check_cancelled: Callable[[], None] | None) -> Iterator[Page]:
        entity = state.step
        assert entity is not None
        mark = state.watermarks.get(entity)
        lower = earlier(mark, OVERLAP) if mark else None
        count = 0
        while True:
            if check_cancelled is not None:
                check_cancelled()
            query = select(
                entity,
                updated_from=state.after or lower,
                start=self._start(state),
                size=self.page_size,
            )
            body = self.client.get_body(
                company_path(self.realm_id, "query"), params={"query": query}
            )
            state.started = state.started or _server_time(body)
            documents = documents_of(body, entity)
            records: list[Record] = []
            before = count
            for document in documents:
                moment = updated_at(document)
                if moment is None:
                    raise SourceDataError(
                        f"QuickBooks sent {entity} {document.get('Id')} without "
                        "MetaData.LastUpdatedTime; it cannot be synced incrementally."
                    )
                document_id = str(document.get("Id"))
                if moment == state.after:
                    if document_id in state.seen:
                        continue
                    state.seen.append(document_id)
                else:
                    state.after, state.seen = moment, [document_id]
                records.extend(document_records(entity, document))
                count += 1
            done = len(documents) < self.page_size
            if not done and count == before:
                # Only a source that ignores STARTPOSITION or reorders ties gets here.
                raise SourceDataError(
                    f"QuickBooks answered the {entity} query with a page of documents "
                    "already read; the sync stopped rather than loop."
                )
            if done and state.after is not None:
                state.watermarks[entity] = _later(mark, state.after)
            # Resuming from the pass's last page costs one query that finds nothing new.
            yield Page(records, state.cursor())
            if done:
                log.info(
                    "QuickBooks company %s: read %d %s document(s)", self.realm_id, count, entity
                )
                return

    def _start(self, state: _State) -> int:
        """The STARTPOSITION of the next page: 1, unless the documents at ``after`` are many.

        Starting at 1 finds whatever moved; beyond half a page of documents at
        one time, the page starts that many less half a page in, so that each
        page still brings new ones.
        """
        if state.after is None:
            return 1
        return 1 + max(0, len(state.seen) - self.page_size // 2)


def _later(mark: str | None, moment: str) -> str:
    if mark is None:
        return moment
    return moment if parse_time(moment) >= parse_time(mark) else mark


def _server_time(body: dict[str, Any]) -> str | None:
    value = body.get("time")
    return str(value) if value else None


def documents_of(body: dict[str, Any], entity: str) -> list[dict[str, Any]]:
    answer = body.get("QueryResponse")
    if not isinstance(answer, dict):
        raise SourceDataError(f"QuickBooks answered the {entity} query without a QueryResponse.")
    documents = answer.get(entity, [])
    if not isinstance(documents, list):
        raise SourceDataError(f"QuickBooks answered the {entity} query with a non-list {entity}.")
    return [item for item in documents if isinstance(item, dict)]
