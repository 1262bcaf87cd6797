"""Where a sync's pages come from: read and mapped here, or by a worker process.

Every page reaches the engine with its rows ready for the store. A preset whose
reads have no side effects (``read_ahead``) is read here until the sync has
stored :data:`WORKER_AFTER_ROWS` rows; then a worker process starts
(:mod:`app.sync.worker`) and, once it is up, takes over reading and mapping
while the engine only writes. A smaller sync never starts one.

The worker resumes from the cursor of the last page stored here, as a sync
resumed after a crash would. That cursor must not be the pull's last, or the
worker would start a new pull: the next page is read here first, and thrown
away unless there is none, which ends the sync. So one page is read twice,
which a source whose reads have no side effects does not mind.

If the worker cannot start or fails before it takes over, the sync goes on
here, reading ahead on a thread as it would have without one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

from app.connectors.base import ConnectorPreset, Cursor, Record, SourceConfig
from app.mapping import Mapping
from app.sync.deletions import split_deleted
from app.sync.read_ahead import read_ahead
from app.sync.rows import PreparedPage, RowFormat
from app.sync.worker import Job, PullWorker, log_levels

log = logging.getLogger(__name__)

# Rows a sync stores before it starts a worker process.
WORKER_AFTER_ROWS = 2_000

MapRecords = Callable[[list[Record]], tuple[list[tuple[Any, ...]], list[dict[str, Any]]]]


def worker_starter(
    preset: ConnectorPreset,
    connector_id: int,
    workspace_id: int,
    mapping: Mapping,
    form: RowFormat,
) -> Callable[[], PullWorker] | None:
    """What starts a sync's worker process; None where it cannot be used.

    Only a preset whose reads have no side effects may be read by a worker,
    which reads ahead of what is stored; and only a row format made of named
    steps can be shipped to it. A preset that signs in with OAuth is read here:
    a refresh must take the store's cross-process lock and save the rotated
    token before the new one is used, and the child has no store. A frozen
    build (PyInstaller) starts none either: its entry point supports child
    processes (forecast runs use one), but the bundle's smoke test does not
    exercise a sync worker yet.
    """
    if (
        not preset.read_ahead
        or not form.plan.portable
        or getattr(preset, "oauth_provider", None) is not None
        or getattr(sys, "frozen", False)
    ):
        return None

    def start() -> PullWorker:
        job = Job(
            preset_module=type(preset).__module__,
            preset_class=type(preset).__qualname__,
            connector_id=connector_id,
            workspace_id=workspace_id,
            mapping=mapping.as_dict(),
            plan=form.plan,
            log_levels=log_levels(),
        )
        return PullWorker(job, form.probe())

    return start


def prepared_pages(
    preset: ConnectorPreset,
    config: SourceConfig,
    cursor: Cursor | None,
    map_here: MapRecords,
    start_worker: Callable[[], PullWorker] | None,
) -> Iterator[PreparedPage]:
    """The pull's pages with their rows, in order; the caller stores each before the next.

    Closing the iterator ends the pull, and the worker if there is one.
    """
    pulled = preset.pull(config, cursor)
    pages: Iterator[Any] = pulled
    if start_worker is None and preset.read_ahead:
        pages = read_ahead(pulled)
    worker: PullWorker | None = None
    stored = 0
    try:
        while (page := next(pages, None)) is not None:
            records, deleted = split_deleted(page.records)
            rows, rejected = map_here(records)
            yield PreparedPage(rows, rejected, page.cursor, page.total, deleted)
            stored += len(rows)  # stored by now: the caller asks for a page once done
            if start_worker is None:
                continue
            try:
                if worker is None:
                    if stored >= WORKER_AFTER_ROWS:
                        worker = start_worker()
                    continue
                if page.cursor is None or not worker.ready():
                    continue
            except Exception as exc:  # noqa: BLE001 - any failure to start costs only speed
                log.warning("the sync goes on without a worker process: %s", exc)
                if worker is not None:
                    worker.close(config)
                worker = start_worker = None
                pages = read_ahead(pulled)
                continue
            if next(pulled, None) is None:
                return
            _close(pulled)
            yield from worker.pages(config, page.cursor)
            return
    finally:
        _close(pages)  # a reading-ahead thread closes the pull itself
        if worker is not None:
            worker.close(config)


def _close(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()
