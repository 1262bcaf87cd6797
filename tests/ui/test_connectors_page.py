"""The connectors page: live table, actions, details, and the window around it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.config import load_config
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services import organisations
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, DemandLine, SyncRun, SyncStatus
from app.store.types import utcnow
from app.vault import Vault
from ui.connectors.model import PROGRESS_ROLE, STATUS_ROLE, ConnectorTableModel
from ui.connectors.page import ConnectorsPage
from ui.main_window import MainWindow
from ui.qt import QMessageBox, QSettings, Qt
from ui.sources import source_catalogue

DEMO = {"channel": "web", "end": "2026-11-30", "days": 60, "skus": 5}


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    with sqlite_database.session() as session:
        organisations.default_workspace(session)
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


def add_demo(runtime: Runtime, name: str, **extra: object) -> int:
    created = connector_service.add_connector(
        runtime.database, runtime.vault, preset="demo", name=name, values=DEMO, **extra
    )
    return created["id"]


def set_status(runtime: Runtime, connector_id: int, status: ConnectorStatus, message: str) -> None:
    with runtime.database.session() as session:
        connector = session.get(Connector, connector_id)
        connector.status = status
        connector.status_message = message


def loaded_page(qtbot, runtime: Runtime) -> ConnectorsPage:
    page = ConnectorsPage(runtime, source_catalogue())
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.refresh()
    return page


def cell(page: ConnectorsPage, row: int, column: int, role=Qt.ItemDataRole.DisplayRole):
    return page.model.index(row, column).data(role)


def reload(qtbot, page: ConnectorsPage) -> None:
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.refresh()


def test_the_table_lists_connectors_with_source_status_schedule_and_rows(
    qtbot, runtime: Runtime
) -> None:
    add_demo(runtime, "Web shop", schedule={"kind": "interval", "every": 30, "unit": "minutes"})
    broken = add_demo(runtime, "Another shop")
    set_status(runtime, broken, ConnectorStatus.ERROR, "The source said: 500 Internal error")

    page = loaded_page(qtbot, runtime)

    assert page.model.rowCount() == 2
    assert [cell(page, r, ConnectorTableModel.NAME) for r in range(2)] == [
        "Another shop",
        "Web shop",
    ]
    assert cell(page, 0, ConnectorTableModel.SOURCE) == "Demo data"
    assert cell(page, 0, ConnectorTableModel.SOURCE, Qt.ItemDataRole.DecorationRole) is not None
    assert cell(page, 0, ConnectorTableModel.STATUS, STATUS_ROLE) == "error"
    assert "500 Internal error" in cell(
        page, 0, ConnectorTableModel.STATUS, Qt.ItemDataRole.ToolTipRole
    )
    assert cell(page, 1, ConnectorTableModel.LAST) == "never"
    # Never synced and on a schedule: due now. Manual: says so.
    assert cell(page, 1, ConnectorTableModel.NEXT) == "due now"
    assert cell(page, 0, ConnectorTableModel.NEXT) == "manual"
    assert cell(page, 1, ConnectorTableModel.ROWS) == "0"

    page.table.selectRow(0)
    assert "500 Internal error" in page.details.text()


def test_sync_now_runs_off_the_gui_thread_and_the_row_count_follows(
    qtbot, runtime: Runtime
) -> None:
    connector_id = add_demo(runtime, "Web shop")
    page = loaded_page(qtbot, runtime)
    page.table.selectRow(0)
    assert page.actions_by_name["sync"].isEnabled()

    with qtbot.waitSignal(page.sync_finished, timeout=60_000) as finished:
        page.actions_by_name["sync"].trigger()
        assert not page.actions_by_name["sync"].isEnabled(), "no second sync while one runs"
    assert finished.args == [connector_id]
    reload(qtbot, page)

    with runtime.database.session() as session:
        lines = session.scalar(select(func.count()).select_from(DemandLine))
    assert lines > 0
    assert cell(page, 0, ConnectorTableModel.ROWS) == f"{lines:,}"
    assert cell(page, 0, ConnectorTableModel.STATUS, STATUS_ROLE) == "healthy"
    assert cell(page, 0, ConnectorTableModel.LAST) == "just now"
    qtbot.waitUntil(lambda: page.history_model.rowCount() == 1, timeout=10_000)
    assert page.history_model.index(0, 2).data() == "complete"


def test_a_sync_running_elsewhere_shows_as_progress(qtbot, runtime: Runtime) -> None:
    connector_id = add_demo(runtime, "Web shop")
    with runtime.database.session() as session:
        run = SyncRun(
            connector_id=connector_id,
            trigger="schedule",
            started_at=utcnow() - dt.timedelta(seconds=10),
            pages=4,
            rows_inserted=4_000,
            rows_updated=1_000,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    page = loaded_page(qtbot, runtime)

    assert cell(page, 0, ConnectorTableModel.STATUS, STATUS_ROLE) == "syncing"
    running = cell(page, 0, ConnectorTableModel.PROGRESS, PROGRESS_ROLE)
    assert running.rows == 5_000
    assert 400 <= running.rows_per_second(page.model.now) <= 520
    page.table.selectRow(0)
    assert not page.actions_by_name["sync"].isEnabled()

    with runtime.database.session() as session:
        stored = session.get(SyncRun, run_id)
        stored.status = SyncStatus.COMPLETE
        stored.finished_at = utcnow()
    reload(qtbot, page)
    assert cell(page, 0, ConnectorTableModel.STATUS, STATUS_ROLE) == "new"
    assert cell(page, 0, ConnectorTableModel.PROGRESS, PROGRESS_ROLE) is None
    assert page.selected_id() == connector_id, "the selection survives a refresh"


def test_needs_reconnect_offers_reconnect(qtbot, runtime: Runtime) -> None:
    connector_id = add_demo(runtime, "Books")
    set_status(runtime, connector_id, ConnectorStatus.NEEDS_RECONNECT, "Sign in again")
    healthy = add_demo(runtime, "Shop")
    page = loaded_page(qtbot, runtime)
    reconnect = page.actions_by_name["reconnect"]

    page.select(healthy)
    assert not reconnect.isVisible()
    page.select(connector_id)
    assert reconnect.isVisible()
    assert reconnect.isEnabled()
    with qtbot.waitSignal(page.wizard_requested) as requested:
        reconnect.trigger()
    assert requested.args == [connector_id, "reconnect"]


def test_disable_enable_and_delete_with_confirmation(
    qtbot, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector_id = add_demo(runtime, "Web shop")
    page = loaded_page(qtbot, runtime)
    page.select(connector_id)

    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.actions_by_name["disable"].trigger()
    assert cell(page, 0, ConnectorTableModel.STATUS, STATUS_ROLE) == "disabled"
    assert page.actions_by_name["disable"].text() == "Enable"
    assert not page.actions_by_name["sync"].isEnabled()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.actions_by_name["disable"].trigger()
    assert cell(page, 0, ConnectorTableModel.STATUS, STATUS_ROLE) == "new"

    asked: list[str] = []

    def answer(button: QMessageBox.StandardButton):
        def question(parent, title, text, *args):
            asked.append(text)
            return button

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    page.actions_by_name["delete"].trigger()
    assert "imported demand lines" in asked[0]
    reload(qtbot, page)
    assert page.model.rowCount() == 1, "cancelled: nothing deleted"

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.actions_by_name["delete"].trigger()
    assert page.model.rowCount() == 0
    with runtime.database.session() as session:
        assert session.get(Connector, connector_id) is None


def test_the_window_remembers_its_page_and_workspace(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    window = MainWindow(runtime, settings=qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=10_000):
        window.refresh()
    assert window.workspace.currentText() == "Main"
    assert window.store_label.text().startswith("Store: SQLite ")
    assert window.server_label.text() == "Server: off"
    window.nav.setCurrentRow(3)
    window.close()

    again = MainWindow(runtime, settings=qsettings)
    qtbot.addWidget(again)
    assert again.nav.currentRow() == 3
    assert again.stack.currentIndex() == 3
