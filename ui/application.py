"""Start the desktop application."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from app.runtime import Runtime
from app.services.scheduling import BackgroundWork
from resources import resource
from ui.main_window import MainWindow
from ui.qt import QApplication, QIcon, QThreadPool, QTimer
from ui.theme import apply_theme

log = logging.getLogger(__name__)


def run_gui(runtime: Runtime, *, screenshot_dir: str | None = None) -> int:
    """Show the main window and run the event loop; returns the exit code.

    With ``screenshot_dir``, render the window to PNG once the data has loaded
    and exit.
    """
    qt_app = QApplication.instance() or QApplication(sys.argv)
    qt_app.setApplicationName("AccuPredix")
    qt_app.setWindowIcon(QIcon(str(resource("icons", "accupredix.svg"))))
    apply_theme(qt_app)
    background = BackgroundWork(runtime)
    background.start()
    qt_app.aboutToQuit.connect(background.stop)
    window = MainWindow(runtime, background=background)
    window.show()
    window.refresh()
    if screenshot_dir:
        out = Path(screenshot_dir)
        out.mkdir(parents=True, exist_ok=True)

        def capture() -> None:
            QThreadPool.globalInstance().waitForDone(30_000)
            qt_app.processEvents()
            path = out / "main_window.png"
            window.grab().save(str(path))
            log.info("wrote %s", path)
            qt_app.quit()

        QTimer.singleShot(0, capture)
    return qt_app.exec()
