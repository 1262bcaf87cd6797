"""``accupredix run``: start forecast runs and list them."""

from __future__ import annotations

import json

import click

from app.cli.context import CliState, fail, pass_state
from app.services import runs as service
from app.store.models import RunStatus


@click.group("run")
def run() -> None:
    """Forecast runs."""


@run.command("create")
@click.option("--horizon", type=int, help="Periods ahead (default: the workspace's).")
@click.option("--workspace", "workspace_id", type=int, help="Workspace id (default: the first).")
@click.option("--wait", is_flag=True, help="Run it now in this process and wait for the end.")
@pass_state
def create(state: CliState, horizon: int | None, workspace_id: int | None, wait: bool) -> None:
    """Queue a forecast run, or with --wait execute it here and report."""
    database = state.runtime.database
    created, _ = service.create_run(
        database, workspace_id=workspace_id, horizon=horizon, trigger="cli"
    )
    if not wait:
        click.echo(f"queued run {created['id']}")
        click.echo(
            "A running `accupredix serve` or desktop app executes it; use --wait to run it here.",
            err=True,
        )
        return

    from app.runs.execute import execute_run  # the forecasting libraries, only when needed

    def report(done: int, total: int) -> None:
        click.echo(f"  {done} of {total} series", err=True)

    cluster = state.runtime.config.forecast_cluster
    if cluster:
        click.echo(f"  on the Dask cluster at {cluster}", err=True)
    status = execute_run(database, created["id"], progress=report, cluster=cluster)
    result = service.get_run(database, created["id"])
    if status is RunStatus.FAILED:
        fail(f"run {created['id']} failed: {result['error']}")
    click.echo(
        f"run {created['id']} complete: {result['series_total']} series in "
        f"{result['duration_seconds']:.1f} s"
    )


@run.command("list")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]))
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_(state: CliState, status: str | None, limit: int, as_json: bool) -> None:
    """List runs, newest first."""
    rows = service.list_runs(state.runtime.database, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no forecast runs")
        return
    for row in rows:
        done = f"{row['series_done']}/{row['series_total']}"
        when = (row["completed_at"] or row["created_at"])[:19]
        click.echo(f"{row['id']:>5}  {row['status']:<9} {done:>11}  {when}  {row['trigger']}")
        if row["error"]:
            click.echo(f"       ! {row['error']}")
