"""``accupredix connector connect`` and ``reconnect``: browser, callback, connector saved."""

from __future__ import annotations

import socket
import threading
import webbrowser
from collections.abc import Iterator

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import select

from app.cli.main import cli
from app.config import load_config
from app.oauth.providers import PROVIDERS
from app.services import secrets
from app.store.db import open_database
from app.store.models import Connector, ConnectorStatus
from app.vault import Vault
from tests.app.oauth import presets
from tests.conftest import TEST_KEY
from tests.fakes.oauth_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    COMPANY,
    REALM_ID,
    FakeOAuthServer,
    browse,
    serve_oauth,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    """Stands in for ``webbrowser.open``: follows the sign-in on a thread, like a browser."""

    def __init__(self) -> None:
        self.pages: list[requests.Response] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str, *args: object, **kwargs: object) -> bool:
        thread = threading.Thread(target=lambda: self.pages.append(browse(url)))
        thread.start()
        self.threads.append(thread)
        return True

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOAuthServer]:
    port = free_port()
    with serve_oauth("quickbooks") as fake:
        monkeypatch.setitem(PROVIDERS, "quickbooks", fake.provider(PROVIDERS["quickbooks"]))
        monkeypatch.setattr(presets, "API_BASE", fake.url)
        monkeypatch.setenv("ACCUPREDIX_PORT", str(port))
        monkeypatch.setenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", TEST_KEY)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_SECRET", CLIENT_SECRET)
        fake.allow_redirect(f"http://127.0.0.1:{port}/oauth/quickbooks/callback")
        yield fake


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    browser = Browser()
    monkeypatch.setattr(webbrowser, "open", browser.open)
    yield browser
    browser.join()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def connectors() -> list[Connector]:
    database = open_database(load_config())
    try:
        with database.session() as session:
            return list(session.scalars(select(Connector).order_by(Connector.id)))
    finally:
        database.dispose()


def test_connect_opens_the_browser_and_saves_the_connector(
    fake: FakeOAuthServer, browser: Browser
) -> None:
    result = run(
        "connector", "connect", "quickbooks", "--preset", "test_oauth_company", "--name", "Books"
    )
    browser.join()
    assert result.exit_code == 0, result.output
    assert f"({COMPANY})" in result.output.splitlines()[-1]
    assert fake.url + "/oauth2/authorize?" in result.output
    assert [page.status_code for page in browser.pages] == [200]
    (connector,) = connectors()
    assert (connector.name, connector.config["realm_id"]) == ("Books", REALM_ID)
    vault = Vault.from_config(load_config())
    assert secrets.read_secrets(vault, connector)["access_token"] == fake.issued[0]["access_token"]
    assert fake.issued[0]["access_token"] not in result.output

    fake.revoke_all()
    synced = run("connector", "sync", str(connector.id))
    assert synced.exit_code != 0
    assert connectors()[0].status is ConnectorStatus.NEEDS_RECONNECT

    again = run("connector", "reconnect", str(connector.id))
    browser.join()
    assert again.exit_code == 0, again.output
    assert f"connector {connector.id} reconnected ({COMPANY})" in again.output
    (healed,) = connectors()
    assert healed.status is ConnectorStatus.HEALTHY
    assert run("connector", "sync", str(connector.id)).exit_code == 0


def test_connect_reports_a_cancelled_sign_in(fake: FakeOAuthServer, browser: Browser) -> None:
    fake.deny_next()
    result = run(
        "connector", "connect", "quickbooks", "--preset", "test_oauth_company", "--name", "Books"
    )
    browser.join()
    assert result.exit_code == 1
    assert "Sign-in cancelled" in result.output
    assert connectors() == []


def test_connect_without_a_browser_prints_the_address_and_times_out(
    fake: FakeOAuthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    result = run(
        "connector",
        "connect",
        "quickbooks",
        "--preset",
        "test_oauth_company",
        "--name",
        "Books",
        "--no-browser",
        "--timeout",
        "1",
    )
    assert opened == []
    assert result.exit_code == 1
    assert fake.url + "/oauth2/authorize?" in result.output
    assert "did not finish within 1 s" in result.output
