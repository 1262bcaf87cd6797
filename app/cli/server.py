"""``accupredix serve`` (headless server) and ``accupredix gui`` (desktop app)."""

from __future__ import annotations

import logging
import os
import sys

import click
from sqlalchemy import select

from app.cli.context import CliState, fail, pass_state
from app.store.models import Organisation

log = logging.getLogger(__name__)


def has_display() -> bool:
    """Whether a desktop window can be shown here (or Qt was told to go offscreen)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@click.command()
@click.option("--host", help="Address to bind (default ACCUPREDIX_HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default ACCUPREDIX_PORT or 8765).")
@click.option("--demo", is_flag=True, help="Seed demo data first if the store is empty.")
@pass_state
def serve(state: CliState, host: str | None, port: int | None, demo: bool) -> None:
    """Run the embedded server headless until SIGTERM or Ctrl-C."""
    from app.services.scheduling import BackgroundWork
    from embedded_api.app import create_app
    from embedded_api.server import EmbeddedServer

    state.console_level = logging.INFO
    runtime = state.runtime
    if demo:
        with runtime.database.session() as session:
            empty = session.scalars(select(Organisation.id).limit(1)).first() is None
        if empty:
            from app.demo import seed_demo

            click.echo("seeding demo data (first start)...", err=True)
            seed_demo(runtime.database)
    bind_host = host or runtime.config.host
    bind_port = runtime.config.port if port is None else port
    scheduler = BackgroundWork(runtime)
    # A run posted to the API starts at once rather than at the worker's next poll.
    flask_app = create_app(runtime, on_run_created=lambda _run_id: scheduler.runs.wake())
    try:
        server = EmbeddedServer(flask_app, bind_host, bind_port)
    except OSError as exc:
        fail(f"cannot listen on {bind_host}:{bind_port}: {exc.strerror or exc}")
    server.stop_on_signals()
    scheduler.start()
    click.echo(f"AccuPredix server listening on {server.url} (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    finally:
        scheduler.stop()


@click.command()
@click.option(
    "--screenshot",
    "screenshot_dir",
    type=click.Path(file_okay=False),
    help="Render the window offscreen to PNGs in this folder, then exit.",
)
@pass_state
def gui(state: CliState, screenshot_dir: str | None) -> None:
    """Open the desktop app."""
    if screenshot_dir:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not has_display():
        fail(
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset). On a headless "
            "machine run `accupredix serve` instead."
        )
    from ui.application import run_gui

    sys.exit(run_gui(state.runtime, screenshot_dir=screenshot_dir))
