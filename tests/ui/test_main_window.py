"""The main window loads its overview off the GUI thread and renders offscreen."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.config import load_config
from app.runtime import Runtime
from app.services import organisations
from app.store.db import Database
from app.store.models import Connector
from app.vault import Vault
from ui.main_window import MainWindow


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    with sqlite_database.session() as session:
        workspace = organisations.default_workspace(session)
        organisations.set_plan(session, "growth")
        session.add(Connector(workspace_id=workspace.id, preset="custom_file", name="Export"))
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


def test_overview_shows_the_store(qtbot, runtime: Runtime) -> None:
    window = MainWindow(runtime)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.loaded, timeout=10_000):
        window.refresh()
    assert window.fields["organisation"].text() == "My organisation"
    assert window.fields["plan"].text() == "growth"
    assert window.fields["connectors"].text() == "1"
    assert window.fields["demand_lines"].text() == "0"
    assert "sqlite" in window.statusBar().currentMessage()


def test_overview_failure_is_shown_not_raised(qtbot, runtime: Runtime) -> None:
    runtime.database = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    window = MainWindow(runtime)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.load_failed, timeout=30_000):
        window.refresh()
    assert window.statusBar().currentMessage().startswith("Could not load the overview")


def test_gui_screenshot_writes_a_png(isolated_env, tmp_path) -> None:
    out = tmp_path / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app.cli.main import main; main()",
            "gui",
            "--screenshot",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    png = out / "main_window.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 2_000
