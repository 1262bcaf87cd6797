"""The wizard's pages one by one: the generated form, mapping, preview and schedule."""

from __future__ import annotations

import pytest

from app.canonical import BY_NAME
from app.connectors.errors import AuthError, ConfigurationError
from app.connectors.registry import get_preset
from app.mapping import TRANSFORM_TYPES
from app.redaction import register_secret
from app.runtime import Runtime
from app.store.db import Database
from tests.ui.test_wizard_driver import Driver, make_runtime
from ui.qt import QComboBox, QLineEdit, Qt, QWizard
from ui.wizard import ConnectorWizard
from ui.wizard.draft import Draft, Stored
from ui.wizard.failures import classify
from ui.wizard.field_form import FieldForm, SecretEdit
from ui.wizard.mapping_model import MappingModel
from ui.wizard.preview_page import INVALID_ROLE
from ui.wizard.transform_dialog import TransformDialog
from ui.wizard.transform_options import OPTIONS, describe, text_to_pairs

DEMO = {"channel": "web", "end": "2026-01-31", "days": "30", "skus": "4"}


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return make_runtime(sqlite_database)


@pytest.fixture
def driver(qtbot, runtime: Runtime) -> Driver:
    wizard = ConnectorWizard(runtime)
    qtbot.addWidget(wizard)
    wizard.show()
    return Driver(qtbot, wizard)


def demo_to(driver: Driver, page_id: int) -> None:
    driver.choose("demo")
    driver.next()
    driver.fill(DEMO)
    while driver.wizard.currentId() < page_id:
        driver.next()


# -- the generated form ------------------------------------------------------------


def test_fields_follow_visible_when_and_secrets_are_masked_with_a_reveal_toggle(qtbot) -> None:
    form = FieldForm(get_preset("custom_rest").fields)
    qtbot.addWidget(form)
    form.show()

    def shown(name: str) -> bool:
        return not form.rows[name].box.isHidden()

    assert shown("base_url")
    assert not shown("token")
    assert not shown("username")
    form.set_value("auth", "bearer")
    assert shown("token")
    assert not shown("password")
    form.set_value("auth", "basic")
    assert shown("username")
    assert shown("password")
    assert not shown("token")
    assert "token" not in form.values(), "a hidden field is not a setting"

    password = form.rows["password"].editor
    assert isinstance(password, SecretEdit)
    password.setText("s3cret-value")
    assert password.edit.echoMode() == QLineEdit.EchoMode.Password
    assert password.reveal.accessibleName() == "Show Password"
    password.reveal.click()
    assert password.edit.echoMode() == QLineEdit.EchoMode.Normal
    assert password.reveal.text() == "Hide"
    password.reveal.click()
    assert password.edit.echoMode() == QLineEdit.EchoMode.Password

    assert form.rows["base_url"].label.text() == "Base URL *:"
    assert form.rows["base_url"].help is not None
    assert form.editor("base_url").toolTip().startswith("The API's root")
    assert form.rows["base_url"].label.buddy() is form.rows["base_url"].editor


def test_validation_messages_show_inline_once_a_field_is_touched(driver: Driver) -> None:
    driver.choose("custom_rest")
    driver.next()
    page = driver.wizard.credentials_page
    row = page.form.rows["base_url"]
    assert row.error.isHidden(), "untouched required fields are not scolded"
    assert page.summary.text() == "To go on, fill in: Base URL."
    assert not driver.can_go_on

    page.form.set_value("base_url", "ftp://example.com")
    assert not row.error.isHidden()
    assert row.error.text() == "Base URL must be an http:// or https:// URL."
    assert page.summary.text() == "Correct the fields marked in red."
    page.form.set_value("base_url", "https://api.example.com/v1")
    assert row.error.isHidden()
    assert driver.can_go_on

    page.name_edit.setText("  ")
    assert not driver.can_go_on
    assert page.name_error.text() == "A connector needs a name."


