"""Pull → map → upsert, one page per transaction, resumable after any crash.

Each page's rows, the cursor after the page and the sync run's counters are
committed together. A process killed at any point therefore leaves the store
at a page boundary, with the cursor that resumes right after it: nothing is
lost, and since lines are keyed by (connector, order, line), a page read twice
is counted and stored once.

The pages come with their rows ready for the store (:mod:`app.sync.pages`): a
big sync of a preset whose reads have no side effects reads and maps them in a
worker process, so that this process only writes.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from app.connectors.base import ConnectorPreset, SourceConfig
from app.connectors.errors import AuthError, Cancelled, ConnectorError
from app.connectors.registry import get_preset
from app.mapping import MappingError, validate_mapping
from app.oauth.store import TokenStore
from app.services import secrets
from app.services.errors import NotFound, ServiceError
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, SyncRun, SyncStatus
from app.store.types import utcnow
from app.sync.deletions import cancel_orders
from app.sync.leader import LeaderLock, lock_for
from app.sync.pages import prepared_pages, worker_starter
from app.sync.rows import PreparedPage, RowFormat, map_records
from app.sync.upsert import row_format, write_rows, writing_connection
from app.vault import Vault

log = logging.getLogger(__name__)

# Rejected rows kept as examples on the sync run; the count covers all of them.
MAX_REJECTION_SAMPLES = 20


class SyncInProgress(ServiceError):
    """Another sync of the same connector is running."""


@dataclass(frozen=True)
class SyncProgress:
    """Where a sync stands, reported after every page."""

    pages: int
    rows: int
    inserted: int
    updated: int
    rejected: int
    elapsed: float
    total: int | None = None

    @property
    def rate(self) -> float:
        """Rows per second so far."""
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class SyncResult:
    sync_run_id: int
    status: SyncStatus
    pages: int
    inserted: int
    updated: int
    rejected: int
    error: str | None = None


def connector_lock(database: Database, connector_id: int) -> LeaderLock:
    """The lock that keeps a connector to one sync at a time, across processes."""
    return lock_for(database, f"sync-connector-{connector_id}")


def source_config(
    database: Database, vault: Vault, connector: Connector, cancel: threading.Event | None = None
) -> SourceConfig:
    """The connector's settings and decrypted secrets, with write-back of what it learns."""
    connector_id = connector.id
    # Its own transaction: a rotated refresh token must survive a failed sync. The
    # token store also serialises refreshes of one connector across processes.
    save_secrets = TokenStore(database, vault, connector_id, fields=None)

    def save_settings(updates: dict[str, Any]) -> None:
        with database.session() as session:
            stored = session.get(Connector, connector_id)
            if stored is not None:
                stored.config = {**(stored.config or {}), **updates}

    return SourceConfig(
        values={**(connector.config or {}), **secrets.read_secrets(vault, connector)},
        connector_id=connector_id,
        save_secrets=save_secrets,
        save_settings=save_settings,
        cancel=cancel or threading.Event(),
    )


class _Run:
    """The bookkeeping of one sync run."""

    def __init__(self, database: Database, connector: Connector, trigger: str) -> None:
        self.database = database
        self.connector_id = connector.id
        self.workspace_id = connector.workspace_id
        self.started = time.monotonic()
        self.pages = self.inserted = self.updated = self.rejected = 0
        self.samples: list[dict[str, Any]] = []
        with database.session() as session:
            # Runs left "running" by a process that died: ours holds the lock now.
            session.execute(
                update(SyncRun)
                .where(SyncRun.connector_id == connector.id, SyncRun.status == SyncStatus.RUNNING)
                .values(
                    status=SyncStatus.FAILED,
                    finished_at=utcnow(),
                    error="Interrupted: the process stopped before the sync finished.",
                )
            )
            run = SyncRun(connector_id=connector.id, trigger=trigger)
            session.add(run)
            stored = session.get(Connector, connector.id)
            assert stored is not None
            stored.status = ConnectorStatus.SYNCING
            session.flush()
            self.id = run.id

    def progress(self, total: int | None) -> SyncProgress:
        return SyncProgress(
            pages=self.pages,
            rows=self.inserted + self.updated,
            inserted=self.inserted,
            updated=self.updated,
            rejected=self.rejected,
            elapsed=time.monotonic() - self.started,
            total=total,
        )

    def finish(
        self, status: SyncStatus, connector_status: ConnectorStatus, message: str | None
    ) -> SyncResult:
        now = utcnow()
        with self.database.session() as session:
            run = session.get(SyncRun, self.id)
            connector = session.get(Connector, self.connector_id)
            assert run is not None
            run.status = status
            run.finished_at = now
            run.error = message if status is not SyncStatus.COMPLETE else None
            if connector is not None:
                connector.status = connector_status
                connector.status_message = message
                if status is SyncStatus.COMPLETE:
                    connector.last_synced_at = now
        return SyncResult(
            sync_run_id=self.id,
            status=status,
            pages=self.pages,
            inserted=self.inserted,
            updated=self.updated,
            rejected=self.rejected,
            error=message if status is not SyncStatus.COMPLETE else None,
        )


