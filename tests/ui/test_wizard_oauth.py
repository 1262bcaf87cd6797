"""Connect in the wizard: a sign-in at the fake provider, followed from the wizard.

The fake authorisation server, the embedded server (which receives the
callback) and the test presets are those of the OAuth flow's own tests; the
"browser" follows the redirects from the sign-in page to the callback.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from app.connectors import registry
from app.oauth.tokens import forget_rotations
from app.services import secrets
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, OAuthState
from tests.app.oauth.presets import PRESETS, TenantPreset
from tests.app.oauth.support import World, connect_world
from tests.fakes.oauth_server import browse
from tests.ui.test_wizard_driver import WAIT_MS, Driver
from ui.wizard import ConnectorWizard, oauth_panel
from ui.wizard.wizard import CREDENTIALS, TEST

TENANTS = [
    {"tenantId": "11111111-1111-4111-8111-111111111111", "tenantName": "North Ltd"},
    {"tenantId": "22222222-2222-4222-8222-222222222222", "tenantName": "South Ltd"},
]


@pytest.fixture(autouse=True)
def oauth_presets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry.get_preset("custom_rest")  # the built-in presets first
    for cls in PRESETS:
        monkeypatch.setitem(registry._PRESETS, cls.id, cls)
    forget_rotations()
    yield
    forget_rotations()


@pytest.fixture
def world(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with connect_world(sqlite_database, monkeypatch, "xero", tenants=TENANTS) as started:
        yield started


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Opens URLs as the system browser would, on a thread; the pages it reached."""
    visited: list[str] = []
    threads: list[threading.Thread] = []

    def open_url(url: str) -> bool:
        def visit() -> None:
            visited.append(browse(url).text)

        thread = threading.Thread(target=visit, name="test-browser")
        threads.append(thread)
        thread.start()
        return True

    monkeypatch.setattr(oauth_panel, "open_in_browser", open_url)
    yield visited
    for thread in threads:
        thread.join(timeout=30)


def test_connect_signs_in_picks_the_organisation_and_saves_the_tokens(
    qtbot, world: World, browser: list[str]
) -> None:
    wizard = ConnectorWizard(world.runtime, server=world.server)
    qtbot.addWidget(wizard)
    wizard.show()
    driver = Driver(qtbot, wizard)
    driver.choose(TenantPreset.id)
    driver.next()
    page = wizard.credentials_page
    panel = page.panel
    assert panel is not None
    assert panel.button.isEnabled(), "Connect is configured"
    assert world.server.url in panel.callback_note.text()
    assert not driver.can_go_on, "neither signed in nor an organisation typed"

    panel.button.click()
    qtbot.waitUntil(lambda: panel.status is not None, timeout=WAIT_MS)
    assert browser, "the browser was opened"
    assert panel.status.status == "complete"
    assert "2 organisations" in panel.state_label.text()
    assert panel.choice.isVisibleTo(page)
    assert not driver.can_go_on, "an organisation must be picked"

    panel.choice.setCurrentIndex(panel.choice.findData(TENANTS[1]["tenantId"]))
    assert driver.can_go_on
    probe = driver.next()
    assert wizard.currentId() == TEST
    assert probe.isComplete(), probe.message.text()
    with world.database.session() as session:
        state = session.query(OAuthState).one()
        assert state.status == "complete", "testing left the grant for the save"

    driver.next()  # mapping: the preset's
    driver.next()  # preview
    driver.next()  # schedule
    driver.next()  # finish
    connector_id = driver.finish()

    with world.database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector is not None
        assert connector.config["tenant_id"] == TENANTS[1]["tenantId"]
        assert connector.config["tenant_name"] == "South Ltd"
        assert "access_token" not in connector.config
        tokens = secrets.read_secrets(world.vault, connector)
        assert tokens["access_token"] == world.fake.issued[-1]["access_token"]
        assert session.query(OAuthState).one().status == "claimed"


def test_connect_is_explained_when_it_is_not_configured(
    qtbot, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oauth_panel, "connect_available", lambda runtime, provider: False)
    wizard = ConnectorWizard(world.runtime, server=world.server)
    qtbot.addWidget(wizard)
    wizard.show()
    driver = Driver(qtbot, wizard)
    driver.choose(TenantPreset.id)
    driver.next()
    assert wizard.currentId() == CREDENTIALS
    panel = wizard.credentials_page.panel
    assert panel is not None
    assert not panel.button.isEnabled()
    assert "ACCUPREDIX_OAUTH_XERO_CLIENT_ID" in panel.state_label.text()


def test_reconnect_goes_straight_into_connect_and_keeps_the_rest(
    qtbot, world: World, browser: list[str]
) -> None:
    created = world.connect("Books", preset=TenantPreset.id, choice=TENANTS[0]["tenantId"])
    connector_id = int(created["id"])
    with world.database.session() as session:
        connector = session.get(Connector, connector_id)
        connector.status = ConnectorStatus.NEEDS_RECONNECT
        connector.status_message = "Xero refused the refresh token (invalid_grant)."
        connector.schedule = {"kind": "interval", "every": 2, "unit": "hours"}
        old_tokens = secrets.read_secrets(world.vault, connector)
        mapping = connector.field_mapping

    wizard = ConnectorWizard(world.runtime, connector_id, "reconnect", server=world.server)
    qtbot.addWidget(wizard)
    wizard.show()
    page = wizard.credentials_page
    qtbot.waitUntil(
        lambda: page.panel is not None and page.panel.status is not None, timeout=WAIT_MS
    )
    assert browser, "the sign-in opened without another click"
    assert wizard.currentId() == CREDENTIALS
    assert "Reconnected to Xero" in page.panel.state_label.text()
    assert "invalid_grant" in page.banner.text()

    driver = Driver(qtbot, wizard)
    probe = driver.next()
    assert probe.isComplete(), probe.message.text()
    assert driver.finish() == connector_id
    with world.database.session() as session:
        connector = session.get(Connector, connector_id)
        assert connector.status is ConnectorStatus.HEALTHY
        assert connector.schedule == {"kind": "interval", "every": 2, "unit": "hours"}
        assert connector.field_mapping == mapping
        assert connector.config["tenant_id"] == TENANTS[0]["tenantId"]
        tokens = secrets.read_secrets(world.vault, connector)
        assert tokens["access_token"] != old_tokens["access_token"], "the new sign-in is kept"