def test_a_setting_the_source_refused_is_marked_on_its_field(driver: Driver) -> None:
    driver.choose("custom_rest")
    driver.next()
    page = driver.wizard.credentials_page
    failure = classify(ConfigurationError("bad", fields={"records_path": "finds no list"}))
    page.show_failure(failure)
    assert page.form.rows["records_path"].error.text() == "Records path finds no list."


def test_failures_read_as_plain_words_without_secrets() -> None:
    register_secret("tok-1234567890")
    failure = classify(AuthError("The API refused tok-1234567890 (401)."))
    assert failure.kind == "auth"
    assert "tok-1234567890" not in failure.message
    assert "refused the credentials" in failure.hint
    unexpected = classify(KeyError("internal detail"))
    assert unexpected.kind == "unexpected"
    assert "internal detail" not in unexpected.message


def test_an_edit_sends_only_what_changed() -> None:
    draft = Draft()
    draft.preset = "custom_sftp"
    draft.stored = Stored(
        id=1,
        preset="custom_sftp",
        name="Drop",
        status="healthy",
        status_message=None,
        config={"host": "h", "port": 22, "username": "u", "auth": "password", "timeout": 30},
        secret_names=frozenset({"password"}),
        mapping=None,
        schedule=None,
    )
    draft.values = {"host": "h", "port": "22", "username": "u2", "password": "", "timeout": "30"}
    assert draft.settings() == {"username": "u2"}, "an empty secret keeps the stored one"
    assert draft.validation_values()["password"] == "********"
    draft.values["password"] = "new"
    assert draft.settings() == {"username": "u2", "password": "new"}


# -- mapping ---------------------------------------------------------------------------


def test_the_mapping_page_lists_columns_with_required_marked_and_validates_inline(
    driver: Driver,
) -> None:
    demo_to(driver, 3)
    page = driver.wizard.mapping_page
    model = page.model
    assert model.rowCount() == len(BY_NAME)
    assert model.index(0, MappingModel.COLUMN).data() == "order_id *"
    assert model.index(5, MappingModel.COLUMN).data() == "product_name"
    assert model.index(0, MappingModel.SAMPLE).data().startswith("WEB-")
    assert page.isComplete()
    assert any(choice.path == "sku" for choice in page.discovery.fields)

    # A currency constant of four letters is refused by the engine, next to its row.
    currency = list(BY_NAME).index("currency")
    page.table.selectRow(currency)
    editor = page.editor
    editor.const.setText("EURO")
    assert editor.use_const.isChecked()
    check = model.index(currency, MappingModel.CHECK)
    assert "three-letter currency code" in check.data()
    assert check.data(Qt.ItemDataRole.ForegroundRole) is not None, "drawn in red"
    assert not page.isComplete()
    assert not driver.can_go_on
    editor.const.setText("EUR")
    assert page.isComplete()
    assert driver.wizard.draft.mapping["columns"]["currency"] == {"const": "EUR"}

    # A required column cannot be left unmapped.
    page.table.selectRow(list(BY_NAME).index("sku"))
    assert not editor.use_none.isEnabled()

    # A transform without options goes straight in; the list says what it does.
    page.table.selectRow(list(BY_NAME).index("channel"))
    upper = next(a for a in editor.add_menu.actions() if a.text() == "Upper case")
    upper.trigger()
    assert editor.transform_list.item(0).text() == "Upper case"
    assert driver.wizard.draft.mapping["columns"]["channel"]["transforms"] == [{"type": "upper"}]
    assert model.index(list(BY_NAME).index("channel"), MappingModel.TRANSFORMS).data() == (
        "Upper case"
    )


def test_the_transform_dialog_offers_the_options_and_checks_them(qtbot) -> None:
    dialog = TransformDialog(BY_NAME["quantity"], {"type": "multiply"}, ["kind", "qty"])
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not ok.isEnabled(), "a factor is required"
    by = dialog.findChildren(QLineEdit)[0]
    by.setText("abc")
    assert not ok.isEnabled()
    assert dialog.problem.text() == "Multiply by must be a number."
    by.setText("-1")
    values = next(
        w for w in dialog.findChildren(QLineEdit) if w.accessibleName() == "Condition values"
    )
    values.setText("refund, return")
    assert dialog.problem.isHidden() or not dialog.problem.text()
    field = next(
        c for c in dialog.findChildren(QComboBox) if c.accessibleName() == "Condition field"
    )
    field.setCurrentText("kind")
    assert ok.isEnabled(), dialog.problem.text()
    assert dialog.spec() == {
        "type": "multiply",
        "by": -1,
        "when": {"path": "kind", "in": ["refund", "return"]},
    }


