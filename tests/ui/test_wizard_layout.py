"""The wizard by keyboard, with named controls, and no clipped text at 100% and 150%."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from app.runtime import Runtime
from app.store.db import Database
from tests.ui.test_wizard_driver import Driver, make_runtime
from ui.qt import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    Qt,
    QWidget,
)
from ui.wizard import ConnectorWizard
from ui.wizard.wizard import CREDENTIALS, FINISH, TEST

DEMO = {"channel": "web", "end": "2026-01-31", "days": "30", "skus": "4"}
REPOSITORY = Path(__file__).resolve().parents[2]
INPUTS = (QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView, QPlainTextEdit)


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return make_runtime(sqlite_database)


def walk(wizard: ConnectorWizard, driver: Driver | None = None) -> list[QWidget]:
    """Every page of an Add wizard for the demo preset, as each is shown; waits for its work."""
    pages = []
    wizard.source_page.select("demo")
    pages.append(wizard.currentPage())
    if driver is None:
        return pages
    driver.next()
    driver.fill(DEMO)
    pages.append(wizard.currentPage())
    while wizard.currentId() < FINISH:
        pages.append(driver.next())
    return pages


def unnamed_controls(page: QWidget) -> list[str]:
    """Inputs shown on ``page`` that a screen reader could not name."""
    missing = []
    for widget in page.findChildren(QWidget):
        if not widget.isVisibleTo(page) or not widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
            continue
        if isinstance(widget.parent(), QComboBox | QAbstractSpinBox):
            continue  # the line edit inside an editable combo box or spin box
        if isinstance(widget, QAbstractButton):
            if not (widget.text().replace("&", "").strip() or widget.accessibleName()):
                missing.append(type(widget).__name__)
        elif isinstance(widget, INPUTS) and not widget.accessibleName():
            missing.append(f"{type(widget).__name__} {widget.objectName()}")
    return missing


def test_every_control_has_a_name_a_screen_reader_can_say(qtbot, runtime: Runtime) -> None:
    wizard = ConnectorWizard(runtime)
    qtbot.addWidget(wizard)
    wizard.show()
    driver = Driver(qtbot, wizard)
    for page in walk(wizard, driver):
        assert unnamed_controls(page) == [], page.title()
    # The busiest forms: a custom REST source's settings and an SFTP server's.
    for preset in ("custom_rest", "custom_sftp"):
        other = ConnectorWizard(runtime)
        qtbot.addWidget(other)
        other.show()
        other.source_page.select(preset)
        Driver(qtbot, other).next()
        assert unnamed_controls(other.credentials_page) == [], preset


def tab_chain(qtbot, start: QWidget, steps: int) -> list[QWidget]:
    """The widgets Tab reaches from ``start``, in order."""
    start.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start, timeout=5_000)
    reached = [start]
    for _ in range(steps):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        reached.append(QApplication.focusWidget())
    return reached


def test_the_keyboard_alone_adds_a_connector_in_a_sensible_order(qtbot, runtime: Runtime) -> None:
    wizard = ConnectorWizard(runtime)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.activateWindow()
    qtbot.waitActive(wizard)
    tree = wizard.source_page.tree
    tree.setFocus()
    qtbot.keyClicks(tree, "Demo")
    assert wizard.draft.preset == "demo", "typing a name finds the source"
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert wizard.currentId() == CREDENTIALS, "Return goes on"

    page = wizard.credentials_page
    form = page.form
    chain = tab_chain(qtbot, page.name_edit, 5)
    expected = [page.name_edit, *(form.editor(name) for name in DEMO)]
    expected.insert(2, form.editor("seed"))
    assert chain == expected, "Tab follows the form from top to bottom"

    page.name_edit.setFocus()
    page.name_edit.clear()
    qtbot.keyClicks(page.name_edit, "Keyboard shop")
    qtbot.keyClick(page.name_edit, Qt.Key.Key_Tab)
    qtbot.keyClicks(QApplication.focusWidget(), "web")  # the channel, by its name
    for name in ("end", "days", "skus"):
        form.editor(name).setFocus()
        form.editor(name).selectAll()
        qtbot.keyClicks(form.editor(name), DEMO[name])
    assert page.isComplete(), page.summary.text()
    qtbot.keyClick(form.editor("skus"), Qt.Key.Key_Return)
    assert wizard.currentId() == TEST
    qtbot.waitUntil(lambda: not wizard.probe_page.busy, timeout=10_000)
    assert wizard.probe_page.isComplete()
    assert wizard.draft.name == "Keyboard shop"
    assert wizard.draft.values["channel"] == "web"


CHECK_SCRIPT = """
import json, sys
from pathlib import Path
from tests.ui.test_wizard_layout import clipped_in_wizard
print(json.dumps(clipped_in_wizard(Path(sys.argv[1]))))
"""


def clipped(widget: QWidget) -> bool:
    """Whether a label or button is smaller than its text needs."""
    if isinstance(widget, QLabel) and widget.wordWrap():
        return widget.height() < widget.heightForWidth(widget.width())
    hint = widget.sizeHint()
    return widget.width() < hint.width() or widget.height() < hint.height()


def clipped_in_wizard(folder: Path) -> list[str]:
    """The texts clipped on any page of an Add wizard walked with the demo preset."""
    app = QApplication.instance() or QApplication([])
    database = Database(f"sqlite:///{folder / 'store.db'}")
    database.upgrade()
    runtime = make_runtime(database)
    wizard = ConnectorWizard(runtime)
    wizard.show()

    class Bot:
        """Just enough of pytest-qt's qtbot for the driver, outside pytest."""

        def waitUntil(self, predicate, timeout: int = 30_000) -> None:  # noqa: N802
            import time

            end = time.monotonic() + timeout / 1000
            while not predicate():
                app.processEvents()
                if time.monotonic() > end:
                    raise TimeoutError
                time.sleep(0.01)

    driver = Driver(Bot(), wizard)
    found = []
    for page in walk(wizard, driver):
        app.processEvents()
        for widget in page.findChildren(QLabel) + page.findChildren(QAbstractButton):
            if widget.isVisibleTo(page) and widget.text() and clipped(widget):
                found.append(f"{page.title()}: {widget.text()[:60]!r}")
    wizard.stop()
    database.dispose()
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    "scaling",
    [{"QT_SCALE_FACTOR": "1"}, {"QT_SCALE_FACTOR": "1.5"}, {"QT_FONT_DPI": "144"}],
    ids=["100%", "150%", "150%-fonts"],
)
def test_no_text_is_clipped_at_100_and_150_percent(scaling: dict[str, str]) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **scaling}
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [sys.executable, "-c", CHECK_SCRIPT, folder],
            cwd=REPOSITORY,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
