"""Start the desktop application, or render its pages to PNG for the docs."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import sys
import tempfile
from pathlib import Path

from app.config import Config
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services.scheduling import BackgroundWork
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, SyncRun
from app.store.types import utcnow
from app.vault import Vault
from resources import resource
from ui.main_window import PAGES, MainWindow
from ui.qt import QApplication, QIcon, QSettings, QThreadPool
from ui.screenshots import render_forecast_pages
from ui.theme import apply_theme
from ui.wizard.screenshots import render_wizard, save_png, wait_until
from ui.workers import long_pool

log = logging.getLogger(__name__)


def _application() -> QApplication:
    qt_app = QApplication.instance() or QApplication(sys.argv)
    qt_app.setApplicationName("AccuPredix")
    qt_app.setWindowIcon(QIcon(str(resource("icons", "accupredix.svg"))))
    apply_theme(qt_app)
    return qt_app  # type: ignore[return-value]


def run_gui(runtime: Runtime, *, screenshot_dir: str | None = None) -> int:
    """Show the main window and run the event loop; returns the exit code.

    With ``screenshot_dir``, render the main window, the connectors page and
    every wizard page with demo data to PNGs there, and exit. The demo data
    lives in a temporary store: the operator's store is not read or changed.
    """
    qt_app = _application()
    if screenshot_dir:
        return render_screenshots(runtime.config, Path(screenshot_dir))
    background = BackgroundWork(runtime)
    background.start()
    qt_app.aboutToQuit.connect(background.stop)
    window = MainWindow(runtime, background=background)
    window.show()
    window.refresh()
    # Start-up objects (Qt wrappers, modules, the forecasting library) live as long
    # as the app: keeping them out of full garbage collections keeps those short,
    # so a collection during a big sync does not stall the window.
    gc.collect()
    gc.freeze()
    return qt_app.exec()


# -- screenshots ------------------------------------------------------------------


def demo_runtime(config: Config, folder: Path) -> Runtime:
    """A store in ``folder`` with the demo organisation and connectors in every state.

    Its vault key is made up for the occasion, so no keyring is read.
    """
    from app.demo import seed_demo  # numpy and the generator: only for screenshots

    database = Database(f"sqlite:///{folder / 'demo.db'}")
    database.upgrade()
    runtime = Runtime(config=config, database=database, vault=Vault(os.urandom(32)))
    seed_demo(database, days=180, skus=24)
    added = {
        "Orders API": connector_service.add_connector(
            database,
            runtime.vault,
            preset="custom_rest",
            name="Orders API",
            values={"base_url": "https://api.example.com/v1", "resource_path": "/orders"},
            schedule={"kind": "interval", "every": 30, "unit": "minutes"},
        ),
        "Warehouse drop folder": connector_service.add_connector(
            database,
            runtime.vault,
            preset="custom_sftp",
            name="Warehouse drop folder",
            values={"host": "sftp.example.com", "username": "accupredix", "password": "x" * 12},
            schedule={"kind": "daily", "at": "06:30", "timezone": "UTC"},
        ),
        "Xero (UK)": connector_service.add_connector(
            database,
            runtime.vault,
            preset="xero",
            name="Xero (UK)",
            values={"tenant_id": "00000000-0000-0000-0000-000000000001"},
        ),
    }
    states = {
        "Warehouse drop folder": (
            ConnectorStatus.ERROR,
            "The SFTP server sftp.example.com did not answer within 30 seconds.",
        ),
        "Xero (UK)": (
            ConnectorStatus.NEEDS_RECONNECT,
            "Xero refused the refresh token (invalid_grant): reconnect the connector.",
        ),
    }
    with database.session() as session:
        for name, (status, message) in states.items():
            connector = session.get(Connector, added[name]["id"])
            if connector is not None:
                connector.status, connector.status_message = status, message
        # A sync in progress, so the table shows its progress bar.
        session.add(
            SyncRun(
                connector_id=added["Orders API"]["id"],
                trigger="schedule",
                started_at=utcnow() - dt.timedelta(seconds=12),
                pages=18,
                rows_inserted=13_500,
            )
        )
    return runtime


def render_screenshots(config: Config, out: Path) -> int:
    """Write ``main_window.png``, ``connectors.png``, ``page-*.png`` and ``wizard-*.png``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="accupredix-screenshots-") as folder:
        runtime = demo_runtime(config, Path(folder))
        settings = QSettings(str(Path(folder) / "window.ini"), QSettings.Format.IniFormat)
        window = MainWindow(runtime, settings=settings)
        window.resize(1100, 680)
        window.show()
        loaded: list[object] = []
        window.connectors.loaded.connect(loaded.append)
        window.refresh()
        wait_until(lambda: bool(loaded) and window.workspace.count() > 0)
        save_png(window, out / "main_window.png")
        # The connector that needs reconnecting: its message and the Reconnect action show.
        page = window.connectors
        page.select(int(runtime_ids(runtime)["Xero (UK)"]))
        wait_until(page.actions_by_name["reconnect"].isVisible, timeout=10)
        save_png(window, out / "connectors.png")
        # The other pages as the navigation opens them, each once its loads are done.
        for row, title in enumerate(PAGES[1:], start=1):
            window.nav.setCurrentRow(row)
            wait_until(_pools_idle, timeout=20)
            save_png(window, out / f"page-{title.lower()}.png")
        render_forecast_pages(runtime, window, out)
        window.nav.setCurrentRow(0)
        render_wizard(runtime, out, parent=window)
        window.connectors.stop_polling()
        window.close()
        wait_until(_pools_idle, timeout=30)
        runtime.close()
    return 0


def runtime_ids(runtime: Runtime) -> dict[str, int]:
    """Connector ids by name in the demo store."""
    return {
        row["name"]: int(row["id"]) for row in connector_service.list_connectors(runtime.database)
    }


def _pools_idle() -> bool:
    return QThreadPool.globalInstance().activeThreadCount() == 0 and (
        long_pool().activeThreadCount() == 0
    )
