"""Entry point: the ``accupredix`` group and its sub-commands."""

from __future__ import annotations

import click

import app
from app.cli.connectors import connector
from app.cli.context import AppGroup, CliState
from app.cli.keys import api_key
from app.cli.oauth import connect, reconnect
from app.cli.ops import backup, doctor, restore
from app.cli.runs import run
from app.cli.server import gui, serve
from app.cli.store import db, demo, org
from app.cli.vault import vault


@click.group(
    cls=AppGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(app.__version__, prog_name="accupredix")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """AccuPredix On-Prem: demand forecasts, safety stock and alerts.

    Without a command, opens the desktop app.
    """
    state = ctx.ensure_object(CliState)
    ctx.call_on_close(state.close)
    if ctx.invoked_subcommand is None:
        ctx.invoke(gui)


for command in (gui, serve, db, demo, org, api_key, vault, connector, run, backup, restore, doctor):
    cli.add_command(command)
for command in (connect, reconnect):
    connector.add_command(command)


def main() -> None:
    cli(prog_name="accupredix")
