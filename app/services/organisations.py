"""Organisations, their plans and their workspaces."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.errors import InvalidInput, NotFound
from app.store.models import Organisation, Plan, Workspace


def parse_plan(value: str) -> Plan:
    try:
        return Plan(value.strip().lower())
    except ValueError:
        names = ", ".join(p.value for p in Plan)
        raise InvalidInput(f"Unknown plan {value!r}; choose one of {names}.") from None


def ensure_default_organisation(session: Session, name: str = "My organisation") -> Organisation:
    """The installation's organisation, created with a first workspace if missing.

    An on-premises installation serves one organisation; the first one created
    is the default.
    """
    org = session.scalars(select(Organisation).order_by(Organisation.id).limit(1)).first()
    if org is None:
        org = Organisation(name=name, plan=Plan.STARTER)
        org.workspaces.append(Workspace(name="Main"))
        session.add(org)
        session.flush()
    return org


def get_organisation(session: Session, organisation_id: int | None = None) -> Organisation:
    """One organisation by id, or the default one when ``organisation_id`` is None."""
    if organisation_id is None:
        return ensure_default_organisation(session)
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"No organisation with id {organisation_id}.")
    return org


def set_plan(session: Session, plan: str, organisation_id: int | None = None) -> Organisation:
    org = get_organisation(session, organisation_id)
    org.plan = parse_plan(plan)
    return org


def default_workspace(session: Session, organisation_id: int | None = None) -> Workspace:
    org = get_organisation(session, organisation_id)
    workspace = session.scalars(
        select(Workspace).where(Workspace.organisation_id == org.id).order_by(Workspace.id)
    ).first()
    if workspace is None:
        workspace = Workspace(organisation_id=org.id, name="Main")
        session.add(workspace)
        session.flush()
    return workspace
