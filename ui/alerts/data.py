"""The alerts inbox's reads and writes: a workspace's alerts, its unread count, marking read.

``app.services.alerts`` lists alerts by organisation and marks one read, for
the API; the inbox works on one workspace and marks all of them read at once.
Alerts are shown in the service's own view, so the two never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, func, select, update

from app.services import alerts as alert_service
from app.store.db import Database
from app.store.models import Alert, Series
from app.store.types import utcnow

# The inbox shows the newest alerts; older ones stay in the store and the API.
ALERTS_SHOWN = 2_000


def load_alerts(
    database: Database, workspace_id: int | None, *, limit: int = ALERTS_SHOWN
) -> list[dict[str, Any]]:
    """The workspace's newest alerts, newest first (every workspace's when None)."""
    query = (
        select(Alert, Series)
        .outerjoin(Series, Series.id == Alert.series_id)
        .order_by(Alert.id.desc())
        .limit(limit)
    )
    if workspace_id is not None:
        query = query.where(Alert.workspace_id == workspace_id)
    with database.session() as session:
        return [alert_service.alert_view(alert, series) for alert, series in session.execute(query)]


def unread_count(database: Database, workspace_id: int | None) -> int:
    query = select(func.count()).select_from(Alert).where(Alert.read.is_(false()))
    if workspace_id is not None:
        query = query.where(Alert.workspace_id == workspace_id)
    with database.session() as session:
        return int(session.scalar(query) or 0)


def mark_read(database: Database, alert_ids: list[int]) -> list[dict[str, Any]]:
    """Mark each alert read through the service; returns their views."""
    return [alert_service.mark_read(database, alert_id) for alert_id in alert_ids]


def mark_all_read(database: Database, workspace_id: int | None) -> int:
    """Mark every unread alert of the workspace read, in one statement; returns how many."""
    query = (
        update(Alert)
        .where(Alert.read.is_(false()))
        .values(read=True, read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if workspace_id is not None:
        query = query.where(Alert.workspace_id == workspace_id)
    with database.session() as session:
        return int(session.execute(query).rowcount or 0)
