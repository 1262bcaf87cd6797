"""Close to tray: the decision, the window's part in it, the tray menu and notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.config import load_config
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services import organisations
from app.services import runs as run_service
from app.store.db import Database
from app.vault import Vault
from ui.main_window import MainWindow
from ui.qt import QApplication, QSettings, QSystemTrayIcon
from ui.tray import ON_CLOSE_KEY, CloseAction, Tray, alert_notice, close_action


class FakeServer:
    url = "http://127.0.0.1:8765"


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    with sqlite_database.session() as session:
        organisations.default_workspace(session)
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


@pytest.fixture
def quit_on_last_window() -> Iterator[None]:
    """Hiding to the tray changes this application-wide setting; put it back."""
    before = QApplication.quitOnLastWindowClosed()
    yield
    QApplication.setQuitOnLastWindowClosed(before)


@pytest.fixture
def window(qtbot, runtime: Runtime, qsettings: QSettings, quit_on_last_window) -> MainWindow:
    window = MainWindow(runtime, settings=qsettings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.loaded, timeout=10_000):
        window.refresh()
    # The embedded server runs (as far as the window knows), and a tray is there.
    window.set_server(FakeServer())
    window.tray.available = True
    # Unless a test answers otherwise, the question is answered "Quit" (no dialog in tests).
    window.tray.ask = lambda: (CloseAction.QUIT, False)
    return window


@pytest.mark.parametrize(
    ("busy", "tray", "remembered", "expected"),
    [
        (False, True, None, CloseAction.QUIT),
        (False, True, "tray", CloseAction.QUIT),
        (True, False, "tray", CloseAction.QUIT),
        (True, True, None, CloseAction.ASK),
        (True, True, "something else", CloseAction.ASK),
        (True, True, "tray", CloseAction.TRAY),
        (True, True, "quit", CloseAction.QUIT),
    ],
)
def test_closing_keeps_running_only_when_busy_and_a_tray_exists(
    busy: bool, tray: bool, remembered: str | None, expected: CloseAction
) -> None:
    assert close_action(busy=busy, tray_available=tray, remembered=remembered) is expected


def test_offscreen_there_is_no_tray_and_closing_quits(qtbot, qsettings: QSettings) -> None:
    from ui.qt import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    tray = Tray(host, qsettings)
    assert tray.available is QSystemTrayIcon.isSystemTrayAvailable()
    if not tray.available:
        assert tray.icon is None
        assert not tray.keep_running(busy=True)
        assert not tray.notify("title", "text"), "no tray: the window asks for attention"
    assert [a.text() for a in tray.menu.actions()] == [
        "Open AccuPredix",
        "Sync all connectors",
        "Run forecast now",
        "Quit",
    ]


def test_a_remembered_answer_hides_the_window_and_keeps_the_app(
    window: MainWindow, qsettings: QSettings
) -> None:
    qsettings.setValue(ON_CLOSE_KEY, "tray")
    assert window.close() is False, "the close was refused"
    assert not window.isVisible()
    assert not QApplication.quitOnLastWindowClosed()
    assert window.settings_page.controller is not None

    window.tray.actions_by_name["open"].trigger()
    assert window.isVisible()


def test_the_question_is_asked_and_its_answer_remembered(
    window: MainWindow, qsettings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []

    def ask() -> tuple[CloseAction, bool]:
        asked.append(True)
        return CloseAction.TRAY, True

    monkeypatch.setattr(window.tray, "ask", ask)
    assert window.close() is False
    assert asked == [True]
    assert qsettings.value(ON_CLOSE_KEY) == "tray"
    window.show()
    assert window.close() is False
    assert asked == [True], "remembered: not asked again"


def test_quit_answers_close_the_window(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(window.tray, "ask", lambda: (CloseAction.QUIT, False))
    assert window.close() is True
    assert not window.isVisible()


def test_quit_from_the_tray_closes_even_when_the_tray_is_remembered(
    window: MainWindow, qsettings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", lambda: quits.append(True))
    qsettings.setValue(ON_CLOSE_KEY, "tray")
    window.tray.actions_by_name["quit"].trigger()
    assert not window.isVisible()
    assert quits == [True]


def test_the_tray_menu_runs_a_forecast_and_syncs_every_connector(
    qtbot, window: MainWindow, runtime: Runtime
) -> None:
    demo = {"channel": "web", "end": "2026-11-30", "days": 30, "skus": 2}
    first = connector_service.add_connector(
        runtime.database, runtime.vault, preset="demo", name="Web", values=demo
    )["id"]
    second = connector_service.add_connector(
        runtime.database, runtime.vault, preset="demo", name="Store", values=demo
    )["id"]
    connector_service.update_connector(runtime.database, runtime.vault, second, enabled=False)

    def both_listed() -> bool:
        window.connectors.refresh()  # a load already under way is not doubled
        return window.connectors.model.rowCount() == 2

    qtbot.waitUntil(both_listed, timeout=10_000)

    with qtbot.waitSignal(window.connectors.sync_finished, timeout=60_000) as synced:
        window.tray.actions_by_name["sync"].trigger()
    assert synced.args == [first], "the disabled connector is left alone"

    with qtbot.waitSignal(window.runs.run_queued, timeout=10_000) as queued:
        window.tray.actions_by_name["run"].trigger()
    assert run_service.get_run(runtime.database, queued.args[0])["status"] == "queued"


def test_new_critical_alerts_make_a_notice() -> None:
    one = [{"message": "CHAIR-01 sold 90, above the expected 20 to 40."}]
    assert alert_notice(one) == (
        "1 critical demand alert",
        "CHAIR-01 sold 90, above the expected 20 to 40.",
    )
    three = [*one, {"message": "b"}, {"message": "c"}]
    assert alert_notice(three) == (
        "3 critical demand alerts",
        "CHAIR-01 sold 90, above the expected 20 to 40. (and 2 more: see Alerts)",
    )