def test_every_transform_of_the_engine_is_offered_and_described() -> None:
    assert set(OPTIONS) == set(TRANSFORM_TYPES)
    assert describe({"type": "date", "format": "%d.%m.%Y", "timezone": "Europe/Berlin"}) == (
        "Read a date (format %d.%m.%Y, zone Europe/Berlin)"
    )
    assert describe({"type": "negate", "when": {"path": "kind", "in": ["refund"]}}) == (
        "Make negative when kind is refund"
    )
    assert describe({"type": "map", "values": {"paid": "fulfilled"}, "default": "open"}) == (
        "Translate values: paid → fulfilled; else open"
    )
    assert text_to_pairs("paid = fulfilled\nbroken line\n") == (
        {"paid": "fulfilled"},
        ["broken line"],
    )


# -- preview -----------------------------------------------------------------------


def test_the_preview_marks_bad_cells_with_the_reason_and_counts_rows(driver: Driver) -> None:
    demo_to(driver, 3)
    mapping = driver.wizard.mapping_page
    mapping.table.selectRow(list(BY_NAME).index("unit_price"))
    mapping.editor.field.setCurrentText("product_name")
    assert mapping.isComplete(), "the engine accepts the mapping; the data decides"

    page = driver.next()
    model = page.model
    assert model.rowCount() == 20
    assert (model.good, model.bad) == (0, 20)
    cell = model.index(0, list(BY_NAME).index("unit_price"))
    assert cell.data(INVALID_ROLE) is True
    assert cell.data(Qt.ItemDataRole.BackgroundRole) is not None, "tinted"
    assert cell.data(Qt.ItemDataRole.ToolTipRole).startswith("unit_price: ")
    assert "0</b> rows ready, <b>20</b> with problems" in page.counts.text()
    assert page.hint.text() == "No row can be stored: go Back and correct the mapping."
    assert not page.isComplete()

    driver.button(QWizard.WizardButton.BackButton).click()
    mapping.table.selectRow(list(BY_NAME).index("unit_price"))
    mapping.editor.field.setCurrentText("unit_price")
    page = driver.next()
    assert (page.model.good, page.model.bad) == (20, 0)
    assert page.isComplete()


# -- schedule -----------------------------------------------------------------------


def test_the_schedule_is_checked_by_the_schedulers_own_rules(driver: Driver) -> None:
    demo_to(driver, 5)
    page = driver.wizard.schedule_page
    driver.qtbot.waitUntil(lambda: bool(page._zones), timeout=10_000)
    assert page.manual.isChecked()
    assert page.sync_now.isChecked()

    page.interval.setChecked(True)
    page.every.setValue(2)
    assert "at most every 5 minutes" in page.error.text()
    assert not driver.can_go_on
    page.unit.setCurrentIndex(page.unit.findData("hours"))
    assert page.description.text() == "Syncs: every 2 hours."

    page.daily.setChecked(True)
    page.zone.setCurrentText("Mars/Olympus")
    assert "time zone from the list" in page.error.text()
    page.zone.setCurrentText("Europe/Berlin")
    page.forecast_after.setChecked(True)
    page.sync_now.setChecked(False)
    assert driver.can_go_on
    assert driver.wizard.draft.schedule == {
        "kind": "daily",
        "at": "06:00",
        "timezone": "Europe/Berlin",
        "forecast_after": True,
    }
    assert driver.wizard.draft.sync_after_save is False
    finish = driver.next()
    assert finish.fields["schedule"].text() == ("Daily at 06:00 Europe/Berlin, then a forecast run")
    assert "Nothing runs" in finish.fields["next"].text()
