"""Running the engine on a Dask cluster: the same ``run_frame``, on other machines.

Series are forecast independently of one another, so a frame split into
batches of series and forecast batch by batch gives the same forecasts as the
whole frame at once; here each batch is a Dask task. Every worker runs the
engine itself, so each needs AccuPredix installed at the same version (and so
the same statsforecast); that is checked before any work is sent.

Workers are best started with one thread each (``dask worker ADDRESS
--nthreads 1 --nworkers N``): the models hold the GIL for most of a fit, so
threads within one worker process add little.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

import app
from app.forecasting.engine import FrameForecast, run_frame
from app.forecasting.errors import ForecastInputError
from app.forecasting.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["ClusterError", "engine_versions", "run_on_cluster"]

logger = logging.getLogger(__name__)

# Seconds to reach the scheduler, and to wait for a first worker to join it.
CONNECT_TIMEOUT = 20.0
WORKER_TIMEOUT = 60.0
# Batches per worker thread, so that a slow batch does not leave the others idle,
# of at least this many series, so that each task's overhead stays small.
BATCHES_PER_THREAD = 4
MIN_BATCH = 50

Progress = Callable[[int, int], None]


class ClusterError(Exception):
    """The cluster cannot take the work; the message says what to fix."""


def engine_versions() -> tuple[str, str]:
    """The versions that decide a forecast: AccuPredix's and statsforecast's."""
    import statsforecast

    return app.__version__, statsforecast.__version__


def run_on_cluster(
    address: str,
    frame: pd.DataFrame,
    horizon: int,
    freq: str,
    settings: Settings | None = None,
    *,
    progress: Progress | None = None,
) -> list[FrameForecast]:
    """Forecast ``frame`` (``unique_id``, ``ds``, ``y``) on the Dask cluster at ``address``.

    Returns one ``FrameForecast`` per batch of series, in the order of the
    series' first rows in ``frame``. ``progress(done, total)`` is called with
    series counts as batches finish.

    Raises:
        ClusterError: the scheduler is unreachable, has no workers, or its workers
            run another version of the engine; or a batch failed on the cluster.
    """
    # Each task runs serially: worker processes may not start processes of their
    # own, and the cluster spreads the batches across its cores instead.
    settings = replace(settings or Settings(), n_jobs=1)
    ids = list(dict.fromkeys(frame["unique_id"]))
    with _client(address) as client:
        threads = _check_workers(client, address)
        size = max(MIN_BATCH, math.ceil(len(ids) / (threads * BATCHES_PER_THREAD)))
        batches = [ids[start : start + size] for start in range(0, len(ids), size)]
        rows = frame.groupby("unique_id", sort=False).indices
        futures = {}
        for index, batch in enumerate(batches):
            part = frame.iloc[sorted(i for uid in batch for i in rows[uid])]
            future = client.submit(
                run_frame, part, horizon, freq, settings, pure=False, key=f"forecast-batch-{index}"
            )
            futures[future] = index
        return _gather(client, futures, [len(b) for b in batches], len(ids), progress)


@contextmanager
def _client(address: str) -> Iterator[Client]:
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ClusterError(
            "ACCUPREDIX_FORECAST_CLUSTER is set but Dask's distributed package is missing: "
            "pip install distributed"
        ) from exc
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"Could not reach the Dask scheduler at {address} within {CONNECT_TIMEOUT:.0f} s: "
            "check ACCUPREDIX_FORECAST_CLUSTER and that the scheduler is running and "
            "reachable from this machine."
        ) from exc
    try:
        yield client
    finally:
        client.close()


def _check_workers(client: Client, address: str) -> int:
    """Wait for a worker, check every worker's engine version; return the thread count."""
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except TimeoutError as exc:
        raise ClusterError(
            f"The Dask scheduler at {address} has no workers after {WORKER_TIMEOUT:.0f} s: "
            "start some with `dask worker <address> --nthreads 1`."
        ) from exc
    wanted = engine_versions()
    try:
        found = client.run(engine_versions)
    except Exception as exc:
        # A worker without AccuPredix cannot even unpickle the call.
        raise ClusterError(
            f"The Dask workers cannot run the forecasting engine ({type(exc).__name__}: "
            f"{exc}). Install accupredix {wanted[0]} on every worker."
        ) from exc
    others = {worker: tuple(v) for worker, v in found.items() if tuple(v) != wanted}
    if others:
        worker, (version, library) = sorted(others.items())[0]
        raise ClusterError(
            f"{len(others)} Dask worker(s) run another engine (e.g. {worker}: accupredix "
            f"{version}, statsforecast {library}; here: accupredix {wanted[0]}, statsforecast "
            f"{wanted[1]}). Install the same versions on every worker so that forecasts do "
            "not depend on where they ran."
        )
    return max(1, sum(client.nthreads().values()))


def _gather(
    client: Client,
    futures: dict[Any, int],
    sizes: list[int],
    total: int,
    progress: Progress | None,
) -> list[FrameForecast]:
    from distributed import as_completed

    results: list[FrameForecast | None] = [None] * len(sizes)
    done = 0
    try:
        for future in as_completed(futures, loop=client.loop):
            index = futures[future]
            results[index] = _result(future)
            done += sizes[index]
            if progress is not None:
                progress(done, total)
    finally:
        client.cancel(list(futures))
    return [r for r in results if r is not None]


def _result(future: Any) -> FrameForecast:
    try:
        return future.result()
    except ForecastInputError:
        raise
    except Exception as exc:
        # KilledWorker after repeated worker deaths, a lost connection, or an
        # unexpected error in the engine on the worker: the run fails with the reason.
        logger.warning("forecast batch failed on the cluster: %s", exc, exc_info=True)
        raise ClusterError(
            f"A forecast batch failed on the Dask cluster ({type(exc).__name__}: {exc})."
        ) from exc
