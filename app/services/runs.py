"""Forecast run use cases: create (idempotently), list, show, execute."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.limits import MAX_HORIZON
from app.services.errors import InvalidInput, NotFound
from app.services.organisations import default_workspace
from app.store.db import Database
from app.store.models import ForecastRun, RunStatus, Workspace


def run_view(run: ForecastRun) -> dict[str, Any]:
    """A run as the API, the CLI and the desktop app show it."""
    duration = (
        (run.completed_at - run.started_at).total_seconds()
        if run.completed_at and run.started_at
        else None
    )
    return {
        "id": run.id,
        "workspace_id": run.workspace_id,
        "status": run.status.value,
        "trigger": run.trigger,
        "horizon": run.horizon,
        "frequency": run.frequency,
        "series_total": run.series_total,
        "series_done": run.series_done,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "completed_at": run.completed_at.isoformat() if run.completed_at else None,
        "duration_seconds": duration,
    }


def create_run(
    database: Database,
    *,
    workspace_id: int | None = None,
    horizon: int | None = None,
    idempotency_key: str | None = None,
    trigger: str = "manual",
) -> tuple[dict[str, Any], bool]:
    """Queue a run; returns (run, created). The same idempotency key returns the same run."""
    if horizon is not None and not 1 <= horizon <= MAX_HORIZON:
        raise InvalidInput(f"The horizon must be between 1 and {MAX_HORIZON} periods.")
    key = idempotency_key.strip()[:200] if idempotency_key else None
    try:
        with database.session() as session:
            workspace = (
                session.get(Workspace, workspace_id)
                if workspace_id is not None
                else default_workspace(session)
            )
            if workspace is None:
                raise NotFound(f"No workspace with id {workspace_id}.")
            # Kept for the race below, where this session is already closed.
            chosen_workspace = workspace.id
            existing = _by_key(session, workspace.id, key)
            if existing is not None:
                return run_view(existing), False
            run = ForecastRun(
                workspace_id=workspace.id,
                horizon=horizon or workspace.horizon,
                frequency=workspace.frequency.value,
                idempotency_key=key,
                trigger=trigger,
            )
            session.add(run)
            session.flush()
            return run_view(run), True
    except IntegrityError:
        # The same key raced in from another request: that run is the answer.
        with database.session() as session:
            existing = _by_key(session, chosen_workspace, key)
            assert existing is not None
            return run_view(existing), False


def _by_key(session: Any, workspace_id: int, key: str | None) -> ForecastRun | None:
    if not key:
        return None
    return session.scalars(
        select(ForecastRun).where(
            ForecastRun.workspace_id == workspace_id, ForecastRun.idempotency_key == key
        )
    ).first()


def get_run(database: Database, run_id: int) -> dict[str, Any]:
    with database.session() as session:
        run = session.get(ForecastRun, run_id)
        if run is None:
            raise NotFound(f"No forecast run with id {run_id}.")
        return run_view(run)


def list_runs(
    database: Database,
    *,
    status: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Runs newest first; ``since`` compares completion time for complete runs."""
    query = select(ForecastRun).order_by(ForecastRun.id.desc()).limit(limit)
    if status is not None:
        try:
            query = query.where(ForecastRun.status == RunStatus(status))
        except ValueError:
            names = ", ".join(s.value for s in RunStatus)
            raise InvalidInput(f"Unknown run status {status!r}; use one of {names}.") from None
    if since is not None:
        column = (
            ForecastRun.completed_at if status == RunStatus.COMPLETE else ForecastRun.created_at
        )
        query = query.where(column > since)
    if before_id is not None:
        query = query.where(ForecastRun.id < before_id)
    with database.session() as session:
        return [run_view(run) for run in session.scalars(query)]


def queued_run_ids(database: Database) -> list[int]:
    with database.session() as session:
        return list(
            session.scalars(
                select(ForecastRun.id)
                .where(ForecastRun.status == RunStatus.QUEUED)
                .order_by(ForecastRun.id)
            )
        )
