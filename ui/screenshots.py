"""The runs, series, alerts and settings pages rendered for ``accupredix gui --screenshot``.

The demo store gets two real forecast runs (the first as of three weeks ago, so
that the second finds actuals outside its intervals and raises alerts), a
failed run, one under way, and two API keys; each page is then captured in the
state an operator would look at it.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from sqlalchemy import select

from app.runtime import Runtime
from app.services import api_keys
from app.services import runs as run_service
from app.store.models import Alert, ForecastRun, RunStatus, Series
from app.store.types import utcnow
from ui.alerts.data import load_alerts, mark_read
from ui.main_window import PAGES, MainWindow
from ui.qt import QThreadPool
from ui.wizard.screenshots import save_png, wait_until
from ui.workers import long_pool

log = logging.getLogger(__name__)

EARLIER_WEEKS = 3
# Short enough for the demo's half year of history to leave cross-validation windows.
HORIZON = 4


def seed_forecasts(runtime: Runtime, workspace_id: int) -> None:
    """Two complete runs, a failed one and one in progress; two API keys."""
    # The forecasting libraries, only when needed.
    from app.forecasting import Settings
    from app.runs.execute import execute_run

    database = runtime.database
    today = utcnow().date()
    for as_of in (today - dt.timedelta(weeks=EARLIER_WEEKS), today):
        run, _ = run_service.create_run(database, workspace_id=workspace_id, horizon=HORIZON)
        # One process: statsforecast's workers would be forked from this threaded Qt process.
        execute_run(database, run["id"], as_of=as_of, settings=Settings(n_jobs=1))
    now = utcnow()
    with database.session() as session:
        session.add_all(
            [
                ForecastRun(
                    workspace_id=workspace_id,
                    status=RunStatus.FAILED,
                    trigger="api",
                    horizon=12,
                    created_at=now - dt.timedelta(hours=3),
                    started_at=now - dt.timedelta(hours=3),
                    completed_at=now - dt.timedelta(hours=3),
                    error="No demand history to forecast yet: sync a connector first.",
                ),
                ForecastRun(
                    workspace_id=workspace_id,
                    status=RunStatus.RUNNING,
                    trigger="schedule",
                    horizon=12,
                    started_at=now - dt.timedelta(seconds=20),
                    series_total=48,
                    series_done=18,
                ),
            ]
        )
        api_keys.create_key(session, "Zapier", ["read", "write"])
        api_keys.create_key(session, "Power BI", ["odata"])


def _idle() -> bool:
    return (
        QThreadPool.globalInstance().activeThreadCount() == 0
        and long_pool().activeThreadCount() == 0
    )


def _series_to_show(runtime: Runtime, workspace_id: int) -> int | None:
    """A series with an alert, for a chart with something to say."""
    with runtime.database.session() as session:
        alerted = session.scalars(
            select(Alert.series_id)
            .where(Alert.workspace_id == workspace_id, Alert.series_id.is_not(None))
            .order_by(Alert.severity, Alert.id)
            .limit(1)
        ).first()
        return (
            alerted
            or session.scalars(
                select(Series.id).where(Series.workspace_id == workspace_id).limit(1)
            ).first()
        )


def render_forecast_pages(runtime: Runtime, window: MainWindow, out: Path) -> list[Path]:
    """``page-runs``, ``page-series``, ``page-alerts`` and ``page-settings.png`` in ``out``."""
    workspace_id = window.workspace.currentData()
    seed_forecasts(runtime, workspace_id)
    written = []
    # The figures of the store count the new runs too.
    with_runs: list[object] = []
    window.loaded.connect(with_runs.append)
    window.refresh()
    wait_until(lambda: bool(with_runs) and _idle(), timeout=20)

    window.nav.setCurrentRow(PAGES.index("Runs"))
    window.runs.refresh()
    wait_until(lambda: window.runs.model.rowCount() >= 4 and _idle(), timeout=20)
    window.runs.select(window.runs.model.run_at(1)["id"])  # the failed one, with its error
    written.append(save_png(window, out / "page-runs.png"))

    window.nav.setCurrentRow(PAGES.index("Series"))
    window.series.refresh()
    wait_until(lambda: window.series.model.total > 0 and _idle(), timeout=20)
    series_id = _series_to_show(runtime, workspace_id)
    if series_id is not None:
        window.series.select_series(series_id)
        wait_until(lambda: window.series.detail is not None and _idle(), timeout=20)
    written.append(save_png(window, out / "page-series.png"))

    # Some alerts read already, so the unread ones stand out in bold.
    alerts = load_alerts(runtime.database, workspace_id)
    mark_read(runtime.database, [alert["id"] for alert in alerts[1::3]])
    window.nav.setCurrentRow(PAGES.index("Alerts"))
    window.alerts.refresh()
    wait_until(lambda: window.alerts.model.rowCount() > 0 and _idle(), timeout=20)
    if alerts:
        window.alerts.select(alerts[0]["id"])
    written.append(save_png(window, out / "page-alerts.png"))

    window.nav.setCurrentRow(PAGES.index("Settings"))
    window.settings_page.refresh()
    wait_until(_idle, timeout=20)
    written.append(save_png(window, out / "page-settings.png"))
    log.info("rendered %s forecast pages", len(written))
    return written
