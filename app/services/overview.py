"""The figures the desktop app's overview shows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from app.services.organisations import get_organisation
from app.store.db import Database
from app.store.models import Connector, DemandLine, ForecastRun, Series, Workspace


@dataclass(frozen=True)
class Overview:
    organisation: str
    plan: str
    connectors: int
    series: int
    demand_lines: int
    forecast_runs: int
    # (id, name) of the organisation's workspaces, oldest first.
    workspaces: tuple[tuple[int, str], ...] = ()


def overview(database: Database) -> Overview:
    """Counts of what the default organisation's workspaces hold."""
    with database.session() as session:
        org = get_organisation(session)
        workspace_ids = select(Workspace.id).where(Workspace.organisation_id == org.id)

        def count(workspace_column: InstrumentedAttribute[int]) -> int:
            query = select(func.count()).where(workspace_column.in_(workspace_ids))
            return int(session.scalar(query) or 0)

        return Overview(
            organisation=org.name,
            plan=org.plan.value,
            connectors=count(Connector.workspace_id),
            series=count(Series.workspace_id),
            demand_lines=count(DemandLine.workspace_id),
            forecast_runs=count(ForecastRun.workspace_id),
            workspaces=tuple(
                (row.id, row.name)
                for row in session.execute(
                    select(Workspace.id, Workspace.name)
                    .where(Workspace.organisation_id == org.id)
                    .order_by(Workspace.id)
                )
            ),
        )
