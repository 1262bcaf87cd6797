"""Benchmark of the forecasting engine: speed against statsforecast, and accuracy.

    python bench/forecast.py [--quick] [--series N] [--m3-dir DIR] [--n-jobs N]

(a) Synthetic: weekly series of 104 weeks (smooth and intermittent, fixed seed)
    run through ``run_frame``, timed next to statsforecast called directly on the
    same frame with the same models, then scored on the 12 weeks that follow
    against seasonal naive. Also shows the trade-off the engine makes for the
    52-week season: seasonal AutoETS on the smooth series, timed and scored.
(b) M3 monthly: the 1,428 series with their published split (README beside the
    data), scored with sMAPE and MASE beside the published figures.

``--quick`` shrinks both to a smoke run of under a minute. Runs are CPU heavy:
on a shared machine, run the full one sparingly.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import SeasonalNaive  # noqa: E402

from app.forecasting import Settings, run_frame  # noqa: E402
from app.forecasting import models as catalogue  # noqa: E402
from app.forecasting.batches import usable_cores  # noqa: E402
from app.forecasting.metrics import coverage, mase, mase_scale, smape  # noqa: E402

WEEKS = 104
HOLDOUT = 12
SEED = 20240601
M3_HORIZON = 18
# Published figures on the same M3 split (see the README beside the data).
M3_PUBLISHED = (
    ("mean of ETS, ARIMA and Theta", 13.53, 0.828),
    ("Theta", 13.86, 0.864),
    ("ETS", 14.14, 0.865),
    ("ARIMA", 15.02, 0.868),
    ("seasonal naive", 17.23, 1.146),
)


# ---------------------------------------------------------------- measuring


def say(text: str = "") -> None:
    """One line of the report, flushed so a long run shows its progress."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class PeakMemory:
    """Peak memory of this process and its children, sampled from /proc (Linux).

    statsforecast fits in worker processes, so the parent's own peak would miss
    most of the work. Each process counts its proportional set size: pages that
    forked workers share with the parent are split between them, not counted
    once per process as resident sizes would.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _size(pid: int) -> int:
        for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
            try:
                with Path(f"/proc/{pid}/{name}").open() as lines:
                    for line in lines:
                        if line.startswith(key):
                            return int(line.split()[1]) * 1024
            except OSError:
                continue
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        children = []
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                children += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
        return children

    def _tree(self) -> int:
        total, todo = 0, [os.getpid()]
        while todo:
            pid = todo.pop()
            total += self._size(pid)
            todo += self._children(pid)
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self._tree()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Timing:
    label: str
    seconds: float
    series: int
    peak_bytes: int
    # CPU seconds of this process and the children it waited for (the model
    # workers): steadier than wall time when other work shares the machine.
    cpu_seconds: float = float("nan")

    @property
    def rate(self) -> float:
        return self.series / self.seconds if self.seconds else float("inf")


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def measure(label: str, series: int, timings: list[Timing]) -> Iterator[None]:
    with PeakMemory() as memory:
        started, cpu = time.perf_counter(), cpu_seconds()
        yield
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    timings.append(Timing(label, seconds, series, memory.peak, cpu))


# ---------------------------------------------------------------- synthetic data


def synthetic_weekly(
    series: int, seed: int = SEED, intermittent_share: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """History of ``WEEKS`` weeks, the ``HOLDOUT`` weeks after it, and each series' kind.

    Smooth items: a level, a yearly log-growth (flat, rising or falling, a fifth of
    them turning half way), a yearly season on most (a cosine with a second
    harmonic, plus a pre-Christmas lift), an occasional promotion, and
    Gamma-Poisson noise. Intermittent items: demand in a share of weeks, with
    geometric sizes around the item's lump.
    """
    rng = np.random.default_rng(seed)
    total = WEEKS + HOLDOUT
    t = np.arange(total)
    year = 365.25 / 7
    sporadic = rng.random(series) < intermittent_share
    values = np.empty((series, total))
    n = int((~sporadic).sum())
    level = np.exp(rng.normal(np.log(60), 0.9, n))
    kind = rng.choice(4, n, p=[0.35, 0.25, 0.2, 0.2])
    growth = np.select(
        [kind == 0, kind == 1, kind == 2],
        [rng.uniform(-0.05, 0.05, n), rng.uniform(0.2, 0.6, n), rng.uniform(-0.5, -0.2, n)],
        default=rng.choice([-1, 1], n) * rng.uniform(0.3, 0.6, n),
    )
    turn = np.where(kind == 3, rng.uniform(0.45, 0.7, n) * total, np.inf)
    years = t[None, :] / year
    turned = np.minimum(t[None, :], turn[:, None]) / year
    log_trend = growth[:, None] * (2 * turned - years)
    amplitude = np.where(rng.random(n) < 0.7, rng.uniform(0.15, 0.45, n), 0.0)
    phase = 2 * np.pi * (t[None, :] - rng.uniform(0, year, n)[:, None]) / year
    season = 1 + amplitude[:, None] * (np.cos(phase) + 0.3 * np.cos(2 * phase)) / 1.3
    # Weeks from Christmas (week 51 of a year that starts on the first Monday of January).
    offset = np.abs(t % year - 51)
    christmas = 1 + 0.15 * np.exp(-0.5 * (np.minimum(offset, year - offset) / 1.5) ** 2)
    promo = np.ones((n, total))
    starts = rng.integers(10, total - 3, n)
    lifted = rng.random(n) < 0.3
    for i in np.flatnonzero(lifted):
        promo[i, starts[i] : starts[i] + 2] = rng.uniform(1.5, 2.5)
    mean = level[:, None] * np.exp(log_trend) * np.maximum(season, 0.05) * christmas * promo
    shape = rng.uniform(4, 12, n)[:, None]
    values[~sporadic] = rng.poisson(mean * rng.gamma(shape, 1 / shape, (n, total)))
    k = int(sporadic.sum())
    chance = rng.uniform(0.1, 0.6, k)[:, None]
    lump = rng.uniform(1, 10, k)[:, None]
    hits = rng.random((k, total)) < chance
    values[sporadic] = hits * (1 + rng.negative_binomial(1, 1 / (1 + lump), (k, total)))
    ids = np.array([f"S{i:05d}" for i in range(series)])
    dates = pd.date_range("2023-01-02", periods=total, freq="W-MON")
    frame = pd.DataFrame(
        {"unique_id": np.repeat(ids, total), "ds": np.tile(dates, series), "y": values.ravel()}
    )
    history = frame[frame["ds"] < dates[WEEKS]].reset_index(drop=True)
    future = frame[frame["ds"] >= dates[WEEKS]].reset_index(drop=True)
    kinds = pd.Series(np.where(sporadic, "intermittent", "smooth"), index=ids, name="kind")
    return history, future, kinds


# ---------------------------------------------------------------- scoring


def score(
    history: pd.DataFrame,
    actual: pd.DataFrame,
    forecast: pd.DataFrame,
    column: str,
    season_length: int,
    *,
    intervals: bool = False,
) -> pd.DataFrame:
    """Per-series sMAPE, MASE (and interval coverage) of ``forecast[column]``."""
    scales = {
        uid: mase_scale(y.to_numpy(), season_length)
        for uid, y in history.groupby("unique_id", sort=False)["y"]
    }
    merged = actual.merge(forecast, on=["unique_id", "ds"], how="left")
    if merged[column].isna().any():
        raise RuntimeError(f"{column} has no forecast for some holdout periods")
    rows = []
    for uid, g in merged.groupby("unique_id", sort=False):
        y, f = g["y"].to_numpy(), g[column].to_numpy()
        row = {"unique_id": uid, "smape": smape(y, f), "mase": mase(y, f, scales[uid])}
        if intervals:
            row["cov80"] = coverage(y, g["lo80"], g["hi80"])
            row["cov95"] = coverage(y, g["lo95"], g["hi95"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("unique_id")


def seasonal_naive(history: pd.DataFrame, horizon: int, freq: str, season: int) -> pd.DataFrame:
    sf = StatsForecast([SeasonalNaive(season_length=season)], freq=freq)
    return sf.forecast(df=history, h=horizon)


# ---------------------------------------------------------------- (a) synthetic


def direct_models() -> list:
    """The engine's candidates for weekly series, as statsforecast would take them directly."""
    regular = catalogue.regular_models(1, with_arima=False)
    sporadic = catalogue.sporadic_models(None)
    return [*regular.values(), *sporadic.values()]


