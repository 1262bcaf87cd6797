"""The alerts inbox: unread in bold, filters, read state shared with the API, badge, notices."""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from app.config import load_config
from app.runtime import Runtime
from app.services import api_keys, organisations
from app.store.db import Database
from app.store.models import Alert, Series
from app.store.types import utcnow
from app.vault import Vault
from embedded_api.app import create_app
from embedded_api.server import EmbeddedServer
from ui.alerts import data
from ui.alerts.badge import BADGE_ROLE
from ui.alerts.model import AlertTableModel
from ui.alerts.page import AlertsPage
from ui.main_window import PAGES, MainWindow
from ui.qt import QSettings, Qt


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    with sqlite_database.session() as session:
        organisations.set_plan(session, "growth")
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


def workspace_id(runtime: Runtime) -> int:
    with runtime.database.session() as session:
        return organisations.default_workspace(session).id


def seed_alerts(runtime: Runtime) -> dict[str, int]:
    """A series and four alerts: three unread (critical, warning, info) and one read."""
    workspace = workspace_id(runtime)
    created = utcnow() - dt.timedelta(hours=2)
    with runtime.database.session() as session:
        series = Series(workspace_id=workspace, sku="CHAIR-01", location="north")
        session.add(series)
        session.flush()
        alerts = {
            "spike": Alert(
                workspace_id=workspace,
                series_id=series.id,
                kind="spike",
                severity="critical",
                message="CHAIR-01 at north sold 90 in the week of 2026-11-23.",
                created_at=created,
            ),
            "drop": Alert(
                workspace_id=workspace,
                series_id=series.id,
                kind="drop",
                severity="warning",
                message="CHAIR-01 at north sold only 2.",
                created_at=created,
            ),
            "shift": Alert(
                workspace_id=workspace,
                series_id=series.id,
                kind="forecast_shift",
                severity="info",
                message="The forecast of CHAIR-01 moved by 35%.",
                created_at=created,
            ),
            "silent": Alert(
                workspace_id=workspace,
                series_id=series.id,
                kind="silent",
                severity="warning",
                message="CHAIR-01 has not sold for 4 weeks.",
                read=True,
                read_at=created,
                created_at=created - dt.timedelta(days=1),
            ),
        }
        session.add_all(alerts.values())
        session.flush()
        ids = {name: alert.id for name, alert in alerts.items()}
        ids["series"] = series.id
        return ids


def loaded_window(qtbot, runtime: Runtime, qsettings: QSettings) -> MainWindow:
    window = MainWindow(runtime, settings=qsettings)
    qtbot.addWidget(window)
    window.resize(1100, 700)
    window.show()
    with qtbot.waitSignal(window.alerts.loaded, timeout=10_000):
        window.refresh()
    return window


def row_of(page: AlertsPage, alert_id: int) -> int:
    for row in range(page.proxy.rowCount()):
        if page.proxy.index(row, 0).data(Qt.ItemDataRole.UserRole + 1) == alert_id:
            return row
    raise AssertionError(f"alert {alert_id} is not shown")