def sync_connector(
    database: Database,
    vault: Vault,
    connector_id: int,
    *,
    trigger: str = "manual",
    progress: Callable[[SyncProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> SyncResult:
    """Pull the connector's new and changed records into the store.

    Raises:
        NotFound: no such connector.
        SyncInProgress: a sync of this connector is already running.
        ServiceError: the connector is disabled or its mapping is invalid.

    A failure of the source does not raise: it is recorded on the sync run and
    the connector's status (``needs_reconnect`` for refused credentials,
    ``error`` otherwise) and returned in the result.
    """
    lock = connector_lock(database, connector_id)
    if not lock.try_acquire():
        raise SyncInProgress("A sync of this connector is already running.")
    try:
        return _sync_locked(
            database, vault, connector_id, trigger=trigger, progress=progress, cancel=cancel
        )
    finally:
        lock.release()


def _sync_locked(
    database: Database,
    vault: Vault,
    connector_id: int,
    *,
    trigger: str,
    progress: Callable[[SyncProgress], None] | None,
    cancel: threading.Event | None,
) -> SyncResult:
    with database.session() as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise NotFound(f"No connector with id {connector_id}.")
        if connector.status is ConnectorStatus.DISABLED:
            raise ServiceError(f"Connector {connector.name!r} is disabled; enable it to sync.")
        preset_cls = get_preset(connector.preset)
        try:
            mapping = validate_mapping(connector.field_mapping or preset_cls.default_mapping())
        except MappingError as exc:
            raise ServiceError(
                f"The field mapping of {connector.name!r} is invalid: {exc}"
            ) from None
        cursor = connector.cursor
        session.expunge(connector)

    run = _Run(database, connector, trigger)
    previous_status = (
        connector.status
        if connector.status not in (ConnectorStatus.SYNCING,)
        else ConnectorStatus.HEALTHY
    )
    log.info("sync %s of connector %s (%s) started", run.id, connector_id, connector.preset)
    try:
        config = source_config(database, vault, connector, cancel)
        preset: ConnectorPreset = preset_cls()
        # One connection for the pages' transactions; the run's bookkeeping uses its own.
        with writing_connection(database.engine) as connection:
            form = row_format(connection.dialect)
            pages = prepared_pages(
                preset,
                config,
                cursor,
                functools.partial(map_records, mapping, form, run.connector_id, run.workspace_id),
                worker_starter(preset, run.connector_id, run.workspace_id, mapping, form),
            )
            try:
                for page in pages:
                    config.check_cancelled()
                    _store_page(connection, run, form, page)
                    if progress is not None:
                        progress(run.progress(page.total))
            finally:
                pages.close()
    except Cancelled:
        log.info("sync %s cancelled", run.id)
        status = (
            previous_status
            if previous_status is not ConnectorStatus.NEW
            else ConnectorStatus.HEALTHY
        )
        return run.finish(SyncStatus.CANCELLED, status, "Cancelled by the operator.")
    except AuthError as exc:
        log.warning("sync %s: credentials refused: %s", run.id, exc)
        return run.finish(SyncStatus.FAILED, ConnectorStatus.NEEDS_RECONNECT, str(exc))
    except ConnectorError as exc:
        log.warning("sync %s failed: %s", run.id, exc)
        if exc.detail:
            log.debug("sync %s failure detail: %s", run.id, exc.detail)
        return run.finish(SyncStatus.FAILED, ConnectorStatus.ERROR, str(exc))
    except Exception:
        log.exception("sync %s failed unexpectedly", run.id)
        return run.finish(
            SyncStatus.FAILED,
            ConnectorStatus.ERROR,
            "Unexpected error during sync; the log file has the details.",
        )
    message = None
    if run.rejected:
        first = run.samples[0] if run.samples else {}
        message = f"{run.rejected} rows skipped by the field mapping" + (
            f" (first: {first.get('message')})" if first else ""
        )
    log.info(
        "sync %s complete: %s pages, %s inserted, %s updated, %s rejected",
        run.id,
        run.pages,
        run.inserted,
        run.updated,
        run.rejected,
    )
    return run.finish(SyncStatus.COMPLETE, ConnectorStatus.HEALTHY, message)


# What a page's transaction writes besides its rows, built once.
_COUNT_PAGE = (
    update(SyncRun)
    .where(SyncRun.id == bindparam("run"))
    .values(
        pages=bindparam("set_pages"),
        rows_inserted=bindparam("set_inserted"),
        rows_updated=bindparam("set_updated"),
        rows_rejected=bindparam("set_rejected"),
        rejections=bindparam("set_rejections"),
    )
)
_MOVE_CURSOR = (
    update(Connector)
    .where(Connector.id == bindparam("connector"))
    .values(cursor=bindparam("set_cursor"))
)


def _store_page(connection: Connection, run: _Run, form: RowFormat, page: PreparedPage) -> None:
    """Write a page's rows, the run's counters and the cursor after it in one transaction."""
    rejected = page.rejected
    with connection.begin():
        inserted, updated = write_rows(connection, form, run.connector_id, page.rows)
        updated += cancel_orders(connection, run.connector_id, page.deleted_orders)
        room = MAX_REJECTION_SAMPLES - len(run.samples)
        samples = [*run.samples, *rejected[: max(room, 0)]]
        connection.execute(
            _COUNT_PAGE,
            {
                "run": run.id,
                "set_pages": run.pages + 1,
                "set_inserted": run.inserted + inserted,
                "set_updated": run.updated + updated,
                "set_rejected": run.rejected + len(rejected),
                "set_rejections": samples,
            },
        )
        connection.execute(_MOVE_CURSOR, {"connector": run.connector_id, "set_cursor": page.cursor})
    # Counted only once the transaction has committed.
    run.pages += 1
    run.inserted += inserted
    run.updated += updated
    run.rejected += len(rejected)
    run.samples = samples


def latest_runs(database: Database, connector_id: int, limit: int = 20) -> list[SyncRun]:
    with database.session() as session:
        return list(
            session.scalars(
                select(SyncRun)
                .where(SyncRun.connector_id == connector_id)
                .order_by(SyncRun.id.desc())
                .limit(limit)
            )
        )
