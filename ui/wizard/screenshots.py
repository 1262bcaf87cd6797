"""Rendering each wizard page to PNG offscreen, for ``accupredix gui --screenshot``.

The form pages show a custom REST source pointed at an address where nothing
listens (they call nothing); the test, mapping, preview, schedule and finish
pages run the demo preset for real, so they show what an operator sees.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

from app.runtime import Runtime
from ui.qt import QApplication, QEventLoop, QImage, Qt, QWidget
from ui.wizard.wizard import ConnectorWizard

log = logging.getLogger(__name__)

WAIT_SECONDS = 60.0

REST_EXAMPLE = {
    "base_url": "http://127.0.0.1:9/api",
    "resource_path": "/orders",
    "auth": "bearer",
    "token": "example-token",
    "records_path": "orders",
    "pagination": "link_header",
    "incremental_param": "updated_since",
    "updated_field": "updated_at",
}


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_SECONDS) -> bool:
    """Run the event loop until ``predicate()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if predicate():
            return True
        time.sleep(0.01)
    log.warning("screenshot: gave up waiting after %s s", timeout)
    return False


def save_png(widget: QWidget, path: Path) -> Path:
    """The widget as a PNG in 256 colours: flat UI colours survive, and the file is small."""
    QApplication.processEvents()
    image = widget.grab().toImage()
    # Without dithering: a dithered flat background compresses worse than the original.
    flags = Qt.ImageConversionFlag.ThresholdDither | Qt.ImageConversionFlag.AvoidDither
    small = image.convertToFormat(QImage.Format.Format_Indexed8, flags)
    (small if not small.isNull() else image).save(str(path), "PNG")
    log.info("wrote %s", path)
    return path


def render_wizard(runtime: Runtime, out: Path, *, parent: QWidget | None = None) -> list[Path]:
    """Every page of the Add wizard as ``wizard-N-page.png`` in ``out``."""
    written = []
    wizard = ConnectorWizard(runtime, parent=parent)
    wizard.show()
    wizard.source_page.select("custom_rest")
    written.append(save_png(wizard, out / "wizard-1-source.png"))
    wizard.next()
    form = wizard.credentials_page.form
    if form is not None:
        for name, value in REST_EXAMPLE.items():
            form.set_value(name, value)
    wizard.credentials_page.name_edit.setText("Orders API")
    written.append(save_png(wizard, out / "wizard-2-credentials.png"))
    wizard.stop()
    wizard.close()

    wizard = ConnectorWizard(runtime, parent=parent)
    wizard.show()
    wizard.source_page.select("demo")
    wizard.next()
    form = wizard.credentials_page.form
    if form is not None:
        end = dt.date.today() - dt.timedelta(days=1)
        for name, value in (("channel", "web"), ("end", end.isoformat()), ("days", "90")):
            form.set_value(name, value)
        form.set_value("skus", "12")
    wizard.credentials_page.name_edit.setText("Web shop (demo)")
    steps = (
        (wizard.probe_page, "wizard-3-test.png"),
        (wizard.mapping_page, "wizard-4-mapping.png"),
        (wizard.preview_page, "wizard-5-preview.png"),
        (wizard.schedule_page, "wizard-6-schedule.png"),
        (wizard.finish_page, "wizard-7-finish.png"),
    )
    for page, name in steps:
        wizard.next()
        wait_until(lambda page=page: not page.busy)
        if page is wizard.mapping_page:
            wizard.mapping_page.table.selectRow(3)
        if page is wizard.schedule_page:
            page.show_spec({"kind": "daily", "at": "06:30", "timezone": "Europe/Berlin"})
            wait_until(lambda page=page: page.isComplete())
        written.append(save_png(wizard, out / name))
    wizard.stop()
    wizard.close()
    return written
