"""The wizard against the fake REST API: add, a failing test, edit, reconnect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services import secrets
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus
from tests.fakes.rest_api import ORDER_LINES_MAPPING, TOKEN, FakeRestApi, serve_rest_api
from tests.ui.test_wizard_driver import (
    WAIT_MS,
    Driver,
    make_runtime,
    open_window,
    stored,
    table_cell,
    wait_for_rows,
)
from ui.connectors.model import STATUS_ROLE, ConnectorTableModel
from ui.main_window import MainWindow
from ui.qt import QLineEdit, QSettings, Qt, QWizard
from ui.wizard.field_form import STORED_PLACEHOLDER, SecretEdit
from ui.wizard.preview_page import INVALID_ROLE
from ui.wizard.wizard import CREDENTIALS, FINISH, MAPPING, PREVIEW, SCHEDULE, TEST

ORDERS = 40
LINES = 3


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return make_runtime(sqlite_database)


@pytest.fixture
def api() -> Iterator[FakeRestApi]:
    with serve_rest_api(orders=ORDERS, pagination="link_header", auth="bearer") as served:
        yield served


def add_rest(runtime: Runtime, api: FakeRestApi, **values: object) -> int:
    created = connector_service.add_connector(
        runtime.database,
        runtime.vault,
        preset="custom_rest",
        name="Orders API",
        values=api.connector_settings(**values),
        mapping=ORDER_LINES_MAPPING,
    )
    return int(created["id"])


def open_add(window: MainWindow, qtbot) -> Driver:
    window.connectors.actions_by_name["add"].trigger()
    wizard = window.wizard
    assert wizard is not None
    assert wizard.isVisible()
    assert wizard.windowModality() == Qt.WindowModality.WindowModal
    assert wizard.parent() is window
    return Driver(qtbot, wizard)


def test_add_a_rest_source_through_to_a_finished_first_sync(
    qtbot, runtime: Runtime, api: FakeRestApi, qsettings: QSettings
) -> None:
    window = open_window(qtbot, runtime, qsettings)
    driver = open_add(window, qtbot)
    driver.choose("custom_rest")
    driver.next()
    assert driver.wizard.currentId() == CREDENTIALS
    assert not driver.can_go_on, "Base URL is still empty"
    assert "Base URL" in driver.wizard.credentials_page.summary.text()
    driver.fill(api.connector_settings(), name="Web orders")
    assert driver.wizard.credentials_page.problems == {}

    test_page = driver.next()
    assert driver.wizard.currentId() == TEST
    assert "Connected to 127.0.0.1" in test_page.message.text()
    assert test_page.anyway.isHidden()

    mapping = driver.next()
    assert driver.wizard.currentId() == MAPPING
    # The preset's flat mapping misses the nested line items: matched by name instead.
    assert "matched by name" in mapping.note.text()
    assert driver.wizard.draft.mapping["columns"]["line_id"] == {"path": "line_items[].id"}
    assert mapping.summary.text() == "The mapping is complete."

    preview = driver.next()
    assert driver.wizard.currentId() == PREVIEW
    assert preview.model.rowCount() == 20
    assert (preview.model.good, preview.model.bad) == (20, 0)
    assert not any(
        preview.model.index(row, col).data(INVALID_ROLE)
        for row in range(preview.model.rowCount())
        for col in range(preview.model.columnCount())
    )

    schedule = driver.next()
    assert driver.wizard.currentId() == SCHEDULE
    assert schedule.sync_now.isChecked(), "sync now after saving is the default"
    schedule.interval.setChecked(True)
    schedule.every.setValue(30)
    assert schedule.description.text() == "Syncs: every 30 minutes."

    driver.next()
    assert driver.wizard.currentId() == FINISH
    with qtbot.waitSignal(window.connectors.sync_finished, timeout=WAIT_MS):
        connector_id = driver.finish()
    assert not driver.wizard.isVisible()

    wait_for_rows(qtbot, window, connector_id, ORDERS * LINES)
    assert table_cell(window, connector_id, ConnectorTableModel.NAME) == "Web orders"
    position = window.connectors.model.position_of(connector_id)
    status = window.connectors.model.index(position, ConnectorTableModel.STATUS)
    assert status.data(STATUS_ROLE) == "healthy"
    saved = stored(runtime, connector_id)
    assert saved.schedule == {"kind": "interval", "every": 30, "unit": "minutes"}
    assert "token" not in saved.config, "the token is a secret, not a setting"
    assert TOKEN not in str(saved.secrets["token"]), "stored encrypted"
    assert secrets.read_secrets(runtime.vault, saved)["token"] == TOKEN


def test_a_failing_test_keeps_the_operator_on_the_page_with_the_source_message(
    qtbot, runtime: Runtime, api: FakeRestApi, qsettings: QSettings
) -> None:
    window = open_window(qtbot, runtime, qsettings)
    driver = open_add(window, qtbot)
    driver.choose("custom_rest")
    driver.next()
    driver.fill(api.connector_settings(token="not-the-token"))
    page = driver.next()

    assert driver.wizard.currentId() == TEST
    assert "Invalid API key or access token" in page.message.text()
    assert "refused the credentials" in page.hint.text()
    assert not page.isComplete()
    assert not driver.can_go_on
    assert "not-the-token" not in page.message.text()

    # Going on anyway is an explicit choice.
    assert not page.anyway.isHidden()
    page.anyway.setChecked(True)
    assert driver.can_go_on
    page.anyway.setChecked(False)

    # Back, fix the token, and the test passes.
    driver.button(QWizard.WizardButton.BackButton).click()
    assert driver.wizard.currentId() == CREDENTIALS
    driver.fill({"token": TOKEN})
    page = driver.next()
    assert page.isComplete()
    assert "Connected" in page.message.text()
    with runtime.database.session() as session:
        assert session.query(Connector).count() == 0, "testing saves nothing"


def test_a_slow_probe_can_be_cancelled(
    qtbot, runtime: Runtime, api: FakeRestApi, qsettings: QSettings
) -> None:
    window = open_window(qtbot, runtime, qsettings)
    driver = open_add(window, qtbot)
    driver.choose("custom_rest")
    driver.next()
    driver.fill(api.connector_settings())
    api.respond_slowly(1, 3.0)
    driver.button(QWizard.WizardButton.NextButton).click()
    page = driver.wizard.probe_page
    assert page.busy
    assert page.bar.isVisibleTo(page)
    qtbot.waitUntil(lambda: api.served >= 1 or bool(api.log), timeout=5_000)

    page.cancel_button.click()
    assert not page.busy
    assert page.message.text() == "Test cancelled."
    assert not page.isComplete()
    page.retry_button.click()
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT_MS)
    assert page.isComplete(), "the retry is answered at once"


def test_edit_shows_stored_secrets_masked_and_keeps_them_unless_replaced(
    qtbot, runtime: Runtime, api: FakeRestApi, qsettings: QSettings
) -> None:
    connector_id = add_rest(runtime, api)
    before = stored(runtime, connector_id)
    window = open_window(qtbot, runtime, qsettings)
    window.connectors.select(connector_id)
    window.connectors.actions_by_name["edit"].trigger()
    driver = Driver(qtbot, window.wizard)
    wizard = driver.wizard
    qtbot.waitUntil(lambda: wizard.credentials_page.form is not None, timeout=WAIT_MS)

    assert wizard.currentId() == CREDENTIALS, "editing skips the source page"
    token = wizard.credentials_page.form.rows["token"].editor
    assert isinstance(token, SecretEdit)
    assert token.text() == ""
    assert token.edit.placeholderText() == STORED_PLACEHOLDER
    assert token.edit.echoMode() == QLineEdit.EchoMode.Password
    assert all(TOKEN not in edit.text() for edit in wizard.findChildren(QLineEdit))
    assert wizard.credentials_page.isComplete(), "a stored secret satisfies its field"

    # Rename only, and finish from the test page: the secret's ciphertext stays as it was.
    wizard.credentials_page.name_edit.setText("Orders API (EU)")
    driver.next()
    assert wizard.probe_page.isComplete()
    with qtbot.waitSignal(window.connectors.sync_finished, timeout=WAIT_MS):
        assert driver.finish() == connector_id
    after = stored(runtime, connector_id)
    assert after.name == "Orders API (EU)"
    assert after.secrets["token"] == before.secrets["token"]
    assert after.config == before.config
    assert after.field_mapping == ORDER_LINES_MAPPING

    # Replace the token: stored anew, encrypted.
    window.connectors.select(connector_id)
    window.connectors.actions_by_name["edit"].trigger()
    driver = Driver(qtbot, window.wizard)
    qtbot.waitUntil(lambda: driver.wizard.credentials_page.form is not None, timeout=WAIT_MS)
    driver.fill({"token": "a-replaced-token"})
    page = driver.next()
    assert "Invalid API key" in page.message.text()
    page.anyway.setChecked(True)
    with qtbot.waitSignal(window.connectors.sync_finished, timeout=WAIT_MS):
        driver.finish()
    replaced = stored(runtime, connector_id)
    assert replaced.secrets["token"] != before.secrets["token"]
    assert secrets.read_secrets(runtime.vault, replaced)["token"] == "a-replaced-token"


def test_needs_reconnect_shows_reconnect_which_opens_the_credentials(
    qtbot, runtime: Runtime, api: FakeRestApi, qsettings: QSettings
) -> None:
    connector_id = add_rest(runtime, api, token="an-expired-token")
    connector_service.update_connector(
        runtime.database,
        runtime.vault,
        connector_id,
        schedule={"kind": "daily", "at": "05:00", "timezone": "Europe/Berlin"},
    )
    window = open_window(qtbot, runtime, qsettings)
    with qtbot.waitSignal(window.connectors.sync_finished, timeout=WAIT_MS):
        window.connectors.sync(connector_id)
    qtbot.waitUntil(
        lambda: stored(runtime, connector_id).status is ConnectorStatus.NEEDS_RECONNECT,
        timeout=WAIT_MS,
    )
    with qtbot.waitSignal(window.connectors.loaded, timeout=WAIT_MS):
        window.connectors.refresh()
    window.connectors.select(connector_id)
    reconnect = window.connectors.actions_by_name["reconnect"]
    assert reconnect.isVisible()
    assert reconnect.isEnabled()

    reconnect.trigger()
    driver = Driver(qtbot, window.wizard)
    page = driver.wizard.credentials_page
    qtbot.waitUntil(lambda: page.form is not None, timeout=WAIT_MS)
    assert driver.wizard.currentId() == CREDENTIALS
    assert "Reconnect" in driver.wizard.windowTitle()
    assert not page.banner.isHidden()
    assert "needs to be reconnected" in page.banner.text()
    assert "Invalid API key" in page.banner.text(), "the source's message is shown"
    token = page.form.editor("token")
    qtbot.waitUntil(lambda: driver.wizard.focusWidget() is token, timeout=5_000)

    driver.fill({"token": TOKEN})
    driver.next()
    with qtbot.waitSignal(window.connectors.sync_finished, timeout=WAIT_MS):
        driver.finish()
    after = stored(runtime, connector_id)
    assert after.status is ConnectorStatus.HEALTHY
    assert after.schedule == {"kind": "daily", "at": "05:00", "timezone": "Europe/Berlin"}
    assert after.field_mapping == ORDER_LINES_MAPPING
    wait_for_rows(qtbot, window, connector_id, ORDERS * LINES)
