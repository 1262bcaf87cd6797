"""The window stays responsive while a probe waits on a slow source and a big sync runs.

A 10 ms timer ticks on the GUI thread throughout; any gap over 100 ms between
two ticks would be a freeze an operator notices.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.runtime import Runtime
from app.services import connectors as connector_service
from app.store.db import Database
from tests.fakes.rest_api import (
    ORDER_LINES_MAPPING,
    RESOURCE_PATH,
    TOKEN,
    FakeRestApi,
    serve_rest_api,
)
from tests.ui.test_wizard_driver import Driver, make_runtime, open_window, wait_for_rows
from ui.qt import QSettings, QTimer, QWizard
from ui.wizard.wizard import TEST

TICK_MS = 10
LONGEST_GAP = 0.100
REPOSITORY = Path(__file__).resolve().parents[2]


class Ticks:
    """Records when a 10 ms timer on the GUI thread fires."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))

    def __enter__(self) -> Ticks:
        # As the app does once started (ui.application): what exists now, here the
        # objects of every test that ran before in this process, stays out of full
        # garbage collections, whose pauses would otherwise grow with the suite.
        gc.collect()
        gc.freeze()
        self.times.append(time.monotonic())
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.stop()
        self.times.append(time.monotonic())
        gc.unfreeze()

    @property
    def longest_gap(self) -> float:
        return max(b - a for a, b in zip(self.times, self.times[1:], strict=False))

    @property
    def span(self) -> float:
        return self.times[-1] - self.times[0]


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return make_runtime(sqlite_database)


@pytest.fixture
def slow_api() -> Iterator[FakeRestApi]:
    with serve_rest_api(orders=10, pagination="link_header", auth="bearer") as api:
        yield api


def test_the_window_ticks_on_while_a_probe_waits_three_seconds(
    qtbot, runtime: Runtime, slow_api: FakeRestApi, qsettings: QSettings
) -> None:
    window = open_window(qtbot, runtime, qsettings)
    window.connectors.actions_by_name["add"].trigger()
    driver = Driver(qtbot, window.wizard)
    driver.choose("custom_rest")
    driver.next()
    driver.fill(slow_api.connector_settings())
    slow_api.respond_slowly(1, 3.0)
    page = driver.wizard.probe_page

    with Ticks() as ticks:
        driver.button(QWizard.WizardButton.NextButton).click()
        assert driver.wizard.currentId() == TEST
        qtbot.waitUntil(lambda: not page.busy, timeout=20_000)

    assert page.isComplete(), page.message.text()
    assert ticks.span >= 3.0, "the ticks covered the slow answer"
    assert len(ticks.times) > 100
    assert ticks.longest_gap < LONGEST_GAP, f"the event loop stalled {ticks.longest_gap:.3f} s"


@contextmanager
def rest_api_process(orders: int) -> Iterator[str]:
    """The fake REST API in its own process, so that serving costs this one no time."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.fakes.rest_api", "--orders", str(orders)),
            *("--lines-per-order", "1", "--auth", "bearer", "--pagination", "link_header"),
        ],
        cwd=REPOSITORY,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.stdout.close()
        process.wait(timeout=30)


@pytest.mark.slow
def test_the_window_ticks_on_while_a_100000_row_sync_runs(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    with rest_api_process(100_000) as base_url:
        created = connector_service.add_connector(
            runtime.database,
            runtime.vault,
            preset="custom_rest",
            name="Big source",
            values={
                "base_url": base_url,
                "resource_path": RESOURCE_PATH,
                "records_path": "orders",
                "auth": "bearer",
                "token": TOKEN,
                "pagination": "link_header",
                "page_size": 250,
            },
            mapping=ORDER_LINES_MAPPING,
        )
        connector_id = int(created["id"])
        window = open_window(qtbot, runtime, qsettings)
        with Ticks() as ticks, qtbot.waitSignal(window.connectors.sync_finished, timeout=300_000):
            window.connectors.sync(connector_id)
    wait_for_rows(qtbot, window, connector_id, 100_000)
    assert ticks.span > 1.0, "the sync took long enough to measure"
    assert ticks.longest_gap < LONGEST_GAP, f"the event loop stalled {ticks.longest_gap:.3f} s"
