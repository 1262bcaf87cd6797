"""A long pull keeps the server's memory flat: one page in memory at a time.

The server runs in its own process so that its resident memory can be read
from /proc while a client follows every nextLink of 200,000 forecasts.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert

from app.services import api_keys
from app.store.db import Database
from app.store.models import Forecast, ForecastRun, Organisation, Plan, RunStatus, Series, Workspace

ROWS = 200_000
SERIES = 100
PAGE = 5_000
# How much the server may grow between an early page and the last one. A feed
# that kept rows, pages or cursors around would grow by hundreds of MB here.
GROWTH_MB = 40

SERVER = """
import sys
from app.config import load_config
from app.runtime import Runtime
from app.store.db import Database
from app.vault import Vault
from embedded_api.app import create_app
from embedded_api.odata import blueprint
from embedded_api.server import EmbeddedServer

app = create_app(Runtime(load_config(), Database(sys.argv[1]), Vault(bytes(32))))
if "odata" not in app.blueprints:
    app.register_blueprint(blueprint)
server = EmbeddedServer(app, "127.0.0.1", 0)
server.stop_on_signals()
print(server.url, flush=True)
server.serve_forever()
"""


def _fill(url: str) -> str:
    database = Database(url)
    database.upgrade()
    with database.session() as session:
        organisation = Organisation(name="Big", plan=Plan.GROWTH)
        workspace = Workspace(organisation=organisation, name="Main")
        session.add_all([organisation, workspace])
        session.flush()
        run = ForecastRun(workspace_id=workspace.id, status=RunStatus.COMPLETE)
        session.add(run)
        session.flush()
        rows = [{"workspace_id": workspace.id, "sku": f"SKU-{i:04d}"} for i in range(SERIES)]
        session.execute(insert(Series.__table__), rows)
        key = api_keys.create_key(session, "bench", "odata", organisation.id).secret
        run_id = run.id
    start = dt.date(2020, 1, 6)
    with database.session() as session:
        for series_id in range(1, SERIES + 1):
            session.execute(
                insert(Forecast.__table__),
                [
                    {
                        "run_id": run_id,
                        "series_id": series_id,
                        "period_start": start + dt.timedelta(days=day),
                        "yhat": 10.5 + day % 7,
                        "lo80": 8.25,
                        "hi80": 12.75,
                        "lo95": 7.0,
                        "hi95": 14.0,
                        "model": "AutoETS",
                    }
                    for day in range(ROWS // SERIES)
                ],
            )
    database.dispose()
    return key


def _memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for process {pid}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    key = _fill(url)
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, url], stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            address = process.stdout.readline().strip()
            assert address.startswith("http://127.0.0.1:"), address
            yield address, key, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.slow
def test_a_long_pull_runs_in_flat_memory(server: tuple[str, str, int]) -> None:
    address, key, pid = server
    link = f"{address}/odata/Forecasts?$count=true"
    rows, pages, counts = 0, 0, set()
    warm = 0.0
    with requests.Session() as session:
        session.auth = ("powerbi", key)
        while link:
            response = session.get(link, timeout=60)
            assert response.status_code == 200, response.text[:500]
            body = response.json()
            counts.add(body["@odata.count"])
            rows += len(body["value"])
            pages += 1
            link = body.get("@odata.nextLink")
            if pages == 3:
                warm = _memory_mb(pid, "VmRSS")
    assert counts == {ROWS}
    assert (rows, pages) == (ROWS, ROWS // PAGE)
    peak = _memory_mb(pid, "VmHWM")
    assert peak - warm < GROWTH_MB, f"server grew from {warm:.0f} MB to {peak:.0f} MB"
