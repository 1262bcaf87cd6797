"""Forecasts on a Dask cluster: the same numbers as on this machine, and clear failures."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from distributed import LocalCluster
from sqlalchemy import func, select

import app
from app.cli.main import cli
from app.forecasting import Settings, run_frame
from app.forecasting import cluster as cluster_module
from app.forecasting.cluster import ClusterError, run_on_cluster
from app.runs import execute as execute_module
from app.runs.execute import execute_run
from app.services import runs as service
from app.store.db import Database
from app.store.models import Forecast, ForecastRun, RunStatus, SafetyStock
from tests.app.forecasting.series import intermittent, long_frame, weekly_seasonal
from tests.app.runs.test_execute import AS_OF, SETTINGS, by_sku, seed, shapes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """A local cluster of two single-threaded worker processes, on loopback."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster.scheduler_address


def mixed_frame() -> pd.DataFrame:
    series = {}
    for i in range(60):
        series[f"SMOOTH-{i:02d}"] = weekly_seasonal(
            104, level=20 + i, growth=(i % 3 - 1) * 0.3, seed=i
        )
        series[f"SLOW-{i:02d}"] = intermittent(104, chance=0.15 + i / 200, seed=100 + i)
    frame = long_frame(series, "2024-01-01", "W-MON")
    # A few short histories take the engine's other path.
    short = long_frame({"NEW": np.array([3.0, 5, 4, 6, 5])}, "2025-11-03", "W-MON")
    return pd.concat([frame, short], ignore_index=True)


def combined(parts, attribute: str) -> pd.DataFrame:
    frame = pd.concat([getattr(part, attribute) for part in parts])
    if attribute == "forecasts":
        return frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    return frame.sort_index()


def test_a_frame_forecast_on_the_cluster_equals_the_local_one(dask_scheduler: str) -> None:
    frame = mixed_frame()
    local = run_frame(frame, 12, "weekly", Settings(n_jobs=1))
    seen: list[tuple[int, int]] = []
    parts = run_on_cluster(
        dask_scheduler, frame, 12, "weekly", progress=lambda done, total: seen.append((done, total))
    )

    assert len(parts) > 1, "the work was split into batches for the workers"
    # Batches of other sizes round a few sums differently in the last bits (about
    # 1e-14 relative); any difference of model or fit would be far larger.
    same = {"check_exact": False, "rtol": 1e-10, "atol": 1e-10}
    expected = local.forecasts.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(combined(parts, "forecasts"), expected, **same)
    pd.testing.assert_frame_equal(combined(parts, "series"), local.series.sort_index(), **same)
    pd.testing.assert_frame_equal(combined(parts, "cv_sigma"), local.cv_sigma.sort_index(), **same)
    assert set(local.series["mode"]) >= {"fourier", "sporadic", "short"}
    totals = {total for _, total in seen}
    assert totals == {121}
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (121, 121)


def forbidden(*args: object, **kwargs: object) -> None:
    raise AssertionError("forecast in this process instead of on the cluster")


def test_a_run_on_the_cluster_stores_what_a_local_run_stores(
    sqlite_database: Database, dask_scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace_id = seed(sqlite_database, shapes(np.random.default_rng(3)))
    statuses, run_ids = [], []
    for cluster in (None, dask_scheduler):
        if cluster:
            # From here on, this process may not forecast: the cluster must.
            monkeypatch.setattr(execute_module, "run_frame", forbidden)
        created, _ = service.create_run(sqlite_database, workspace_id=workspace_id, horizon=8)
        statuses.append(
            execute_run(
                sqlite_database, created["id"], settings=SETTINGS, as_of=AS_OF, cluster=cluster
            )
        )
        run_ids.append(created["id"])
    assert statuses == [RunStatus.COMPLETE, RunStatus.COMPLETE]

    def values(model, columns: tuple[str, ...], run_id: int) -> dict[str, list[tuple]]:
        return {
            sku: sorted(tuple(getattr(row, c) for c in columns) for row in rows)
            for sku, rows in by_sku(sqlite_database, model, run_id).items()
        }

    forecast_columns = ("period_start", "yhat", "lo80", "hi80", "lo95", "hi95", "model")
    local, remote = (values(Forecast, forecast_columns, r) for r in run_ids)
    assert set(local) == {"STEADY", "RISING", "FALLING", "SLOW"}
    assert remote == local
    stock_columns = ("safety_stock", "reorder_point", "method")
    assert values(SafetyStock, stock_columns, run_ids[1]) == values(
        SafetyStock, stock_columns, run_ids[0]
    )
    remote_run = service.get_run(sqlite_database, run_ids[1])
    assert (remote_run["series_done"], remote_run["series_total"]) == (4, 4)


def test_the_cli_runs_on_the_cluster_the_environment_names(
    dask_scheduler: str, isolated_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_FORECAST_CLUSTER", dask_scheduler)
    isolated_env.mkdir(parents=True)
    database = Database(f"sqlite:///{isolated_env / 'accupredix.db'}")
    database.upgrade()
    workspace_id = seed(database, shapes(np.random.default_rng(5)))
    database.dispose()

    result = CliRunner().invoke(cli, ["run", "create", "--wait", "--workspace", str(workspace_id)])

    assert result.exit_code == 0, result.output
    assert f"on the Dask cluster at {dask_scheduler}" in result.output
    assert "complete: 4 series" in result.output


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_fails_the_run_with_the_address(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{closed_port()}"
    workspace_id = seed(sqlite_database, shapes(np.random.default_rng(4)))
    created, _ = service.create_run(sqlite_database, workspace_id=workspace_id, horizon=8)

    status = execute_run(
        sqlite_database, created["id"], settings=SETTINGS, as_of=AS_OF, cluster=address
    )

    assert status is RunStatus.FAILED
    with sqlite_database.session() as session:
        run = session.get(ForecastRun, created["id"])
        assert run.error.startswith(f"Could not reach the Dask scheduler at {address}")
        assert "ACCUPREDIX_FORECAST_CLUSTER" in run.error
        assert session.scalar(select(func.count()).select_from(Forecast)) == 0


def test_workers_on_another_version_are_refused(
    dask_scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The workers import the installed package; this process now claims another version.
    monkeypatch.setattr(app, "__version__", "0.0.0+elsewhere")
    with pytest.raises(ClusterError, match=r"2 Dask worker\(s\) run another engine"):
        run_on_cluster(dask_scheduler, mixed_frame(), 4, "weekly")


def test_a_scheduler_without_workers_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "WORKER_TIMEOUT", 1.0)
    with (
        LocalCluster(
            n_workers=0, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as empty,
        pytest.raises(ClusterError, match="has no workers"),
    ):
        run_on_cluster(empty.scheduler_address, mixed_frame(), 4, "weekly")


def test_bad_input_on_a_worker_comes_back_as_the_engines_own_error(dask_scheduler: str) -> None:
    frame = mixed_frame()
    with pytest.raises(ValueError, match="horizon must be between"):
        run_on_cluster(dask_scheduler, frame, 100_000, "weekly")
