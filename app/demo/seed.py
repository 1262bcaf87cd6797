"""Seed a store with the demo organisation, its connectors and history."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.demo.generator import DemoData, generate_demand
from app.store.db import Database
from app.store.models import (
    Connector,
    ConnectorStatus,
    DemandLine,
    Frequency,
    Organisation,
    Plan,
    Series,
    SyncRun,
    SyncStatus,
    Workspace,
)
from app.store.types import utcnow

log = logging.getLogger(__name__)

DEMO_ORGANISATION = "Demo Organisation"
DEMO_WORKSPACE = "Main"


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`seed_demo` created, or found when the demo was already there."""

    organisation_id: int
    workspace_id: int
    connectors: tuple[int, ...]
    lines: int
    series: int
    seeded: bool


def _existing(session: Session, organisation: Organisation) -> DemoSummary:
    workspace_id = session.scalar(
        select(Workspace.id)
        .where(Workspace.organisation_id == organisation.id)
        .order_by(Workspace.id)
        .limit(1)
    )
    connectors = tuple(
        session.scalars(
            select(Connector.id)
            .where(Connector.workspace_id == workspace_id)
            .order_by(Connector.id)
        )
    )
    lines = session.scalar(
        select(func.count()).select_from(DemandLine).where(DemandLine.workspace_id == workspace_id)
    )
    series = session.scalar(
        select(func.count()).select_from(Series).where(Series.workspace_id == workspace_id)
    )
    return DemoSummary(
        organisation_id=organisation.id,
        workspace_id=workspace_id or 0,
        connectors=connectors,
        lines=lines or 0,
        series=series or 0,
        seeded=False,
    )


def _find_demo(session: Session) -> Organisation | None:
    return session.scalars(
        select(Organisation)
        .where(Organisation.name == DEMO_ORGANISATION)
        .order_by(Organisation.id)
        .limit(1)
    ).first()


def seed_demo(
    database: Database,
    *,
    seed: int = 7,
    end: dt.date | None = None,
    days: int = 730,
    skus: int = 200,
) -> DemoSummary:
    """Create the demo organisation with its connectors, history and series, once."""
    with database.session() as session:
        found = _find_demo(session)
        if found is not None:
            log.info("demo organisation %s already exists; nothing seeded", found.id)
            return _existing(session, found)
    started = time.perf_counter()
    # Generated outside the write transaction, so SQLite is locked only while inserting.
    data = generate_demand(seed, days=days, end=end, skus=skus)
    now = utcnow()
    with database.session() as session:
        found = _find_demo(session)
        if found is not None:
            log.info("demo organisation %s appeared meanwhile; nothing seeded", found.id)
            return _existing(session, found)
        organisation = Organisation(name=DEMO_ORGANISATION, plan=Plan.GROWTH)
        workspace = Workspace(
            organisation=organisation, name=DEMO_WORKSPACE, frequency=Frequency.WEEKLY
        )
        session.add_all([organisation, workspace])
        session.flush()
        # The demo preset serves the same history, so these connectors sync like
        # real ones; the cursor says the history is already in.
        connectors = {
            channel: Connector(
                workspace_id=workspace.id,
                preset="demo",
                name=name,
                config={
                    "channel": channel,
                    "seed": seed,
                    "end": data.end.isoformat(),
                    "days": days,
                    "skus": skus,
                },
                cursor={"complete": True},
                status=ConnectorStatus.HEALTHY,
                last_synced_at=now,
            )
            for channel, name in (("web", "Demo web shop"), ("store", "Demo store POS"))
        }
        session.add_all(connectors.values())
        session.flush()
        counts = _insert_lines(session, data, workspace.id, connectors, now)
        for channel, connector in connectors.items():
            session.add(
                SyncRun(
                    connector_id=connector.id,
                    status=SyncStatus.COMPLETE,
                    started_at=now,
                    finished_at=now,
                    pages=1,
                    rows_inserted=counts[channel],
                )
            )
        series = [
            {"workspace_id": workspace.id, "sku": sku, "location": location, "product_name": name}
            for sku, location, name in data.series()
        ]
        session.execute(insert(Series.__table__), series)
        summary = DemoSummary(
            organisation_id=organisation.id,
            workspace_id=workspace.id,
            connectors=tuple(connector.id for connector in connectors.values()),
            lines=len(data),
            series=len(series),
            seeded=True,
        )
    log.info(
        "seeded demo organisation %s: %s lines, %s series in %.1f s",
        summary.organisation_id,
        summary.lines,
        summary.series,
        time.perf_counter() - started,
    )
    return summary


_CHUNK = 10_000


def _insert_lines(
    session: Session,
    data: DemoData,
    workspace_id: int,
    connectors: dict[str, Connector],
    synced_at: dt.datetime,
) -> dict[str, int]:
    """Bulk-insert the lines with Core executemany; returns the count per channel."""
    connector_ids = {channel: connector.id for channel, connector in connectors.items()}
    counts = dict.fromkeys(connector_ids, 0)
    statement = insert(DemandLine.__table__)
    for offset in range(0, len(data.lines), _CHUNK):
        rows = []
        for line in data.lines[offset : offset + _CHUNK]:
            counts[line.channel] += 1
            # The line's fields are named as the canonical columns.
            row = line._asdict()
            row["connector_id"] = connector_ids[line.channel]
            row["workspace_id"] = workspace_id
            row["synced_at"] = synced_at
            rows.append(row)
        session.execute(statement, rows)
    return counts
