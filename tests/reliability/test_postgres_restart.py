"""PostgreSQL restarted under load: `serve` says 503 while it is gone and recovers by itself.

A private cluster (CI's shared server cannot be restarted by one test) serves
the store of one `accupredix serve`. Clients poll the API, the health check and
the OData feed while the cluster goes through a `pg_ctl restart` and then a
stop, a few seconds down, and a start. While it is down every answer is a clean
503 in the route's error format, never a 500 or a traceback; once it is back
the same server process answers 200 again, its scheduler syncs a connector
added after the restart, and its run worker completes a run.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.services import connectors as connector_service
from app.services import runs as run_service
from app.store.db import Database
from app.store.models import SyncStatus
from tests.fakes.rest_api import serve_rest_api
from tests.reliability.clients import Answers, Client, LoadThread
from tests.reliability.stores import (
    VAULT,
    add_rest_connector,
    create_key,
    prepare_store,
    source_lines,
    stored_lines,
    synced_once,
)
from tests.reliability.support import FIGURES, Serve, wait_for
from tests.support.postgres import PrivateServer

pytestmark = [pytest.mark.slow, pytest.mark.reliability, pytest.mark.postgres]

DOWN_SECONDS = 3.0
ROUTES = {
    "api": "/api/v1/runs?limit=5",
    "health": "/healthz",
    "odata": "/odata/DemandLines?$top=20",
}
# What reaches a client when an exception escapes to it.
LEAKS = ("Traceback", "psycopg", "sqlalchemy", "OperationalError", 'File "')


@dataclass
class Seen:
    """One answer, and what the cluster was doing when it was asked for."""

    phase: str
    route: str
    status: int
    content_type: str
    body: str


@dataclass
class Observer:
    """Polls the server's routes and files each answer under the current phase."""

    client: Client
    phase: str = "up"
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def poller(self, route: str) -> Callable[[], None]:
        def step() -> None:
            sent = self.phase
            response = self.client.request("GET", ROUTES[route], route)
            # An answer that spans a change of phase belongs to neither.
            phase = sent if sent == self.phase else "restarting"
            status = 0 if response is None else response.status_code
            content_type = "" if response is None else response.headers.get("Content-Type", "")
            body = "" if response is None else response.text
            with self.lock:
                self.seen.append(Seen(phase, route, status, content_type, body))

        return step

    def answers(self, phase: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.phase == phase]


@pytest.fixture
def cluster() -> Iterator[PrivateServer]:
    server = PrivateServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def test_serve_rides_out_a_postgres_restart(tmp_path: Path, cluster: PrivateServer) -> None:
    database = prepare_store(Database(cluster.url))
    key = create_key(database)
    with serve_rest_api(12, pagination="link_header") as api:
        # Some history to forecast after the restart.
        history = add_rest_connector(database, api, "history", schedule=None)
        assert connector_service.sync_now(database, VAULT, history).status == SyncStatus.COMPLETE
        server = Serve(tmp_path / "data", database_url=cluster.url).start()
        pid = server.process.pid
        observer = Observer(Client(server.url, key, Answers()))
        stopping = threading.Event()
        threads = [
            # Paced below the per-key rate limit (50/s) that the two keyed routes share.
            LoadThread(f"poll {route}", observer.poller(route), stopping, pause=0.05)
            for route in ROUTES
        ]
        try:
            for thread in threads:
                thread.start()
            wait_for(lambda: len(observer.answers("up")) >= 20, 30, "answers before the restart")

            observer.phase = "restarting"
            cluster.restart()
            FIGURES.add("faults injected")
            observer.phase = "down"
            cluster.stop()
            FIGURES.add("faults injected")
            time.sleep(DOWN_SECONDS)
            observer.phase = "restarting"
            cluster.start()
            wait_for(lambda: all_ok(server, key), 60, "the server to answer 200 again")
            observer.phase = "back"
            wait_for(lambda: len(observer.answers("back")) >= 20, 30, "answers after the restart")
            stopping.set()
            for thread in threads:
                thread.finish()
            assert server.process.poll() is None, "the server kept running"
            assert server.process.pid == pid

            # Background work recovers too: a forecast run, and a sync that the
            # scheduler starts after the restart (at its next poll, within 30 s).
            status, run = server.request("POST", "/api/v1/runs", key, {"horizon": 4})
            assert status == 202, run
            connector_id = add_rest_connector(database, api, "added after the restart")
            wait_for(lambda: synced_once(database, [connector_id]), 90, "the scheduled sync")
            stored, wanted = dict(stored_lines(database, connector_id)), source_lines(api)
            FIGURES.add("lines synced", len(stored))
            FIGURES.add("rows lost", len(wanted.keys() - stored.keys()))
            assert stored == wanted
            ended = wait_for(lambda: run_ended(database, run["id"]), 120, "the run to end")
            assert ended["status"] == "complete", ended
            assert server.stop() == 0, server.output()
        finally:
            stopping.set()
            server.stop()
            observer.client.close()
            database.dispose()

    before, down, back = (observer.answers(p) for p in ("up", "down", "back"))
    assert {s.status for s in before} == {200}
    assert {s.status for s in back} == {200}, [s for s in back if s.status != 200][:3]
    assert any(s.status == 503 for s in down), "the outage was seen by the clients"
    refused = [s for s in observer.seen if s.status != 200]
    # Every refusal a 503, whichever route: a client retries a 503, not a 500.
    wrong = Counter((s.route, s.status) for s in refused if s.status != 503)
    assert not wrong, f"answers other than 503 while the store was down: {dict(wrong)}"
    for answer in refused:
        assert not any(leak in answer.body for leak in LEAKS), answer
        if answer.route == "odata":
            assert answer.content_type.startswith("application/json"), answer
            assert set(json_body(answer)) == {"error"}, answer
        else:
            assert answer.content_type == "application/problem+json", answer
            assert json_body(answer)["status"] == 503, answer


def run_ended(database: Database, run_id: int) -> dict | None:
    run = run_service.get_run(database, run_id)
    return run if run["status"] in ("complete", "failed") else None


def all_ok(server: Serve, key: str) -> bool:
    try:
        return server.request("GET", ROUTES["api"], key, timeout=5)[0] == 200 and server.healthy()
    except OSError:
        return False


def json_body(answer: Seen) -> dict:
    return json.loads(answer.body)
