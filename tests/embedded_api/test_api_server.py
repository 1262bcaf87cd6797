"""``/api/v1`` over a real Waitress server: access log, body limits, and waking the run worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import requests

from app.runs.worker import RunWorker
from embedded_api.access_log import masked_query
from embedded_api.app import create_app
from embedded_api.server import EmbeddedServer
from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world


@pytest.fixture
def served(world: World) -> Iterator[tuple[World, str]]:
    assert world.app is not None
    server = EmbeddedServer(world.app, "127.0.0.1", 0)
    server.start()
    try:
        yield world, f"{server.url}/api/v1"
    finally:
        server.stop()


def test_the_access_log_names_the_key_prefix_and_never_a_key(
    served: tuple[World, str], caplog: pytest.LogCaptureFixture
) -> None:
    world, api = served
    key = world.keys["read"]
    with caplog.at_level(logging.INFO, logger="embedded_api.access_log"):
        response = requests.get(
            f"{api}/runs?status=complete&api_key={key}&limit=2",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        # The REST API takes no key in the query: refused, and masked in the log.
        assert response.status_code == 400
        refused = requests.get(
            f"{api}/runs", headers={"Authorization": "Bearer apx_x_y"}, timeout=10
        )
        assert refused.status_code == 401
        deadline = time.monotonic() + 5
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the line is written when Waitress closes the body
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    prefix = key[: key.index("_", 4)]
    assert '"GET /api/v1/runs?status=complete&api_key=********&limit=2" 400' in lines[0]
    assert lines[0].startswith("127.0.0.1 ")
    assert lines[0].endswith(f"key={prefix}")
    assert '"GET /api/v1/runs" 401' in lines[1]
    assert lines[1].endswith("key=-")
    for line in lines:
        assert key not in line
        assert key[len(prefix) :] not in line


def test_masked_query() -> None:
    assert masked_query("") == ""
    assert masked_query("code=abc&state=xyz&shop=a.myshopify.com") == (
        "code=********&state=********&shop=a.myshopify.com"
    )
    assert masked_query("access_token=t&limit=5&x-api-key=k") == (
        "access_token=********&limit=5&x-api-key=********"
    )


def test_bodies_over_the_limit_are_refused_on_the_wire(served: tuple[World, str]) -> None:
    world, api = served
    headers = {**world.auth("write"), "Content-Type": "application/json"}
    big = b'{"horizon": 4, "pad": "' + b"x" * 100_000 + b'"}'
    response = requests.post(f"{api}/runs", data=big, headers=headers, timeout=10)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:
        yield b'{"horizon": 4, "pad": "'
        for _ in range(10):
            yield b"x" * 10_000
        yield b'"}'

    chunked = requests.post(f"{api}/runs", data=chunks(), headers=headers, timeout=10)
    assert chunked.status_code == 413
    assert world.woken == []


def wait_while_queued(url: str, headers: dict[str, str], timeout: float = 50) -> str:
    deadline = time.monotonic() + timeout
    status = "queued"
    while status == "queued" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = requests.get(url, headers=headers, timeout=10).json()["status"]
    return status


def test_a_run_posted_to_the_api_is_picked_up_by_the_worker_at_once(world: World) -> None:
    # The worker polls once at start, then only every minute: a run that leaves
    # "queued" sooner than that was picked up because the API woke the worker.
    worker = RunWorker(world.database, poll_seconds=60)
    app = create_app(world.runtime, on_run_created=lambda _run_id: worker.wake())
    server = EmbeddedServer(app, "127.0.0.1", 0)
    server.start()
    worker.start()
    try:
        api = f"{server.url}/api/v1"
        # The seeded queued run leaving "queued" shows that the start-up poll is done.
        seeded = wait_while_queued(f"{api}/runs/{world.ids['r4']}", world.auth("read"))
        assert seeded != "queued"
        response = requests.post(
            f"{api}/runs", headers=world.auth("both"), json={"horizon": 2}, timeout=10
        )
        assert response.status_code == 202
        assert wait_while_queued(response.headers["Location"], world.auth("read")) != "queued"
    finally:
        server.stop()
        worker.stop()