# A hook for the store-to-store measurement (demand lines in, forecasts and safety stock
# out, through a forecast run): a callable taking the synthetic history frame and
# returning a Timing. The run side registers it here; the bench prints whatever is listed.
STORE_BENCHES: list[Callable[[pd.DataFrame, int], Timing]] = []


def store_to_store(history: pd.DataFrame, n_jobs: int) -> Timing:
    """A forecast run over a fresh SQLite store holding ``history`` as demand lines.

    Loading the store is not timed; the run is, from the SQL aggregation of the
    lines to the committed forecasts, safety stock, trends and alerts.
    """
    import datetime as dt
    import tempfile
    from decimal import Decimal
    from pathlib import Path

    from sqlalchemy import insert

    from app.runs.execute import execute_run
    from app.services.runs import create_run
    from app.store.db import Database
    from app.store.models import Connector, DemandLine, Organisation, Workspace

    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        database.upgrade()
        with database.session() as session:
            workspace = Workspace(name="bench", organisation=Organisation(name="bench"))
            session.add(workspace)
            session.flush()
            connector = Connector(workspace_id=workspace.id, preset="demo", name="bench")
            session.add(connector)
            session.flush()
            ids = (workspace.id, connector.id)
        sold = history[history["y"] > 0]
        rows = [
            {
                "workspace_id": ids[0],
                "connector_id": ids[1],
                "order_id": f"{uid}-{ds:%Y%m%d}",
                "line_id": "1",
                "order_date": ds.date() + dt.timedelta(days=2),
                "sku": str(uid),
                "location": "default",
                "quantity": Decimal(str(round(float(y), 4))),
            }
            for uid, ds, y in zip(sold["unique_id"], sold["ds"], sold["y"], strict=True)
        ]
        with database.session() as session:
            for start in range(0, len(rows), 50_000):
                session.execute(insert(DemandLine.__table__), rows[start : start + 50_000])
        say(f"  store loaded: {len(rows):,} demand lines")
        # The day after the history's last week, so every week of it is complete.
        as_of = (history["ds"].max() + pd.Timedelta(days=7)).date()
        run, _ = create_run(database, horizon=HOLDOUT)
        timings: list[Timing] = []
        with measure("forecast run, store to store", history["unique_id"].nunique(), timings):
            execute_run(database, run["id"], settings=Settings(n_jobs=n_jobs), as_of=as_of)
        database.dispose()
    return timings[0]


