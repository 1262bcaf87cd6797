"""`accupredix doctor`: each check finds what is wrong and says how to fix it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.main import cli
from app.config import load_config
from app.ops.doctor import FAIL, OK, SKIP, WARN, Check, run_checks
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.store.db import Database
from app.vault import Vault
from embedded_api.app import create_app
from embedded_api.server import EmbeddedServer
from tests.conftest import TEST_KEY


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


@pytest.fixture
def store(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.setenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", TEST_KEY)
    monkeypatch.setenv("ACCUPREDIX_PORT", "0")
    isolated_env.mkdir(parents=True)
    database = Database(f"sqlite:///{isolated_env / 'accupredix.db'}")
    database.upgrade()
    connector_service.add_connector(
        database,
        Vault(bytes(range(32))),
        preset="custom_rest",
        name="API",
        values={"base_url": "http://127.0.0.1:9", "auth": "bearer", "token": "t0ken"},
    )
    yield database
    database.dispose()


@pytest.fixture
def running_server(store: Database) -> Iterator[EmbeddedServer]:
    config = load_config()
    runtime = Runtime(config=config, database=store, vault=Vault.from_config(config))
    server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_a_healthy_installation(store: Database) -> None:
    checks = by_name(run_checks(load_config()))
    assert checks["data directory"].status == OK
    assert checks["store"].status == OK
    assert checks["key"].status == OK
    assert checks["secrets"].status == OK
    assert "All 1 stored secrets decrypt" in checks["secrets"].detail
    assert checks["server port"].status == OK
    assert checks["public URL"].status == SKIP
    assert "tunnel" in checks["public URL"].fix
    assert checks["clock"].status == SKIP


def test_secrets_under_another_key_fail_with_the_fix(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    monkeypatch.setenv(
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", base64.b64encode(b"x" * 32).decode()
    )
    secrets = by_name(run_checks(load_config()))["secrets"]
    assert secrets.status == FAIL
    assert "1 of 1 stored secrets cannot be decrypted" in secrets.detail
    assert "_PREVIOUS" in secrets.fix
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "[FAIL] secrets" in result.output
    assert "t0ken" not in result.output


def test_no_key_and_no_keyring_is_a_failure_that_says_what_to_set(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY")
    checks = by_name(run_checks(load_config()))
    assert checks["key"].status == FAIL
    assert "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY" in checks["key"].fix
    assert checks["keyring"].status == FAIL
    assert checks["secrets"].status == FAIL


def test_a_public_url_that_reaches_this_server_and_its_clock(
    store: Database, running_server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", running_server.url)
    monkeypatch.setenv("ACCUPREDIX_PORT", str(running_server.port))
    checks = by_name(run_checks(load_config()))
    assert checks["public URL"].status == OK
    assert checks["server port"].status == OK
    assert "An AccuPredix server" in checks["server port"].detail
    assert checks["clock"].status == OK, checks["clock"].detail
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output


class _Other(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>not here</html>"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # A server whose clock is years behind.
        return "Mon, 01 Jan 2024 00:00:00 GMT"

    def log_message(self, *args: object) -> None:
        pass


def test_a_public_url_to_something_else_a_stale_clock_and_a_taken_port(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    thread = threading.Thread(target=other.serve_forever)
    thread.start()
    try:
        address = f"http://127.0.0.1:{other.server_address[1]}"
        monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", address)
        monkeypatch.setenv("ACCUPREDIX_PORT", str(other.server_address[1]))
        checks = by_name(run_checks(load_config()))
    finally:
        other.shutdown()
        other.server_close()
        thread.join()
    assert checks["public URL"].status == FAIL
    assert "answered 404" in checks["public URL"].detail
    assert checks["server port"].status == FAIL
    assert "Something else answers" in checks["server port"].detail
    assert checks["clock"].status == FAIL
    assert "ahead of" in checks["clock"].detail


def test_an_unreachable_public_url_and_store(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ACCUPREDIX_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    checks = by_name(run_checks(load_config()))
    assert checks["public URL"].status == FAIL
    assert "cannot be reached" in checks["public URL"].detail
    assert checks["store"].status == FAIL
    assert "ACCUPREDIX_DATABASE_URL" in checks["store"].fix
    assert checks["secrets"].status == SKIP
    assert WARN not in {c.status for c in checks.values() if c.name == "store"}
