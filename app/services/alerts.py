"""Demand alert use cases: list alerts and mark them read."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from app.services.errors import NotFound
from app.store.db import Database
from app.store.models import Alert, Series, Workspace
from app.store.types import utcnow


def alert_view(alert: Alert, series: Series | None) -> dict[str, Any]:
    """An alert as the API and the desktop app show it, with its series' SKU and location."""
    return {
        "id": alert.id,
        "workspace_id": alert.workspace_id,
        "run_id": alert.run_id,
        "series_id": alert.series_id,
        "sku": series.sku if series is not None else None,
        "location": series.location if series is not None else None,
        "kind": alert.kind,
        "severity": alert.severity,
        "message": alert.message,
        "details": alert.details,
        "read": alert.read,
        "read_at": alert.read_at.isoformat() if alert.read_at else None,
        "created_at": alert.created_at.isoformat(),
    }


def _query(organisation_id: int | None) -> Any:
    query = select(Alert, Series).outerjoin(Series, Series.id == Alert.series_id)
    if organisation_id is not None:
        query = query.where(
            Alert.workspace_id.in_(
                select(Workspace.id).where(Workspace.organisation_id == organisation_id)
            )
        )
    return query


def list_alerts(
    database: Database,
    *,
    organisation_id: int | None = None,
    unread: bool | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest first; ``unread`` True for unread only, False for read only."""
    query = _query(organisation_id).order_by(Alert.id.desc()).limit(limit)
    if unread is not None:
        query = query.where(Alert.read.is_(not unread))
    if since is not None:
        query = query.where(Alert.created_at > since)
    if before_id is not None:
        query = query.where(Alert.id < before_id)
    with database.session() as session:
        return [alert_view(alert, series) for alert, series in session.execute(query)]


def mark_read(
    database: Database, alert_id: int, *, organisation_id: int | None = None
) -> dict[str, Any]:
    """Mark an alert read; marking it again changes nothing (the first read time stays)."""
    with database.session() as session:
        row = session.execute(_query(organisation_id).where(Alert.id == alert_id)).first()
        if row is None:
            raise NotFound(f"No alert with id {alert_id}.")
        # Conditional, so that of two concurrent calls only the first sets read_at.
        session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.read.is_(False))
            .values(read=True, read_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        alert, series = row
        session.refresh(alert)
        return alert_view(alert, series)
