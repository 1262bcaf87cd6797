"""Settings: the embedded server, API keys against it, BI, OAuth apps, security, organisation."""

from __future__ import annotations

import base64
import socket

import pytest
import requests

from app.config import load_config
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services import organisations
from app.services.errors import InvalidInput
from app.services.secrets import read_secrets
from app.store.db import Database
from app.store.models import Connector, Frequency, Organisation, Plan, Workspace
from app.vault import Vault, key_id
from embedded_api.auth import KEY_CACHE_SECONDS, KeyRegistry
from ui.main_window import PAGES, MainWindow
from ui.qt import QGuiApplication, QMessageBox, QSettings
from ui.settings.defaults import save_forecast_defaults
from ui.settings.page import SettingsPage

PUBLIC_URL = "https://forecast.example.com"


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    with sqlite_database.session() as session:
        organisations.set_plan(session, "growth")
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


def workspace_id(runtime: Runtime) -> int:
    with runtime.database.session() as session:
        return organisations.default_workspace(session).id


def settings_page(qtbot, runtime: Runtime, qsettings: QSettings) -> SettingsPage:
    page = SettingsPage(runtime, qsettings)
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    return page


def answer_yes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def start(qtbot, page: SettingsPage) -> object:
    page.server.port.setValue(0)  # any free port
    with qtbot.waitSignal(page.controller.changed, timeout=10_000) as changed:
        page.server.toggle.click()
    assert changed.args[0] is not None
    return changed.args[0]


def stop(qtbot, page: SettingsPage) -> None:
    with qtbot.waitSignal(page.controller.changed, timeout=15_000) as changed:
        page.server.toggle.click()
    assert changed.args == [None]


