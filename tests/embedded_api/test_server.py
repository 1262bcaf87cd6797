"""The embedded server: health, problem+json errors, and clean stops."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.config import load_config
from app.runtime import Runtime
from app.store.db import Database
from app.vault import Vault
from embedded_api.app import create_app
from embedded_api.server import EmbeddedServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def runtime(sqlite_database: Database) -> Runtime:
    return Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))


@pytest.fixture
def server(runtime: Runtime):
    server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_healthz_answers_without_auth(server: EmbeddedServer) -> None:
    status, headers, body = get(f"{server.url}/healthz")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == "ok"


def test_errors_are_problem_json(server: EmbeddedServer) -> None:
    status, headers, body = get(f"{server.url}/no/such/path")
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 404
    assert problem["title"] == "Not Found"

    status, headers, body = get(f"{server.url}/healthz", method="DELETE")
    assert status == 405
    assert "GET" in headers["Allow"]
    assert json.loads(body)["status"] == 405


def test_unhandled_errors_hide_internals_and_secrets(runtime: Runtime) -> None:
    flask_app = create_app(runtime)

    @flask_app.get("/boom")
    def boom():
        raise RuntimeError("upstream said: Authorization: Bearer sk_live_1234567890abcdef")

    response = flask_app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "sk_live" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)


def test_healthz_reports_an_unreachable_store(tmp_path: Path) -> None:
    broken = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    runtime = Runtime(config=load_config(), database=broken, vault=Vault(bytes(32)))
    response = create_app(runtime).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["detail"] == "The store is unreachable."


def test_stop_closes_the_port(runtime: Runtime) -> None:
    server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
    server.start()
    port = server.port
    assert get(f"{server.url}/healthz")[0] == 200
    server.stop()
    assert server._thread is not None
    assert not server._thread.is_alive()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=2),
    ):
        pass


def _serve(port: int, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ACCUPREDIX_DATA_DIR": str(data_dir), "ACCUPREDIX_PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, "-c", "from app.cli.main import main; main()", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became healthy")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_signals(isolated_env: Path, signum: int) -> None:
    port = free_port()
    process = _serve(port, isolated_env)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert f"received {signal.Signals(signum).name}, stopping" in output
    assert "server stopped" in output
    assert "Traceback" not in output


def test_serve_says_when_the_port_is_taken(isolated_env: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(port, isolated_env)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output