STORE_BENCHES.append(store_to_store)


def bench_synthetic(series: int, n_jobs: int, trade_off_series: int) -> dict[str, float]:
    say(f"\n(a) synthetic weekly: {series:,} series of {WEEKS} weeks, holdout {HOLDOUT}")
    history, future, kinds = synthetic_weekly(series)
    timings: list[Timing] = []
    with measure("engine (run_frame)", series, timings):
        result = run_frame(history, HOLDOUT, "weekly", Settings(n_jobs=n_jobs))
    models = direct_models()
    with measure("statsforecast: forecast only, no intervals", series, timings):
        StatsForecast(models, freq="W-MON", n_jobs=n_jobs).forecast(df=history, h=HOLDOUT)
    with measure("statsforecast: CV 3 windows + forecast", series, timings):
        sf = StatsForecast(models, freq="W-MON", n_jobs=n_jobs)
        sf.cross_validation(df=history, h=HOLDOUT, n_windows=3, step_size=HOLDOUT)
        sf.forecast(df=history, h=HOLDOUT)
    for store_bench in STORE_BENCHES:
        timings.append(store_bench(history, n_jobs))
    engine = timings[0]
    say(
        f"\n{'':42s} {'seconds':>8s} {'series/s':>9s} {'peak MB':>8s} {'engine ×':>9s} "
        f"{'CPU s':>7s} {'CPU ×':>6s}"
    )
    for timing in timings:
        ratio = timing.seconds / engine.seconds
        cpu_ratio = timing.cpu_seconds / engine.cpu_seconds
        say(
            f"{timing.label:42s} {timing.seconds:8.1f} {timing.rate:9.1f} "
            f"{timing.peak_bytes / 2**20:8.0f} {ratio:9.2f} {timing.cpu_seconds:7.1f} "
            f"{cpu_ratio:6.2f}"
        )
    bare = {t.label: t for t in timings}
    run = bare.get("forecast run, store to store")
    same_work = bare.get("statsforecast: CV 3 windows + forecast")
    if run is not None and same_work is not None:
        say(
            f"  store to store / bare statsforecast doing the same work (CV + forecast): "
            f"{run.seconds / same_work.seconds:.2f} wall, "
            f"{run.cpu_seconds / same_work.cpu_seconds:.2f} CPU (target: within 1.5)"
        )
    say("  statsforecast rows fit every candidate (the engine's weekly ones) on every series")
    say("  engine × is time relative to the engine; peak MB sums the process tree's PSS")
    say("  engine stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()))
    say(
        "  models chosen: "
        + ", ".join(f"{k} {v}" for k, v in result.series["model"].value_counts().items())
    )

    forecasts = result.forecasts
    naive = seasonal_naive(history, HOLDOUT, "W-MON", 52)
    engine_scores = score(history, future, forecasts, "yhat", 52, intervals=True)
    naive_scores = score(history, future, naive, "SeasonalNaive", 52)
    say(f"\n{'accuracy on the holdout':28s} {'sMAPE':>7s} {'MASE':>7s} {'cov80':>7s} {'cov95':>7s}")
    figures: dict[str, float] = {}
    for kind in ("smooth", "intermittent"):
        ids = kinds.index[kinds == kind]
        e, s = engine_scores.loc[ids], naive_scores.loc[ids]
        say(
            f"{kind + ', engine':28s} {e.smape.mean():7.2f} {e.mase.mean():7.3f} "
            f"{e.cov80.mean():7.3f} {e.cov95.mean():7.3f}"
        )
        say(f"{kind + ', seasonal naive':28s} {s.smape.mean():7.2f} {s.mase.mean():7.3f}")
        figures[f"{kind}_mase"] = float(e.mase.mean())
        figures[f"{kind}_naive_mase"] = float(s.mase.mean())
    gain = 1 - figures["smooth_mase"] / figures["smooth_naive_mase"]
    say(f"smooth series: MASE {gain:.1%} better than seasonal naive (target: at least 10%)")
    say("(sMAPE scores every zero week with a non-zero forecast 200: read MASE for intermittent)")
    trade_off(
        history, future=future, kinds=kinds, result=result, series=trade_off_series, n_jobs=n_jobs
    )
    return figures


def trade_off(
    history: pd.DataFrame,
    *,
    future: pd.DataFrame,
    kinds: pd.Series,
    result,
    series: int,
    n_jobs: int,
) -> None:
    """Seasonal AutoETS (season 52) against the engine's choice on the same smooth series."""
    from statsforecast.models import AutoETS

    ids = kinds.index[kinds == "smooth"][:series]
    subset = history[history["unique_id"].isin(ids)]
    actual = future[future["unique_id"].isin(ids)]
    started = time.perf_counter()
    sf = StatsForecast([AutoETS(season_length=52)], freq="W-MON", n_jobs=n_jobs)
    ets = sf.forecast(df=subset, h=HOLDOUT)
    seconds = time.perf_counter() - started
    ets_scores = score(subset, actual, ets, "AutoETS", 52)
    engine_scores = score(subset, actual, result.forecasts, "yhat", 52)
    engine_rate = len(result.series) / result.timings["total"]
    say(f"\ntrade-off on {len(ids)} smooth series ({n_jobs} jobs)")
    say(f"{'':44s} {'series/s':>9s} {'sMAPE':>7s} {'MASE':>7s}")
    say(
        f"{'seasonal AutoETS (52), fit once, no CV':44s} {len(ids) / seconds:9.1f} "
        f"{ets_scores.smape.mean():7.2f} {ets_scores.mase.mean():7.3f}"
    )
    say(
        f"{'engine: Fourier season + CV-chosen models':44s} {engine_rate:9.1f} "
        f"{engine_scores.smape.mean():7.2f} {engine_scores.mase.mean():7.3f}"
    )


# ---------------------------------------------------------------- (b) M3


def bench_m3(directory: Path, n_jobs: int, limit: int | None) -> None:
    train = pd.read_csv(directory / "m3_monthly_train.csv", parse_dates=["ds"])
    test = pd.read_csv(directory / "m3_monthly_test.csv", parse_dates=["ds"])
    if limit:
        keep = train["unique_id"].drop_duplicates().sample(limit, random_state=SEED)
        train = train[train["unique_id"].isin(keep)]
        test = test[test["unique_id"].isin(keep)]
    series = train["unique_id"].nunique()
    say(f"\n(b) M3 monthly: {series:,} series, horizon {M3_HORIZON}")
    started = time.perf_counter()
    result = run_frame(train, M3_HORIZON, "monthly", Settings(n_jobs=n_jobs))
    seconds = time.perf_counter() - started
    engine = score(train, test, result.forecasts, "yhat", 12, intervals=True)
    naive = score(train, test, seasonal_naive(train, M3_HORIZON, "MS", 12), "SeasonalNaive", 12)
    say(f"engine: {seconds:.0f} s ({series / seconds:.1f} series/s)")
    say(
        "  models chosen: "
        + ", ".join(f"{k} {v}" for k, v in result.series["model"].value_counts().items())
    )
    say(f"\n{'method':44s} {'sMAPE':>7s} {'MASE':>7s}")
    say(
        f"{'AccuPredix engine (measured)':44s} {engine.smape.mean():7.2f} {engine.mase.mean():7.3f}"
    )
    say(f"{'seasonal naive (measured)':44s} {naive.smape.mean():7.2f} {naive.mase.mean():7.3f}")
    if limit:
        say("(a sample of the series: published figures are for all 1,428)")
    for name, published_smape, published_mase in M3_PUBLISHED:
        say(f"{name + ' (published)':44s} {published_smape:7.2f} {published_mase:7.3f}")
    say(f"interval coverage: 80% {engine.cov80.mean():.3f}, 95% {engine.cov95.mean():.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute")
    parser.add_argument("--series", type=int, help="synthetic series (default 10,000)")
    parser.add_argument(
        "--m3-dir", type=Path, default=REPO / ".." / "shared" / "data" / "m3", help="M3 data"
    )
    parser.add_argument("--n-jobs", type=int, default=usable_cores())
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-m3", action="store_true")
    args = parser.parse_args(argv)
    series = args.series or (300 if args.quick else 10_000)
    if not args.skip_synthetic:
        bench_synthetic(series, args.n_jobs, trade_off_series=40 if args.quick else 300)
    if not args.skip_m3:
        if not (args.m3_dir / "m3_monthly_train.csv").exists():
            sys.stderr.write(f"M3 data not found in {args.m3_dir}; pass --m3-dir\n")
            return 1
        bench_m3(args.m3_dir, args.n_jobs, limit=60 if args.quick else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