def test_unread_alerts_are_bold_filterable_and_counted_on_the_navigation(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    ids = seed_alerts(runtime)
    window = loaded_window(qtbot, runtime, qsettings)
    page = window.alerts
    alerts_item = window.nav.item(PAGES.index("Alerts"))
    qtbot.waitUntil(lambda: alerts_item.data(BADGE_ROLE) == 3, timeout=10_000)
    assert alerts_item.toolTip() == "3 unread alerts"

    assert page.proxy.rowCount() == 4
    spike = page.proxy.index(row_of(page, ids["spike"]), AlertTableModel.MESSAGE)
    silent = page.proxy.index(row_of(page, ids["silent"]), AlertTableModel.MESSAGE)
    assert spike.data(Qt.ItemDataRole.FontRole).bold()
    assert silent.data(Qt.ItemDataRole.FontRole) is None
    severity = page.proxy.index(row_of(page, ids["spike"]), AlertTableModel.SEVERITY)
    assert severity.data() == "Critical"
    assert page.proxy.index(0, AlertTableModel.SERIES).data() == "CHAIR-01 at north"

    page.severity.setCurrentIndex(page.severity.findData("warning"))
    assert page.proxy.rowCount() == 2
    page.unread_only.setChecked(True)
    assert page.proxy.rowCount() == 1
    page.unread_only.setChecked(False)
    page.severity.setCurrentIndex(0)
    page.kind.setCurrentIndex(page.kind.findData("forecast_shift"))
    assert page.proxy.rowCount() == 1
    assert page.proxy.index(0, AlertTableModel.KIND).data() == "Forecast shift"
    page.kind.setCurrentIndex(0)

    with qtbot.waitSignal(page.unread_changed, timeout=10_000) as changed:
        page.mark_all_action.trigger()
    assert changed.args == [0]
    assert alerts_item.data(BADGE_ROLE) == 0
    assert alerts_item.toolTip() == ""
    assert not page.mark_all_action.isEnabled()
    with runtime.database.session() as session:
        assert all(alert.read for alert in session.query(Alert))


def test_an_opened_alert_is_read_through_the_api_too(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    ids = seed_alerts(runtime)
    with runtime.database.session() as session:
        key = api_keys.create_key(session, "test", ["read"]).secret
    server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
    server.start()
    try:
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {key}"
        unread = api.get(f"{server.url}/api/v1/alerts", params={"unread": "true"}, timeout=10)
        assert ids["spike"] in [a["id"] for a in unread.json()]

        window = loaded_window(qtbot, runtime, qsettings)
        window.nav.setCurrentRow(PAGES.index("Alerts"))
        page = window.alerts
        index = page.proxy.index(row_of(page, ids["spike"]), AlertTableModel.MESSAGE)
        rect = page.table.visualRect(index)
        qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert page.selected_ids() == [ids["spike"]]
        with (
            qtbot.waitSignal(page.marked, timeout=10_000) as marked,
            qtbot.waitSignal(window.series.detail_shown, timeout=10_000),
        ):
            qtbot.mouseDClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert [view["id"] for view in marked.args[0]] == [ids["spike"]]
        # Double-click opened the series of the alert.
        assert window.stack.currentWidget() is window.series
        assert window.series.selected_id() == ids["series"]

        unread = api.get(f"{server.url}/api/v1/alerts", params={"unread": "true"}, timeout=10)
        assert unread.status_code == 200
        assert ids["spike"] not in [a["id"] for a in unread.json()]
        listed = {a["id"]: a for a in api.get(f"{server.url}/api/v1/alerts", timeout=10).json()}
        assert listed[ids["spike"]]["read"] is True
        assert listed[ids["spike"]]["read_at"] is not None
        assert listed[ids["drop"]]["read"] is False
        qtbot.waitUntil(lambda: page.unread == 2, timeout=10_000)
        api.close()
    finally:
        server.stop()


def test_mark_read_marks_only_the_selected_alerts(qtbot, runtime: Runtime) -> None:
    ids = seed_alerts(runtime)
    page = AlertsPage(runtime)
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.set_workspace(workspace_id(runtime))
    page.select(ids["silent"])
    assert not page.mark_read_action.isEnabled(), "already read"
    page.select(ids["drop"])
    assert page.mark_read_action.isEnabled()
    with qtbot.waitSignal(page.marked, timeout=10_000):
        page.mark_read_action.trigger()
    with runtime.database.session() as session:
        read = {alert.id: alert.read for alert in session.query(Alert)}
    assert read == {
        ids["spike"]: False,
        ids["drop"]: True,
        ids["shift"]: False,
        ids["silent"]: True,
    }


def test_new_critical_alerts_are_announced_once(qtbot, runtime: Runtime) -> None:
    ids = seed_alerts(runtime)
    page = AlertsPage(runtime)
    qtbot.addWidget(page)
    announced: list[list[dict]] = []
    page.arrived.connect(announced.append)
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.set_workspace(workspace_id(runtime))
    assert announced == [], "what was there at the first look is not news"

    workspace = workspace_id(runtime)
    with runtime.database.session() as session:
        session.add_all(
            [
                Alert(
                    workspace_id=workspace,
                    series_id=ids["series"],
                    kind="spike",
                    severity="critical",
                    message="CHAIR-01 at north sold 140.",
                ),
                Alert(
                    workspace_id=workspace,
                    series_id=ids["series"],
                    kind="drop",
                    severity="warning",
                    message="CHAIR-01 at north sold only 1.",
                ),
            ]
        )
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.refresh()
    assert [[a["message"] for a in batch] for batch in announced] == [
        ["CHAIR-01 at north sold 140."]
    ]
    with qtbot.waitSignal(page.loaded, timeout=10_000):
        page.refresh()
    assert len(announced) == 1


def test_unread_counts_and_mark_all_read_on_sqlite_and_postgresql(database: Database) -> None:
    runtime = Runtime(config=load_config(), database=database, vault=Vault(bytes(32)))
    ids = seed_alerts(runtime)
    workspace = workspace_id(runtime)
    assert data.unread_count(database, workspace) == 3
    listed = [a["id"] for a in data.load_alerts(database, workspace)]
    # Newest first, as the API lists them.
    assert listed == sorted((ids[k] for k in ("spike", "drop", "shift", "silent")), reverse=True)
    assert data.mark_all_read(database, workspace) == 3
    assert data.unread_count(database, workspace) == 0
    assert data.mark_all_read(database, workspace) == 0
