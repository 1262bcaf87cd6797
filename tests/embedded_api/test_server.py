"""The embedded server: health, problem+json errors, and clean stops."""

from __future__ import annotations

import json
import logging
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
from app.services import api_keys
from app.services.organisations import ensure_default_organisation
from app.store.db import Database
from app.store.models import Plan
from app.vault import Vault
from embedded_api.app import create_app
from embedded_api.server import (
    MAX_REQUEST_BODY_BYTES,
    SWITCH_INTERVAL_SECONDS,
    EmbeddedServer,
    OncePerInterval,
)


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


def test_oversized_bodies_are_refused_before_they_are_read(
    server: EmbeddedServer, runtime: Runtime
) -> None:
    with runtime.database.session() as session:
        ensure_default_organisation(session, "Acme").plan = Plan.GROWTH
        key = api_keys.create_key(session, "zap", "write").secret
    # Over the API's own limit: the application answers, in its error shape.
    request = urllib.request.Request(
        f"{server.url}/api/v1/runs",
        data=b"{" + b" " * (100 * 1024) + b"}",
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 413
    assert refused.value.headers["Content-Type"] == "application/problem+json"
    refused.value.close()
    # Over Waitress's cap: refused on the declared length, nothing of the body read.
    declared = MAX_REQUEST_BODY_BYTES + 1
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_queue_warnings_are_let_through_once_per_interval() -> None:
    now = [0.0]
    limiter = OncePerInterval(60.0, clock=lambda: now[0])
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("tests.queue-warnings")
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    logger.addFilter(limiter)
    try:
        for depth in range(5):
            logger.warning("Task queue depth is %d", depth + 1)
        now[0] += 59.0
        logger.warning("Task queue depth is %d", 9)
        now[0] += 1.0
        logger.warning("Task queue depth is %d", 3)
    finally:
        logger.removeHandler(handler)
        logger.removeFilter(limiter)
    assert records == [
        "Task queue depth is 1",
        "Task queue depth is 3 (and 5 more such warnings since the last one)",
    ]


def test_the_server_quiets_waitress_queue_warnings_once(runtime: Runtime) -> None:
    for _ in range(2):
        EmbeddedServer(create_app(runtime), "127.0.0.1", 0)._server.close()
    filters = logging.getLogger("waitress.queue").filters
    assert sum(isinstance(f, OncePerInterval) for f in filters) == 1


def test_serving_shortens_the_switch_interval_and_restores_it(runtime: Runtime) -> None:
    before = sys.getswitchinterval()
    server = EmbeddedServer(create_app(runtime), "127.0.0.1", 0)
    server.start()
    try:
        assert get(f"{server.url}/healthz")[0] == 200
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
    finally:
        server.stop()
    assert sys.getswitchinterval() == pytest.approx(before)
