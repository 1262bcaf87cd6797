"""What the connectors page shows: every connector with its sync state, in a few queries.

The page polls this while it is visible, so syncs started anywhere (the
scheduler, another instance on the same store, the CLI) show live: the sync
engine commits each page's counts with the page itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncRun, SyncStatus
from app.store.types import utcnow
from app.sync.schedules import ScheduleError, parse_schedule

HISTORY = 20


@dataclass(frozen=True)
class RunningSync:
    """A sync in progress: how far it got and how fast."""

    run_id: int
    started_at: dt.datetime
    pages: int
    rows: int
    trigger: str

    def rows_per_second(self, now: dt.datetime) -> float:
        seconds = (now - self.started_at).total_seconds()
        return self.rows / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class BoardRow:
    """One connector as the connectors page lists it."""

    id: int
    workspace_id: int
    name: str
    preset: str
    status: ConnectorStatus
    status_message: str | None
    last_synced_at: dt.datetime | None
    next_sync_at: dt.datetime | None
    schedule: str
    rows: int
    running: RunningSync | None

    @property
    def shown_status(self) -> str:
        """The badge: ``syncing`` while a sync runs, else the stored status."""
        return "syncing" if self.running is not None else self.status.value


def board(database: Database, workspace_id: int | None = None) -> list[BoardRow]:
    """Every connector (of one workspace, or all), ordered by name."""
    now = utcnow()
    with database.session() as session:
        query = select(Connector).order_by(func.lower(Connector.name), Connector.id)
        if workspace_id is not None:
            query = query.where(Connector.workspace_id == workspace_id)
        connectors = list(session.scalars(query))
        ids = [c.id for c in connectors]
        if not ids:
            return []
        counts = dict(
            session.execute(
                select(DemandLine.connector_id, func.count())
                .where(DemandLine.connector_id.in_(ids))
                .group_by(DemandLine.connector_id)
            ).all()
        )
        running = {
            run.connector_id: RunningSync(
                run_id=run.id,
                started_at=run.started_at,
                pages=run.pages,
                rows=run.rows_inserted + run.rows_updated,
                trigger=run.trigger,
            )
            for run in session.scalars(
                select(SyncRun)
                .where(SyncRun.connector_id.in_(ids), SyncRun.status == SyncStatus.RUNNING)
                .order_by(SyncRun.id)
            )
        }
        return [_row(c, counts.get(c.id, 0), running.get(c.id), now) for c in connectors]


def _row(
    connector: Connector, rows: int, running: RunningSync | None, now: dt.datetime
) -> BoardRow:
    schedule_text, next_at = _schedule(connector, now)
    return BoardRow(
        id=connector.id,
        workspace_id=connector.workspace_id,
        name=connector.name,
        preset=connector.preset,
        status=connector.status,
        status_message=connector.status_message,
        last_synced_at=connector.last_synced_at,
        next_sync_at=next_at,
        schedule=schedule_text,
        rows=rows,
        running=running,
    )


def _schedule(connector: Connector, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    try:
        # Stored specs were checked on save; only tests store second intervals.
        schedule = parse_schedule(connector.schedule, min_interval=dt.timedelta(seconds=1))
    except ScheduleError:
        return "invalid schedule", None
    if connector.status is ConnectorStatus.DISABLED:
        return f"{schedule.describe()} (disabled)", None
    return schedule.describe(), schedule.next_due(connector.last_synced_at, now)


def sync_history(
    database: Database, connector_id: int, limit: int = HISTORY
) -> list[dict[str, Any]]:
    """The connector's latest syncs, newest first, as plain values."""
    with database.session() as session:
        runs = session.scalars(
            select(SyncRun)
            .where(SyncRun.connector_id == connector_id)
            .order_by(SyncRun.id.desc())
            .limit(limit)
        )
        return [
            {
                "id": run.id,
                "status": run.status.value,
                "trigger": run.trigger,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "pages": run.pages,
                "rows_inserted": run.rows_inserted,
                "rows_updated": run.rows_updated,
                "rows_rejected": run.rows_rejected,
                "error": run.error,
            }
            for run in runs
        ]
