"""REST API and OData under load, against a bare Flask+Waitress endpoint serving the same bytes.

Each target runs in a server process of its own, on 127.0.0.1, fed by a load
generator in another process: 50 concurrent keep-alive connections for 10
seconds, after a one-second warm-up. AccuPredix runs as ``accupredix serve``
runs it (``EmbeddedServer``, with its settings) on Waitress's default number
of threads.

- ``GET /api/v1/series/{id}/forecast``, cycling over 200 series of a complete
  run (12 periods each), with a real API key (authentication, plan check,
  rate-limit bucket, JSON) and the access log written to a file as
  ``accupredix serve`` writes it, once as served (rendered answers reused until
  a run completes, see ``embedded_api/api_v1/result_cache.py``) and once with
  the caches off (a store query on every request); next to a bare Flask
  endpoint that answers the bytes of one such response from memory;
- an OData page, ``GET /odata/Forecasts?$top=1000`` (the first page of a
  store holding every forecast row of the pull below), as served (the page is
  rendered once and reused while nothing is committed to the store, see
  ``embedded_api/odata/page_cache.py``) and with the caches off (the query and
  the encoding on every request), next to a bare endpoint answering that
  page's bytes;
- a 1,000,000-row OData pull following ``@odata.nextLink``, with the server
  process's peak resident memory (VmHWM).

The API key's rate limit is lifted in the benchmark's server: 50 clients in a
loop are far beyond what one key may do, and the limit is not what is measured.
The bare server runs with the same GIL hand-over interval as AccuPredix's
(``--switch-interval`` changes it in both), and its Waitress "Task queue depth"
warnings, which would go to stderr once per request, are silenced. The machine
may be shared: each target alternates bare and AccuPredix rounds and reports
medians, and the server's CPU time per request, which other load disturbs less.

    python bench/api.py                  # full run (about 5 minutes plus seeding)
    python bench/api.py --duration 3 --rounds 1 --odata-rows 100000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
CLIENTS = 50
SERIES = 200
HORIZON = 12
TARGET_SHARE = 0.40
TARGET_P99_MS = 100.0
TARGET_PULL_MB = 300.0
SWITCH_ENV = "ACCUPREDIX_BENCH_SWITCH_INTERVAL_MS"


# ------------------------------------------------------------------ the store


def _environment(data_dir: Path, store: Path | None = None) -> dict[str, str]:
    """Settings of a process; ``store`` shares another data dir's SQLite file (logs stay apart)."""
    env = {
        **os.environ,
        "ACCUPREDIX_DATA_DIR": str(data_dir),
        # A fixed key keeps the OS keyring out of a benchmark.
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": base64.b64encode(bytes(32)).decode(),
    }
    if store is not None:
        env["ACCUPREDIX_DATABASE_URL"] = f"sqlite:///{store / 'accupredix.db'}"
    return env