def port_is_free(port: int) -> bool:
    """Nothing listens on the port and a server (with SO_REUSEADDR, as Waitress) can bind it.

    The port's closed connections may linger in TIME_WAIT; they keep no server from it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        if client.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_created_in_settings_works_against_the_server_until_revoked(
    qtbot, runtime: Runtime, qsettings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = MainWindow(runtime, settings=qsettings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.settings_page.keys.loaded, timeout=10_000):
        window.refresh()
    window.nav.setCurrentRow(PAGES.index("Settings"))
    page = window.settings_page
    server = start(qtbot, page)
    assert window.server_label.text() == f"Server: listening on {server.url}"
    assert page.server.state.text() == f"Running on {server.url}"
    assert page.server.fields["api"].value() == f"{server.url}/api/v1"
    assert page.bi.odata.value() == f"{server.url}/odata/"
    # The server's key cache on a clock of the test's, so that expiry needs no waiting.
    clock = Clock()
    page.controller.app.config["KEY_REGISTRY"] = KeyRegistry(clock=clock)

    keys = page.keys
    keys.name.setText("Zapier")
    keys.scopes["write"].setChecked(True)
    with qtbot.waitSignal(keys.loaded, timeout=10_000):
        keys.create_button.click()
    secret = keys.new_key.value()
    assert secret.startswith("apx_")
    assert keys.new_key_box.isVisibleTo(keys)
    keys.new_key.button.click()
    assert QGuiApplication.clipboard().text() == secret
    assert keys.model.rowCount() == 1
    assert keys.model.index(0, 0).data() == "Zapier"
    assert keys.model.index(0, 1).data() == secret[:12] + "_…"
    assert keys.model.index(0, 2).data() == "read, write"
    assert keys.model.index(0, 4).data() == "never"

    with requests.Session() as api:
        api.headers["Authorization"] = f"Bearer {secret}"
        answer = api.get(f"{server.url}/api/v1/runs", timeout=10)
        assert answer.status_code == 200, answer.text
        posted = api.post(f"{server.url}/api/v1/runs", json={"horizon": 4}, timeout=10)
        assert posted.status_code in (201, 202), posted.text

        keys.forget_new_key()
        assert keys.new_key.value() == ""
        assert not keys.new_key_box.isVisibleTo(keys)
        with qtbot.waitSignal(keys.loaded, timeout=10_000):
            keys.refresh()
        assert keys.model.index(0, 4).data() == "just now", "last use is shown"

        asked = answer_yes(monkeypatch)
        keys.table.selectRow(0)
        with qtbot.waitSignal(keys.loaded, timeout=10_000):
            keys.revoke_button.click()
        assert f"within {KEY_CACHE_SECONDS:g} seconds" in asked[0]
        assert keys.model.index(0, 5).data().startswith("revoked")
        assert not keys.revoke_button.isEnabled()
        clock.now += KEY_CACHE_SECONDS + 1
        refused = api.get(f"{server.url}/api/v1/runs", timeout=10)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "The API key is not valid or was revoked."

    port = server.port
    stop(qtbot, page)
    assert window.server_label.text() == "Server: off"
    assert page.server.state.text() == "Stopped"
    assert port_is_free(port)
    window.close()


def test_start_and_stop_free_the_port_and_a_taken_port_is_explained(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    page = settings_page(qtbot, runtime, qsettings)
    server = start(qtbot, page)
    port = server.port
    assert not port_is_free(port)
    assert requests.get(f"{server.url}/healthz", timeout=10).json()["status"] == "ok"
    assert not page.server.port.isEnabled(), "the port is fixed while the server runs"
    stop(qtbot, page)
    assert port_is_free(port)
    assert page.server.port.isEnabled()
    assert qsettings.value("server/running") in (False, "false")
    # Started again on the same port: the first server left nothing behind.
    page.server.port.setValue(port)
    with qtbot.waitSignal(page.controller.changed, timeout=10_000) as changed:
        page.server.toggle.click()
    assert changed.args[0].port == port
    stop(qtbot, page)

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        page.server.port.setValue(taken_port)
        with qtbot.waitSignal(page.controller.failed, timeout=10_000) as failed:
            page.server.toggle.click()
    message = failed.args[0]
    assert message.startswith(f"Cannot listen on 127.0.0.1:{taken_port}: ")
    assert "Choose another port" in message
    assert page.server.message.text() == message
    assert page.server.state.text() == "Stopped"
    assert page.server.toggle.isEnabled()
    assert page.controller.server is None


def test_the_server_restarts_when_it_ran_at_the_last_close(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    page = settings_page(qtbot, runtime, qsettings)
    start(qtbot, page)
    page.shutdown()
    assert page.controller.server is None
    assert qsettings.value("server/running") in (True, "true")

    again = settings_page(qtbot, runtime, qsettings)
    assert again.server.port.value() == 0
    with qtbot.waitSignal(again.controller.changed, timeout=10_000) as changed:
        again.server.restore()
    assert changed.args[0] is not None
    again.shutdown()


def test_addresses_and_shopify_webhooks_follow_the_public_url(
    qtbot, sqlite_database: Database, qsettings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))
    workspace = workspace_id(runtime)
    with sqlite_database.session() as session:
        shop = Connector(workspace_id=workspace, preset="shopify", name="Main shop")
        session.add(shop)
        session.flush()
        shop_id = shop.id

    page = settings_page(qtbot, runtime, qsettings)
    with qtbot.waitSignal(page.server.webhooks_loaded, timeout=10_000):
        page.set_workspace(workspace)
    assert page.server.fields["api"].value() == "http://127.0.0.1:8765/api/v1"
    assert page.server.fields["odata"].value() == "http://127.0.0.1:8765/odata/"
    assert page.server.public.text().startswith("not set")
    assert "Main shop" not in page.server.webhook_fields
    assert page.server.note.text().startswith(
        "Shopify can only reach this server through a public URL"
    )
    assert "http://127.0.0.1:8765" in page.server.note.text()

    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", PUBLIC_URL)
    public = Runtime(config=load_config(), database=sqlite_database, vault=runtime.vault)
    page = settings_page(qtbot, public, qsettings)
    with qtbot.waitSignal(page.server.webhooks_loaded, timeout=10_000):
        page.set_workspace(workspace)
    assert page.server.public.text() == PUBLIC_URL
    assert page.server.fields["api"].value() == f"{PUBLIC_URL}/api/v1"
    webhook = page.server.webhook_fields["Main shop"]
    assert webhook.value() == f"{PUBLIC_URL}/webhooks/connectors/shopify/{shop_id}"
    webhook.button.click()
    assert QGuiApplication.clipboard().text() == webhook.value()
    assert page.bi.odata.value() == f"{PUBLIC_URL}/odata/"


def test_oauth_apps_say_where_credentials_come_from_and_never_show_a_secret(
    qtbot, sqlite_database: Database, qsettings: QSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "xero-client-secret-0123456789"
    monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_ID", "ABCDEF0123456789ABCDEF")
    monkeypatch.setenv("ACCUPREDIX_OAUTH_XERO_CLIENT_SECRET", secret)
    runtime = Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))
    page = settings_page(qtbot, runtime, qsettings)
    oauth = page.oauth
    assert oauth.status["xero"].text() == (
        "Configured from the environment (client id ABCDEF…CDEF, secret ********)."
    )
    assert oauth.status["shopify"].text() == (
        "Not configured: set ACCUPREDIX_OAUTH_SHOPIFY_CLIENT_ID and "
        "ACCUPREDIX_OAUTH_SHOPIFY_CLIENT_SECRET."
    )
    assert oauth.redirects["xero"].value() == "http://127.0.0.1:8765/oauth/xero/callback"
    texts = [label.text() for label in page.findChildren(type(oauth.status["xero"]))]
    assert not any(secret in text for text in texts)

    server = start(qtbot, page)
    assert oauth.redirects["quickbooks"].value() == f"{server.url}/oauth/quickbooks/callback"
    stop(qtbot, page)


def test_security_shows_the_key_source_and_rotates(
    qtbot,
    sqlite_database: Database,
    qsettings: QSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key, new_key = bytes(range(32)), bytes(range(1, 33))
    old_vault = Vault(old_key)
    created = connector_service.add_connector(
        sqlite_database,
        old_vault,
        preset="custom_rest",
        name="Orders API",
        values={
            "base_url": "https://api.example.com/v1",
            "auth": "bearer",
            "token": "tok-0123456789abcdef",
        },
    )
    monkeypatch.setenv(
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", base64.b64encode(new_key).decode()
    )
    monkeypatch.setenv(
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS", base64.b64encode(old_key).decode()
    )
    config = load_config()
    runtime = Runtime(config=config, database=sqlite_database, vault=Vault.from_config(config))
    page = settings_page(qtbot, runtime, qsettings)
    security = page.security
    security.refresh()
    qtbot.waitUntil(lambda: security.fingerprint.text() == key_id(new_key), timeout=10_000)
    assert security.source.text() == (
        "the environment variable ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY"
    )
    assert security.previous.text() == key_id(old_key)

    answer_yes(monkeypatch)
    with qtbot.waitSignal(security.rotated, timeout=30_000) as rotated:
        security.rotate_button.click()
    assert rotated.args[0].rotated == 1
    assert security.message.text() == (
        "Re-encrypted 1 secrets; 0 were already under the current key."
    )
    with sqlite_database.session() as session:
        connector = session.get(Connector, created["id"])
        # Readable with the new key alone: the old one can go.
        assert read_secrets(Vault(new_key), connector) == {"token": "tok-0123456789abcdef"}


def test_security_without_a_key_in_the_environment_names_the_keyring(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    page = settings_page(qtbot, runtime, qsettings)
    page.security.refresh()
    qtbot.waitUntil(lambda: page.security.source.text() != "…", timeout=10_000)
    assert page.security.source.text().startswith("the OS keyring (")
    assert page.security.fingerprint.text() == "—"
    # The tests' keyring refuses every call: said, not raised.
    assert page.security.note.text().startswith("The keyring cannot be read")


def test_organisation_plan_and_forecast_defaults_are_saved(
    qtbot, runtime: Runtime, qsettings: QSettings
) -> None:
    page = settings_page(qtbot, runtime, qsettings)
    panel = page.organisation
    with qtbot.waitSignal(panel.loaded, timeout=10_000):
        page.set_workspace(workspace_id(runtime))
    assert panel.name.text() == "My organisation"
    assert panel.plan.currentData() == "growth"
    assert (panel.horizon.value(), panel.service_level.value(), panel.lead_time.value()) == (
        12,
        95.0,
        14,
    )
    panel.plan.setCurrentIndex(panel.plan.findData("enterprise"))
    panel.frequency.setCurrentIndex(panel.frequency.findData("daily"))
    panel.horizon.setValue(28)
    panel.service_level.setValue(97.5)
    panel.lead_time.setValue(21)
    with qtbot.waitSignal(panel.saved, timeout=10_000):
        panel.save_button.click()
    assert panel.message.text().startswith("Saved.")
    with runtime.database.session() as session:
        workspace = session.get(Workspace, workspace_id(runtime))
        organisation = session.get(Organisation, workspace.organisation_id)
        assert organisation.plan is Plan.ENTERPRISE
        assert workspace.frequency is Frequency.DAILY
        assert (workspace.horizon, workspace.service_level, workspace.lead_time_days) == (
            28,
            0.975,
            21,
        )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"horizon": 0}, "The horizon must be between 1 and 520 periods."),
        ({"service_level": 1.0}, "The service level must be between 50% and 99.9%."),
        ({"lead_time_days": 0}, "The lead time must be between 1 and 730 days."),
        ({"frequency": "hourly"}, "Unknown frequency 'hourly'; choose one of daily, weekly"),
    ],
)
def test_out_of_range_defaults_are_refused_and_nothing_is_saved(
    runtime: Runtime, values: dict, message: str
) -> None:
    workspace = workspace_id(runtime)
    with pytest.raises(InvalidInput) as refused:
        save_forecast_defaults(runtime.database, workspace, **{"horizon": 20, **values})
    assert str(refused.value).startswith(message)
    with runtime.database.session() as session:
        assert session.get(Workspace, workspace).horizon == 12
