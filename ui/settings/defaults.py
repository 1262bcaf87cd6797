"""The organisation's plan and a workspace's forecast defaults, read and saved for Settings.

``app.services.organisations`` sets the plan but has no use case for the
workspace defaults yet; these functions fill that gap for the desktop app and
belong in that module once the CLI or the API needs them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.limits import MAX_HORIZON
from app.services.errors import InvalidInput, NotFound
from app.services.organisations import default_workspace, get_organisation, parse_plan
from app.store.db import Database
from app.store.models import Frequency, Workspace

# The safety stock formulas need a z-score: at least the median, below certainty.
MIN_SERVICE_LEVEL = 0.5
MAX_SERVICE_LEVEL = 0.999
MAX_LEAD_TIME_DAYS = 730


@dataclass(frozen=True)
class ForecastDefaults:
    """What a run of the workspace uses unless a series overrides it."""

    workspace_id: int
    workspace: str
    frequency: str
    horizon: int
    service_level: float
    lead_time_days: int


@dataclass(frozen=True)
class OrganisationSettings:
    name: str
    plan: str
    defaults: ForecastDefaults


def _workspace(session: Session, workspace_id: int | None) -> Workspace:
    if workspace_id is None:
        return default_workspace(session)
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace with id {workspace_id}.")
    return workspace


def _defaults(workspace: Workspace) -> ForecastDefaults:
    return ForecastDefaults(
        workspace_id=workspace.id,
        workspace=workspace.name,
        frequency=workspace.frequency.value,
        horizon=workspace.horizon,
        service_level=workspace.service_level,
        lead_time_days=workspace.lead_time_days,
    )


def forecast_defaults(database: Database, workspace_id: int | None) -> ForecastDefaults:
    """The workspace's defaults (the first workspace when ``workspace_id`` is None)."""
    with database.session() as session:
        return _defaults(_workspace(session, workspace_id))


def organisation_settings(database: Database, workspace_id: int | None) -> OrganisationSettings:
    with database.session() as session:
        workspace = _workspace(session, workspace_id)
        organisation = get_organisation(session, workspace.organisation_id)
        return OrganisationSettings(
            name=organisation.name, plan=organisation.plan.value, defaults=_defaults(workspace)
        )


def parse_frequency(value: str) -> Frequency:
    try:
        return Frequency(value.strip().lower())
    except ValueError:
        names = ", ".join(f.value for f in Frequency)
        raise InvalidInput(f"Unknown frequency {value!r}; choose one of {names}.") from None


def save_forecast_defaults(
    database: Database,
    workspace_id: int | None,
    *,
    frequency: str | None = None,
    horizon: int | None = None,
    service_level: float | None = None,
    lead_time_days: int | None = None,
) -> ForecastDefaults:
    """Change the given defaults; the others stay. Later runs use the new values.

    Raises:
        InvalidInput: a value is out of range; nothing is saved.
        NotFound: no such workspace.
    """
    if horizon is not None and not 1 <= horizon <= MAX_HORIZON:
        raise InvalidInput(f"The horizon must be between 1 and {MAX_HORIZON} periods.")
    if service_level is not None and not MIN_SERVICE_LEVEL <= service_level <= MAX_SERVICE_LEVEL:
        raise InvalidInput(
            f"The service level must be between {MIN_SERVICE_LEVEL:.0%} and "
            f"{MAX_SERVICE_LEVEL:.1%}."
        )
    if lead_time_days is not None and not 1 <= lead_time_days <= MAX_LEAD_TIME_DAYS:
        raise InvalidInput(f"The lead time must be between 1 and {MAX_LEAD_TIME_DAYS} days.")
    parsed = parse_frequency(frequency) if frequency is not None else None
    with database.session() as session:
        workspace = _workspace(session, workspace_id)
        if parsed is not None:
            workspace.frequency = parsed
        if horizon is not None:
            workspace.horizon = horizon
        if service_level is not None:
            workspace.service_level = service_level
        if lead_time_days is not None:
            workspace.lead_time_days = lead_time_days
        session.flush()
        return _defaults(workspace)


def save_plan(database: Database, workspace_id: int | None, plan: str) -> str:
    """Set the plan of the organisation that owns the workspace; returns the plan saved."""
    chosen = parse_plan(plan)
    with database.session() as session:
        workspace = _workspace(session, workspace_id)
        organisation = get_organisation(session, workspace.organisation_id)
        organisation.plan = chosen
        return chosen.value
