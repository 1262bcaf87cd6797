"""Driving the connector wizard as an operator does, for the test_wizard_* modules.

Nothing here is a test. :class:`Driver` clicks the wizard's own buttons (a
disabled Next stays disabled: the operator could not go on either) and waits
for the background work of each page, as the operator waits for its spinner.
"""

from __future__ import annotations

from typing import Any

from app.config import load_config
from app.runtime import Runtime
from app.services import organisations
from app.store.db import Database
from app.store.models import Connector
from app.vault import Vault
from ui.connectors.model import ConnectorTableModel
from ui.main_window import MainWindow
from ui.qt import QSettings, QWizard
from ui.wizard import ConnectorWizard
from ui.wizard.base import WizardPage

WAIT_MS = 30_000
VAULT_KEY = bytes(range(32))
# Fields whose value decides which other fields show: set first.
DECIDING = ("auth", "pagination", "file_format")


def make_runtime(database: Database) -> Runtime:
    with database.session() as session:
        organisations.default_workspace(session)
    return Runtime(config=load_config(), database=database, vault=Vault(VAULT_KEY))


def open_window(qtbot: Any, runtime: Runtime, settings: QSettings) -> MainWindow:
    window = MainWindow(runtime, settings=settings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.connectors.loaded, timeout=WAIT_MS):
        window.refresh()
    return window


def stored(runtime: Runtime, connector_id: int) -> Connector:
    with runtime.database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector is not None
        session.expunge(connector)
        return connector


def table_cell(window: MainWindow, connector_id: int, column: int) -> Any:
    model = window.connectors.model
    position = model.position_of(connector_id)
    return None if position is None else model.index(position, column).data()


def wait_for_rows(qtbot: Any, window: MainWindow, connector_id: int, rows: int) -> None:
    """Until the connectors table shows ``rows`` for the connector (it polls the store)."""
    expected = f"{rows:,}"

    def shown() -> bool:
        window.connectors.refresh()
        return table_cell(window, connector_id, ConnectorTableModel.ROWS) == expected

    qtbot.waitUntil(shown, timeout=WAIT_MS)


class Driver:
    """The wizard, operated through its pages and buttons."""

    def __init__(self, qtbot: Any, wizard: ConnectorWizard) -> None:
        self.qtbot = qtbot
        self.wizard = wizard

    @property
    def page(self) -> WizardPage:
        page = self.wizard.currentPage()
        assert isinstance(page, WizardPage)
        return page

    def button(self, which: QWizard.WizardButton) -> Any:
        return self.wizard.button(which)

    @property
    def can_go_on(self) -> bool:
        return self.button(QWizard.WizardButton.NextButton).isEnabled()

    def choose(self, preset: str) -> None:
        assert self.wizard.currentPage() is self.wizard.source_page
        self.wizard.source_page.select(preset)
        assert self.wizard.draft.preset == preset

    def fill(self, values: dict[str, Any], *, name: str | None = None) -> None:
        page = self.wizard.credentials_page
        form = page.form
        assert form is not None, "the credentials form is built"
        if name is not None:
            page.name_edit.setText(name)
        ordered = sorted(values, key=lambda key: (key not in DECIDING, list(values).index(key)))
        for key in ordered:
            if key in form.rows:
                form.set_value(key, values[key])

    def settle(self) -> WizardPage:
        """Wait until the current page's background work is done."""
        page = self.page
        self.qtbot.waitUntil(lambda: not page.busy, timeout=WAIT_MS)
        return page

    def next(self) -> WizardPage:
        """Click Next and wait for the new page's work."""
        button = self.button(QWizard.WizardButton.NextButton)
        assert button.isEnabled(), f"Next is disabled on {self.page.title()}"
        before = self.wizard.currentId()
        button.click()
        assert self.wizard.currentId() != before, "the wizard went on"
        return self.settle()

    def finish(self) -> int:
        """Click Finish and wait for the save; returns the connector's id."""
        button = self.button(QWizard.WizardButton.FinishButton)
        assert button.isVisible(), "Finish is offered"
        assert button.isEnabled(), "Finish is enabled"
        with self.qtbot.waitSignal(self.wizard.saved, timeout=WAIT_MS) as saved:
            button.click()
        return int(saved.args[0])
