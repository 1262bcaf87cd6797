"""The runs page: runs newest first and live, "Run forecast now", and a run to the chart."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select, update

from app.config import load_config
from app.runtime import Runtime
from app.services import organisations
from app.services import runs as run_service
from app.services.scheduling import BackgroundWork
from app.services.series import get_series, series_forecast
from app.store.db import Database
from app.store.models import ForecastRun, Frequency, RunStatus, Series, Workspace
from app.store.types import utcnow
from app.vault import Vault
from tests.app.runs.test_execute import seed, shapes
from ui.main_window import PAGES, MainWindow
from ui.qt import QSettings
from ui.runs import page as runs_page
from ui.runs.model import PROGRESS_ROLE, STATUS_ROLE, RunTableModel
from ui.runs.page import RunsPage
from ui.series import chart


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


def workspace_id(runtime: Runtime) -> int:
    with runtime.database.session() as session:
        return organisations.default_workspace(session).id


def add_run(runtime: Runtime, status: RunStatus, **values: object) -> int:
    with runtime.database.session() as session:
        run = ForecastRun(workspace_id=workspace_id(runtime), status=status, **values)
        session.add(run)
        session.flush()
        return run.id


def loaded_page(qtbot, runtime: Runtime, **kwargs: object) -> RunsPage:
    page = RunsPage(runtime, **kwargs)
    qtbot.addWidget(page)
    page.resize(1000, 600)
    page.show()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.set_workspace(workspace_id(runtime))
    return page


def cell(page: RunsPage, row: int, column: int, role=None):
    index = page.model.index(row, column)
    return index.data() if role is None else index.data(role)


def test_runs_show_newest_first_with_status_timing_series_and_error(
    qtbot, runtime: Runtime
) -> None:
    now = utcnow()
    done = add_run(
        runtime,
        RunStatus.COMPLETE,
        started_at=now - dt.timedelta(minutes=10),
        completed_at=now - dt.timedelta(minutes=10) + dt.timedelta(seconds=42.5),
        series_total=1_200,
        series_done=1_200,
    )
    failed = add_run(
        runtime,
        RunStatus.FAILED,
        trigger="api",
        started_at=now - dt.timedelta(minutes=5),
        completed_at=now - dt.timedelta(minutes=5),
        error="No demand history to forecast yet: sync a connector first.",
    )
    running = add_run(
        runtime,
        RunStatus.RUNNING,
        trigger="schedule",
        started_at=now - dt.timedelta(seconds=30),
        series_total=1_000,
        series_done=400,
    )
    page = loaded_page(qtbot, runtime)

    assert [cell(page, r, RunTableModel.RUN) for r in range(3)] == [
        f"#{running}",
        f"#{failed}",
        f"#{done}",
    ]
    assert cell(page, 0, RunTableModel.STATUS, STATUS_ROLE) == "running"
    assert cell(page, 0, RunTableModel.TRIGGER) == "after a sync"
    assert cell(page, 0, RunTableModel.PROGRESS, PROGRESS_ROLE) == (400, 1_000)
    assert cell(page, 1, RunTableModel.TRIGGER) == "by the API"
    assert cell(page, 1, RunTableModel.ERROR).startswith("No demand history")
    assert cell(page, 2, RunTableModel.DURATION) == "42.5 s"
    assert cell(page, 2, RunTableModel.SERIES) == "1,200"
    assert cell(page, 2, RunTableModel.STARTED) == "10 min ago"
    assert cell(page, 2, RunTableModel.PROGRESS, PROGRESS_ROLE) is None

    # The run under way feeds the progress bar.
    assert page.progress.isVisible()
    assert (page.progress.value(), page.progress.maximum()) == (400, 1_000)
    assert page.progress_label.text() == f"Run #{running} running"

    page.select(failed)
    assert "Failed: No demand history to forecast yet" in page.details.text()


def test_runs_started_elsewhere_appear_live_and_their_end_is_announced(
    qtbot, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_page, "IDLE_POLL_MS", 100)
    monkeypatch.setattr(runs_page, "BUSY_POLL_MS", 100)
    page = loaded_page(qtbot, runtime)
    assert page.model.rowCount() == 0
    assert not page.progress.isVisible()
    page.start_polling()

    # As the API or the scheduler would.
    created, _ = run_service.create_run(
        runtime.database, workspace_id=workspace_id(runtime), trigger="api"
    )
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)
    assert cell(page, 0, RunTableModel.STATUS, STATUS_ROLE) == "queued"
    qtbot.waitUntil(page.progress.isVisible, timeout=10_000)

    with runtime.database.session() as session:
        session.execute(
            update(ForecastRun)
            .where(ForecastRun.id == created["id"])
            .values(status=RunStatus.RUNNING, started_at=utcnow(), series_total=10, series_done=7)
        )
    qtbot.waitUntil(lambda: page.progress.value() == 7, timeout=10_000)

    with (
        qtbot.waitSignal(page.run_finished, timeout=10_000) as finished,
        runtime.database.session() as session,
    ):
        session.execute(
            update(ForecastRun)
            .where(ForecastRun.id == created["id"])
            .values(status=RunStatus.COMPLETE, completed_at=utcnow(), series_done=10)
        )
    assert finished.args == [created["id"], "complete"]
    qtbot.waitUntil(lambda: not page.progress.isVisible(), timeout=10_000)
    page.stop_polling()


def test_run_forecast_now_asks_for_horizon_and_frequency(qtbot, runtime: Runtime) -> None:
    woken: list[bool] = []
    page = loaded_page(qtbot, runtime, wake=lambda: woken.append(True))
    with qtbot.waitSignal(page.options_shown, timeout=10_000) as shown:
        page.run_action.trigger()
    dialog = shown.args[0]
    assert dialog.horizon.value() == 12  # the workspace's default
    assert dialog.frequency.currentData() == "weekly"
    assert dialog.note.text() == ""
    dialog.horizon.setValue(8)
    dialog.frequency.setCurrentIndex(dialog.frequency.findData("monthly"))
    assert "makes monthly its frequency" in dialog.note.text()

    with qtbot.waitSignal(page.run_queued, timeout=10_000) as queued:
        dialog.accept()
    run = run_service.get_run(runtime.database, queued.args[0])
    assert (run["status"], run["horizon"], run["frequency"]) == ("queued", 8, "monthly")
    assert woken == [True]
    with runtime.database.session() as session:
        assert session.get(Workspace, workspace_id(runtime)).frequency is Frequency.MONTHLY
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=10_000)


def test_an_invalid_run_is_refused_with_the_reason(qtbot, runtime: Runtime) -> None:
    page = loaded_page(qtbot, runtime)
    with qtbot.waitSignal(page.action_failed, timeout=10_000) as failed:
        page.start_run(horizon=0)
    assert failed.args[0] == "The horizon must be between 1 and 520 periods."
    assert page.message.text() == failed.args[0]


@pytest.mark.slow
def test_a_run_started_from_the_gui_completes_and_the_chart_shows_its_forecast(
    qtbot, sqlite_database: Database, qsettings: QSettings
) -> None:
    workspace = seed(sqlite_database, shapes(np.random.default_rng(11)))
    runtime = Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))
    background = BackgroundWork(runtime)
    background.start()
    try:
        window = MainWindow(runtime, background=background, settings=qsettings)
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignal(window.loaded, timeout=10_000):
            window.refresh()
        assert window.runs.workspace_id == workspace
        window.nav.setCurrentRow(PAGES.index("Runs"))

        with qtbot.waitSignal(window.runs.options_shown, timeout=10_000) as shown:
            window.runs.run_action.trigger()
        shown.args[0].horizon.setValue(6)
        with qtbot.waitSignal(window.runs.run_finished, timeout=180_000) as finished:
            shown.args[0].accept()
        run_id, status = finished.args
        assert status == "complete", run_service.get_run(sqlite_database, run_id)["error"]
        assert window.statusBar().currentMessage() == f"Forecast run #{run_id} complete."

        with sqlite_database.session() as session:
            rising = session.scalars(select(Series.id).where(Series.sku == "RISING")).one()
        with qtbot.waitSignal(window.series.detail_shown, timeout=30_000):
            window.show_series(rising)
        assert window.stack.currentWidget() is window.series
        expected = series_forecast(sqlite_database, rising)
        assert expected["run_id"] == run_id
        points = window.series.chart.points(chart.FORECAST)
        assert len(points) == len(expected["periods"]) >= 6
        assert [day.isoformat() for day, _ in points] == [
            p["period_start"] for p in expected["periods"]
        ]
        assert [value for _, value in points] == pytest.approx(
            [p["point"] for p in expected["periods"]]
        )
        trend = get_series(sqlite_database, rising)["trend"]
        assert trend in ("up", "flat", "down")
        assert window.series.trend_badge.text().strip() == trend.title()
        assert expected["model"] in window.series.model_info.text()
        window.quit_app()
    finally:
        background.stop()
