"""One forecast run, from demand lines to stored forecasts, safety stock, trends and alerts.

A run is claimed (queued → running), its history built in SQL, its series
forecast in batches (so progress can be reported), and everything it produced
written in a single transaction together with the ``complete`` status. A run
that fails leaves nothing but its ``failed`` status and the error: readers
never see half a run.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select, update

from app.forecasting import (
    FrameForecast,
    Settings,
    run_frame,
)
from app.forecasting.cluster import ClusterError, run_on_cluster
from app.runs.persist import persist
from app.runs.series import History, build_history
from app.services.errors import ServiceError
from app.store.db import Database
from app.store.models import (
    ForecastRun,
    Frequency,
    RunStatus,
    Series,
    Workspace,
)
from app.store.types import utcnow

log = logging.getLogger(__name__)

# Progress is reported after each batch of series: about ``BATCHES`` of them, of
# at least ``MIN_BATCH`` series. Each batch starts statsforecast's workers anew for
# each of its model groups: on 2,000 series, four batches of 500 took 20% longer
# than one, so small stores run in one batch and report progress at its end.
BATCHES = 5
MIN_BATCH = 2_000
DAYS_PER_PERIOD = {Frequency.DAILY: 1.0, Frequency.WEEKLY: 7.0, Frequency.MONTHLY: 365.25 / 12}

Progress = Callable[[int, int], None]


class RunNotQueued(ServiceError):
    """The run is not waiting to be executed (already running, done or unknown)."""


@dataclass(frozen=True)
class Policy:
    """Service level and lead time of one series, with where they came from."""

    service_level: float
    lead_time_periods: float
    lead_time_days: int


@dataclass(frozen=True)
class RunContext:
    """What a run works on, gathered once at its start."""

    run_id: int
    workspace_id: int
    frequency: Frequency
    horizon: int
    history: History
    policies: dict[int, Policy]

    @property
    def names(self) -> dict[int, tuple[str, str]]:
        return {int(uid): key for uid, key in self.history.series.items()}


def claim(database: Database, run_id: int) -> bool:
    """Move a queued run to running; False if another worker got there first."""
    with database.session() as session:
        claimed = session.execute(
            update(ForecastRun)
            .where(ForecastRun.id == run_id, ForecastRun.status == RunStatus.QUEUED)
            .values(status=RunStatus.RUNNING, started_at=utcnow())
        ).rowcount
    return claimed == 1


def execute_run(
    database: Database,
    run_id: int,
    *,
    progress: Progress | None = None,
    settings: Settings | None = None,
    as_of: dt.date | None = None,
    cluster: str | None = None,
) -> RunStatus:
    """Execute a queued run to ``complete`` or ``failed``; returns the final status.

    With ``cluster`` (a Dask scheduler address) the series are forecast on that
    cluster; the forecasts are the same as on this machine.

    Raises:
        RunNotQueued: the run does not exist or is not queued.
    """
    if not claim(database, run_id):
        raise RunNotQueued(f"Run {run_id} is not queued.")
    started = time.perf_counter()
    try:
        _execute(
            database,
            run_id,
            progress=progress,
            settings=settings,
            as_of=as_of or utcnow().date(),
            cluster=cluster,
        )
    except Exception as exc:
        known = isinstance(exc, ServiceError | ValueError | ClusterError)
        if known:
            log.warning("run %s failed: %s", run_id, exc)
        else:
            log.exception("run %s failed unexpectedly", run_id)
        message = str(exc) if known else "Unexpected error; the log file has the details."
        with database.session() as session:
            session.execute(
                update(ForecastRun)
                .where(ForecastRun.id == run_id)
                .values(status=RunStatus.FAILED, error=message, completed_at=utcnow())
            )
        return RunStatus.FAILED
    log.info("run %s complete in %.1f s", run_id, time.perf_counter() - started)
    return RunStatus.COMPLETE


def _execute(
    database: Database,
    run_id: int,
    *,
    progress: Progress | None,
    settings: Settings | None,
    as_of: dt.date,
    cluster: str | None,
) -> None:
    context = _context(database, run_id, as_of)
    if context.history.frame.empty:
        raise ServiceError("No demand history to forecast yet: sync a connector first.")
    frame = context.history.frame
    total = frame["unique_id"].nunique()
    _set_progress(database, run_id, 0, total)

    def report(done: int, total: int) -> None:
        _set_progress(database, run_id, done, total)
        if progress is not None:
            progress(done, total)

    if cluster:
        parts = run_on_cluster(
            cluster, frame, context.horizon, context.frequency.value, settings, progress=report
        )
    else:
        parts = _run_here(frame, context, settings, report)
    stored = time.perf_counter()
    with database.session() as session:
        persist(session, context, parts)
    log.debug("run %s stored in %.1f s", run_id, time.perf_counter() - stored)


def _run_here(
    frame: pd.DataFrame, context: RunContext, settings: Settings | None, report: Progress
) -> list[FrameForecast]:
    ids = list(dict.fromkeys(frame["unique_id"]))
    parts: list[FrameForecast] = []
    size = max(MIN_BATCH, math.ceil(len(ids) / BATCHES))
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        parts.append(
            run_frame(
                frame[frame["unique_id"].isin(batch)],
                context.horizon,
                context.frequency.value,
                settings,
            )
        )
        report(min(start + len(batch), len(ids)), len(ids))
    return parts


def _context(database: Database, run_id: int, as_of: dt.date) -> RunContext:
    with database.session() as session:
        run = session.get(ForecastRun, run_id)
        assert run is not None
        workspace = session.get(Workspace, run.workspace_id)
        assert workspace is not None
        # History first: building it creates the series it has not seen before.
        history = build_history(session, workspace.id, workspace.frequency, as_of)
        policies = _policies(session, workspace)
        # Safety stock needs the forecast over the whole lead time.
        longest = max((math.ceil(p.lead_time_periods) for p in policies.values()), default=1)
        return RunContext(
            run_id=run_id,
            workspace_id=workspace.id,
            frequency=workspace.frequency,
            horizon=max(run.horizon, longest),
            history=history,
            policies=policies,
        )


def _set_progress(database: Database, run_id: int, done: int, total: int) -> None:
    with database.session() as session:
        session.execute(
            update(ForecastRun)
            .where(ForecastRun.id == run_id)
            .values(series_done=done, series_total=total)
        )


def _policies(session: Any, workspace: Workspace) -> dict[int, Policy]:
    per_period = DAYS_PER_PERIOD[workspace.frequency]
    policies = {}
    for series in session.scalars(select(Series).where(Series.workspace_id == workspace.id)):
        days = series.lead_time_days or workspace.lead_time_days
        policies[series.id] = Policy(
            service_level=series.service_level or workspace.service_level,
            lead_time_periods=max(days / per_period, 1e-3),
            lead_time_days=days,
        )
    return policies