def seed(data_dir: Path, odata_rows: int) -> dict[str, Any]:
    """A Growth organisation with a key and one complete run; returns the key and series ids."""
    os.environ.update(_environment(data_dir))
    from sqlalchemy import insert, select

    from app.config import load_config
    from app.services import api_keys
    from app.services.organisations import ensure_default_organisation
    from app.store.db import open_database
    from app.store.models import Forecast, ForecastRun, Plan, RunStatus, Series

    database = open_database(load_config())
    now = dt.datetime.now(dt.UTC)
    series_count = max(SERIES, -(-odata_rows // HORIZON))
    with database.session() as session:
        org = ensure_default_organisation(session, "Bench")
        org.plan = Plan.GROWTH
        workspace_id = org.workspaces[0].id
        key = api_keys.create_key(session, "bench", "read,odata").secret
        run = ForecastRun(
            workspace_id=workspace_id,
            status=RunStatus.COMPLETE,
            horizon=HORIZON,
            created_at=now,
            started_at=now,
            completed_at=now,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    with database.session() as session:
        session.execute(
            insert(Series),
            [
                {"workspace_id": workspace_id, "sku": f"SKU-{n:06d}", "location": "default"}
                for n in range(series_count)
            ],
        )
        series_ids = list(session.scalars(select(Series.id).order_by(Series.id)))
    start = dt.date(2025, 1, 6)
    batch: list[dict[str, Any]] = []
    for series_id in series_ids:
        for week in range(HORIZON):
            level = 10.0 + series_id % 17 + week * 0.5
            batch.append(
                {
                    "run_id": run_id,
                    "series_id": series_id,
                    "period_start": start + dt.timedelta(weeks=week),
                    "yhat": level,
                    "lo80": level - 3.1,
                    "hi80": level + 3.1,
                    "lo95": level - 4.7,
                    "hi95": level + 4.7,
                    "model": "AutoETS",
                }
            )
        if len(batch) >= 60_000:
            with database.session() as session:
                session.execute(insert(Forecast), batch)
            batch = []
    if batch:
        with database.session() as session:
            session.execute(insert(Forecast), batch)
    database.dispose()
    return {"key": key, "series": series_ids[:SERIES], "rows": len(series_ids) * HORIZON}


# ------------------------------------------------------------------ servers


def _switch_interval() -> float:
    """The GIL hand-over interval both servers run with: AccuPredix's own unless overridden."""
    from embedded_api.server import SWITCH_INTERVAL_SECONDS

    switch = os.environ.get(SWITCH_ENV)
    return float(switch) / 1000 if switch else SWITCH_INTERVAL_SECONDS


def serve_app(data_dir: Path, *, cache: bool) -> None:
    """The AccuPredix application as ``accupredix serve`` runs it, on Waitress's default threads."""
    from waitress.adjustments import Adjustments

    from app.runtime import bootstrap
    from embedded_api.app import create_app
    from embedded_api.auth import KeyRegistry
    from embedded_api.odata.views import PAGE_CACHE
    from embedded_api.server import EmbeddedServer

    runtime = bootstrap(console_log=False)
    app = create_app(runtime)
    app.config["KEY_REGISTRY"] = KeyRegistry(rate=1e9, burst=1e9)
    if not cache:
        app.config["RESULT_CACHE"] = None
        app.config[PAGE_CACHE] = None
    server = EmbeddedServer(
        app, HOST, 0, threads=Adjustments.threads, switch_interval=_switch_interval()
    )
    print(f"PORT {server.port}", flush=True)
    server.serve_forever()


def serve_bare(body_file: Path) -> None:
    """A bare Flask app answering ``body_file``'s bytes from memory on every path."""
    import waitress
    from flask import Flask, Response

    body = body_file.read_bytes()
    bare = Flask("bare")

    @bare.get("/", defaults={"_path": ""})
    @bare.get("/<path:_path>")
    def answer(_path: str) -> Response:
        return Response(body, mimetype="application/json")

    server = waitress.create_server(bare, host=HOST, port=0)
    # The same interpreter setting as AccuPredix's server, so that the ratio
    # measures the application and not the GIL hand-over.
    sys.setswitchinterval(_switch_interval())
    # Waitress warns on every request queued behind busy threads, and with no
    # logging set up each warning goes to stderr: one line per request.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    print(f"PORT {server.effective_port}", flush=True)
    server.run()


class Server:
    """A server child process, stopped on exit; reports its peak memory."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, *args],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base = f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


# ------------------------------------------------------------------ load


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; returns its status and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    }
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get("connection", "").lower() == "close"


async def _client(
    *,
    port: int,
    requests: list[bytes],
    offset: int,
    start_at: float,
    stop_at: float,
    latencies: list[float],
    statuses: dict[int, int],
    sent_total: list[int],
) -> None:
    """One client: a request at a time on a keep-alive connection (reopened when closed)."""
    n = offset
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            if connection is None:
                connection = await asyncio.open_connection(HOST, port, limit=2**20)
            reader, writer = connection
            writer.write(requests[n % len(requests)])
            n += 1
            status, closing = await _read_response(reader)
            sent_total[0] += 1
            if sent >= start_at:
                latencies.append(time.perf_counter() - sent)
                statuses[status] = statuses.get(status, 0) + 1
            if closing:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
                connection = None
    finally:
        if connection is not None:
            connection[1].close()
            with contextlib.suppress(ConnectionError):
                await connection[1].wait_closed()


async def _load(
    port: int, paths: list[str], headers: dict[str, str], duration: float, warmup: float
) -> dict[str, Any]:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}\r\n".encode() for path in paths
    ]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_total = [0]
    start_at = time.perf_counter() + warmup
    stop_at = start_at + duration
    await asyncio.gather(
        *(
            _client(
                port=port,
                requests=requests,
                offset=i,
                start_at=start_at,
                stop_at=stop_at,
                latencies=latencies,
                statuses=statuses,
                sent_total=sent_total,
            )
            for i in range(CLIENTS)
        )
    )
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "rps": count / duration,
        "p50_ms": latencies[count // 2] * 1000 if count else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
        "statuses": statuses,
        "sent": sent_total[0],
    }


def load(spec_file: Path) -> None:
    """The load generator's process: run the spec, print JSON."""
    spec = json.loads(spec_file.read_text())
    result = asyncio.run(
        _load(spec["port"], spec["paths"], spec["headers"], spec["duration"], spec["warmup"])
    )
    print(json.dumps(result))


def measure(
    server: Server, paths: list[str], headers: dict[str, str], duration: float, workdir: Path
) -> dict[str, Any]:
    """Load ``server``; adds the server's CPU time per request (steady under a busy machine)."""
    cpu = server.cpu_seconds()
    result = _measure(server.port, paths, headers, duration, workdir)
    result["cpu_us"] = (server.cpu_seconds() - cpu) / max(result["sent"], 1) * 1e6
    return result


def _measure(
    port: int, paths: list[str], headers: dict[str, str], duration: float, workdir: Path
) -> dict[str, Any]:
    spec = workdir / "load.json"
    spec.write_text(
        json.dumps(
            {
                "port": port,
                "paths": paths,
                "headers": headers,
                "duration": duration,
                "warmup": 1.0,
            }
        )
    )
    output = subprocess.run(
        [sys.executable, __file__, "--load", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{output.stderr}")
    return json.loads(output.stdout)


# ------------------------------------------------------------------ OData pull


def pull(base: str, key: str, path: str) -> tuple[int, float]:
    """Follow nextLink from ``path`` to the end; returns rows and seconds."""
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    started = time.perf_counter()
    rows = 0
    url: str | None = f"{base}{path}"
    while url:
        response = session.get(url, timeout=300)
        response.raise_for_status()
        page = response.json()
        rows += len(page["value"])
        url = page.get("@odata.nextLink")
    session.close()
    return rows, time.perf_counter() - started


# ------------------------------------------------------------------ report


def _fetch(base: str, path: str, key: str) -> tuple[int, bytes]:
    import requests

    response = requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return response.status_code, response.content


def _line(name: str, result: dict[str, Any]) -> str:
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(result["statuses"].items()))
    return (
        f"  {name:<32} {result['rps']:>7,.0f} req/s  p50 {result['p50_ms']:6.1f} ms  "
        f"p99 {result['p99_ms']:6.1f} ms  server CPU {result['cpu_us']:5.0f} µs/req  ({statuses})"
    )


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput (rounds alternate, so load on the machine evens out)."""
    return sorted(results, key=lambda result: result["rps"])[len(results) // 2]


def compare(
    title: str,
    *,
    apps: dict[str, Server],
    paths: list[str],
    key: str,
    env: dict[str, str],
    workdir: Path,
    duration: float,
    rounds: int,
) -> None:
    """Each of ``apps`` (by label) against a bare server answering the same bytes."""
    status, body = _fetch(next(iter(apps.values())).base, paths[0], key)
    if status != 200:
        print(f"{title}: not available (the server answered {status})")
        return
    body_file = workdir / "bare-body.json"
    body_file.write_bytes(body)
    auth = {"Authorization": f"Bearer {key}"}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in ["bare", *apps]}
    with Server("--serve-bare", str(body_file), env=env) as bare:
        for _ in range(rounds):
            runs["bare"].append(measure(bare, paths, auth, duration, workdir))
            for label, app in apps.items():
                runs[label].append(measure(app, paths, auth, duration, workdir))
    baseline = _median(runs["bare"])
    print(
        f"{title} ({len(body):,} bytes a response, {CLIENTS} clients, {duration:g} s, "
        f"median of {rounds} alternating rounds)"
    )
    print(_line("bare Flask+Waitress, same bytes", baseline))
    for label in apps:
        print(_line(label, _median(runs[label])))
    for label in apps:
        ours = _median(runs[label])
        share = ours["rps"] / baseline["rps"]
        cpu_share = baseline["cpu_us"] / ours["cpu_us"]
        met = share >= TARGET_SHARE and ours["p99_ms"] < TARGET_P99_MS
        print(
            f"  {label}: throughput {share:.0%} of bare (target {TARGET_SHARE:.0%}), p99 "
            f"{ours['p99_ms']:.1f} ms (target < {TARGET_P99_MS:.0f} ms): "
            f"{'meets' if met else 'misses'} the target; by server CPU a request "
            f"{cpu_share:.0%} of bare"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--odata-rows", type=int, default=1_000_000, help="rows of the pull")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per target")
    parser.add_argument(
        "--switch-interval",
        type=float,
        metavar="MS",
        help="sys.setswitchinterval in both servers, in milliseconds (default: AccuPredix's 1)",
    )
    parser.add_argument("--serve-app", metavar="DATA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--no-cache", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare", metavar="BODY_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="SPEC_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_app:
        serve_app(Path(args.serve_app), cache=not args.no_cache)
        return
    if args.serve_bare:
        serve_bare(Path(args.serve_bare))
        return
    if args.load:
        load(Path(args.load))
        return

    with tempfile.TemporaryDirectory(prefix="accupredix-bench-api-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        if args.switch_interval:
            os.environ[SWITCH_ENV] = str(args.switch_interval)
        env = _environment(data_dir)
        started = time.perf_counter()
        seeded = seed(data_dir, args.odata_rows)
        print(
            f"seeded {seeded['rows']:,} forecast rows in {time.perf_counter() - started:.0f} s "
            f"(SQLite, {os.cpu_count()} cores)\n"
        )
        key = seeded["key"]
        forecast_paths = [f"/api/v1/series/{sid}/forecast" for sid in seeded["series"]]
        with (
            Server("--serve-app", str(data_dir), env=env) as app,
            # A data dir of its own: two processes rotating one log file would trip each other.
            Server(
                "--serve-app",
                str(data_dir),
                "--no-cache",
                env=_environment(workdir / "uncached", store=data_dir),
            ) as uncached,
        ):
            compare(
                "GET /api/v1/series/{id}/forecast",
                apps={"AccuPredix": app, "AccuPredix, caches off": uncached},
                paths=forecast_paths,
                key=key,
                env=env,
                workdir=workdir,
                duration=args.duration,
                rounds=args.rounds,
            )
            print()
            compare(
                "GET /odata/Forecasts?$top=1000",
                apps={"AccuPredix": app, "AccuPredix, caches off": uncached},
                paths=["/odata/Forecasts?$top=1000"],
                key=key,
                env=env,
                workdir=workdir,
                duration=args.duration,
                rounds=args.rounds,
            )
        print()
        with Server("--serve-app", str(data_dir), env=env) as app:
            status, _ = _fetch(app.base, "/odata/Forecasts?$top=1", key)
            if status != 200:
                print(f"OData pull: not available (the server answered {status})")
                return
            rows, seconds = pull(app.base, key, "/odata/Forecasts")
            peak = app.peak_mb()
        verdict = "meets" if peak < TARGET_PULL_MB else "misses"
        print(
            f"OData pull of {rows:,} rows following @odata.nextLink: {seconds:.1f} s "
            f"({rows / seconds:,.0f} rows/s); server peak memory {peak:.0f} MB "
            f"(target < {TARGET_PULL_MB:.0f} MB): {verdict} the target"
        )


if __name__ == "__main__":
    main()
