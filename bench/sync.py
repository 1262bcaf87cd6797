"""Sync throughput and memory: the engine against a bare baseline on the same pages.

Pulls orders of three lines from the fake paginated REST API (served from its
own process, Link-header pagination, 250 orders a page) into a fresh SQLite
store, two ways, each in a process of its own so that peak memory is its own:

- baseline: requests + json + sqlite3 ``executemany`` with ``ON CONFLICT``
  upsert, one commit per page: the least a correct resumable sync must do;
- engine: ``accupredix``'s sync engine with the custom REST preset and a field
  mapping that expands line items (HTTP layer, mapping, typed upsert, cursor
  and sync-run bookkeeping in each page's transaction).

The engine also runs on a quarter of the orders, to show that its memory does
not grow with the number of pages; the peak of the worker process that reads
and maps for it is shown apart (sampled from /proc, so Linux only).

The machine may be busy with other work, so each way runs ``--repeat`` times,
the two ways taking turns; the figures are medians, and the throughput ratio is
the median of the ratios of runs made side by side.

    python bench/sync.py                 # 100,000 orders (300,000 lines)
    python bench/sync.py --orders 20000  # quicker
    python bench/sync.py --repeat 5      # steadier on a busy machine
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.rest_api import ORDER_LINES_MAPPING  # noqa: E402 - needs ROOT on the path

PAGE_SIZE = 250


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def watch_workers(fake: int, stop: threading.Event, peaks: dict[int, float]) -> None:
    """Sample the peak memory (VmHWM, since exec) of this process's children but the fake."""
    me = os.getpid()
    while not stop.wait(0.05):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == fake:
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if int(fields.get("PPid", "0")) == me and "VmHWM" in fields:
                peaks[int(entry.name)] = int(fields["VmHWM"].split()[0]) / 1024


def run_baseline(url: str, workdir: Path) -> dict[str, float]:
    import requests

    db = sqlite3.connect(workdir / "baseline.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE lines (order_id TEXT, line_id TEXT, order_date TEXT, sku TEXT, "
        "quantity NUMERIC, unit_price NUMERIC, currency TEXT, customer_id TEXT, "
        "updated_at TEXT, UNIQUE (order_id, line_id))"
    )
    upsert = (
        "INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id, line_id) "
        "DO UPDATE SET quantity = excluded.quantity, updated_at = excluded.updated_at"
    )
    session = requests.Session()
    started = time.perf_counter()
    rows = pages = 0
    next_url: str | None = f"{url}/orders?limit={PAGE_SIZE}"
    while next_url:
        response = session.get(next_url, timeout=60)
        response.raise_for_status()
        batch = [
            (
                str(order["id"]),
                str(line["id"]),
                order["created_at"][:10],
                line["sku"],
                line["quantity"],
                line["price"],
                order["currency"],
                str(order["customer"]["id"]),
                order["updated_at"],
            )
            for order in json.loads(response.content)["orders"]
            for line in order["line_items"]
        ]
        db.executemany(upsert, batch)
        db.commit()
        rows += len(batch)
        pages += 1
        next_url = response.links.get("next", {}).get("url")
    return {"rows": rows, "pages": pages, "seconds": time.perf_counter() - started}


def run_engine(url: str, workdir: Path) -> dict[str, float]:
    from app.services import connectors as service
    from app.store.db import Database
    from app.sync.engine import sync_connector
    from app.vault import Vault

    database = Database(f"sqlite:///{workdir / 'engine.db'}")
    database.upgrade()
    vault = Vault(os.urandom(32))
    created = service.add_connector(
        database,
        vault,
        preset="custom_rest",
        name="bench",
        values={
            "base_url": url,
            "resource_path": "/orders",
            "records_path": "orders",
            "pagination": "link_header",
            "page_size": PAGE_SIZE,
        },
        mapping=ORDER_LINES_MAPPING,
    )
    started = time.perf_counter()
    result = sync_connector(database, vault, created["id"])
    seconds = time.perf_counter() - started
    if result.error:
        raise SystemExit(f"engine sync failed: {result.error}")
    return {"rows": result.inserted, "pages": result.pages, "seconds": seconds}


def worker(kind: str, orders: int) -> None:
    """Serve the fake from a child process, pull it one way, print JSON."""
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.rest_api", "--orders", str(orders)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            before = peak_rss_mb()
            peaks: dict[int, float] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=watch_workers, args=(fake.pid, stop, peaks))
            watcher.start()
            try:
                result = (run_baseline if kind == "baseline" else run_engine)(url, Path(tmp))
            finally:
                stop.set()
                watcher.join()
            result["peak_rss_mb"] = peak_rss_mb()
            result["start_rss_mb"] = before
            result["worker_peak_rss_mb"] = max(peaks.values(), default=0.0)
    finally:
        if fake.stdin is not None:
            fake.stdin.close()
        fake.wait(timeout=30)
    print(json.dumps(result))


def measure(kind: str, orders: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--orders", str(orders)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "ACCUPREDIX_LOG_LEVEL": "WARNING"},
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each way (default 3)")
    parser.add_argument("--worker", choices=("baseline", "engine"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.orders)
        return

    quarter = max(args.orders // 4, PAGE_SIZE)
    bases: list[dict[str, float]] = []
    engines: list[dict[str, float]] = []
    for turn in range(max(args.repeat, 1)):
        # Taking turns, so that a change in the machine's load hits both ways alike.
        if turn % 2:
            engines.append(measure("engine", args.orders))
            bases.append(measure("baseline", args.orders))
        else:
            bases.append(measure("baseline", args.orders))
            engines.append(measure("engine", args.orders))
    small = measure("engine", quarter)
    runs = {"baseline": median_run(bases), "engine": median_run(engines)}
    runs["engine (1/4 of the orders)"] = small
    print(
        f"sync of {args.orders:,} orders x 3 lines, {PAGE_SIZE} orders a page, SQLite; "
        f"medians of {len(bases)} runs each"
    )
    print(
        f"{'':<28}{'rows':>10}{'pages':>7}{'seconds':>9}{'rows/s':>10}"
        f"{'peak RSS MB':>13}{'worker MB':>11}"
    )
    for name, run in runs.items():
        rate = run["rows"] / run["seconds"]
        print(
            f"{name:<28}{run['rows']:>10,.0f}{run['pages']:>7.0f}{run['seconds']:>9.2f}"
            f"{rate:>10,.0f}{run['peak_rss_mb']:>13.0f}{run['worker_peak_rss_mb']:>11.0f}"
        )
    ratios = [
        (engine["rows"] / engine["seconds"]) / (base["rows"] / base["seconds"])
        for base, engine in zip(bases, engines, strict=True)
    ]
    shown = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(
        f"engine / baseline throughput: {statistics.median(ratios):.2f} "
        f"(runs: {shown}; target at least 0.50)"
    )
    engine = runs["engine"]
    growth = engine["peak_rss_mb"] / small["peak_rss_mb"]
    worker_growth = engine["worker_peak_rss_mb"] / max(small["worker_peak_rss_mb"], 1)
    print(
        f"engine peak memory, {args.orders:,} vs {quarter:,} orders: {growth:.2f}x, "
        f"its worker {worker_growth:.2f}x (flat is 1.00)"
    )


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median duration, with the highest peak memory of all."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    run = dict(ordered[(len(ordered) - 1) // 2])
    for key in ("peak_rss_mb", "worker_peak_rss_mb"):
        run[key] = max(other[key] for other in runs)
    return run


if __name__ == "__main__":
    main()
