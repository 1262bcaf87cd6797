"""``accupredix connector connect PROVIDER`` and ``connector reconnect ID``: sign in with OAuth.

Both open the system browser at the provider's sign-in page (or print the
address with ``--no-browser``) and wait for the provider to send the browser
back to the embedded server. When no AccuPredix server answers on the
configured address, the command serves the callback itself until it is done.
"""

from __future__ import annotations

import logging
import sys
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager

import click
import requests

from app.cli.connectors import parse_sets
from app.cli.context import CliState, fail, pass_state
from app.oauth.flow import COMPLETE, PENDING, ConnectStatus
from app.runtime import Runtime
from app.services import oauth as service
from app.services.urls import local_base_url

log = logging.getLogger(__name__)

_wait_option = click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600.0,
    show_default=True,
    help="Seconds to wait for the sign-in to finish.",
)
_browser_option = click.option(
    "--no-browser", is_flag=True, help="Print the sign-in address instead of opening a browser."
)


@click.command("connect")
@click.argument("provider")
@click.option("--name", required=True, help="A name for the new connector.")
@click.option("--preset", help="The preset, when several sign in with PROVIDER.")
@click.option("--shop", help="Shopify: the store, such as my-store.myshopify.com.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A setting; repeatable.")
@click.option(
    "--choose",
    "choice",
    metavar="ID",
    help="The organisation to read, when the sign-in reaches several (Xero: its tenant id).",
)
@_browser_option
@_wait_option
@pass_state
def connect(
    state: CliState,
    provider: str,
    name: str,
    preset: str | None,
    shop: str | None,
    sets: tuple[str, ...],
    choice: str | None,
    no_browser: bool,
    timeout: float,
) -> None:
    """Add a connector by signing in to PROVIDER (shopify, quickbooks, xero)."""
    runtime = state.runtime
    values = parse_sets(sets)
    with callback_server(runtime) as (host, port):
        authorization = service.start_connect(
            runtime.database,
            runtime.vault,
            runtime.config,
            provider,
            preset=preset,
            shop=shop,
            host=host,
            port=port,
        )
        outcome = _sign_in(runtime, authorization.url, authorization.state, no_browser, timeout)
    created = service.add_connected(
        runtime.database,
        runtime.vault,
        authorization.state,
        name=name,
        values=values,
        choice=_choose(outcome, choice),
    )
    click.echo(f"connector {created['id']} added: {created['name']} ({outcome.account})")


@click.command("reconnect")
@click.argument("connector_id", type=int, metavar="ID")
@click.option("--shop", help="Shopify: the store, when the connector does not name it.")
@_browser_option
@_wait_option
@pass_state
def reconnect(
    state: CliState, connector_id: int, shop: str | None, no_browser: bool, timeout: float
) -> None:
    """Sign connector ID in again; its mapping, schedule and history stay."""
    runtime = state.runtime
    with callback_server(runtime) as (host, port):
        authorization = service.start_reconnect(
            runtime.database,
            runtime.vault,
            runtime.config,
            connector_id,
            shop=shop,
            host=host,
            port=port,
        )
        outcome = _sign_in(runtime, authorization.url, authorization.state, no_browser, timeout)
    click.echo(f"connector {connector_id} reconnected ({outcome.account})")


@contextmanager
def callback_server(runtime: Runtime) -> Iterator[tuple[str | None, int | None]]:
    """Make sure an embedded server receives the callback; yields the address it listens on.

    A server already answering on the configured address (``accupredix serve``,
    the desktop app) receives it; otherwise one is started here for the wait.
    """
    config = runtime.config
    local = local_base_url(config.host, config.port)
    try:
        running = requests.get(f"{local}/healthz", timeout=3).ok
    except requests.RequestException:
        running = False
    if running:
        yield None, None
        return
    from embedded_api.app import create_app
    from embedded_api.server import EmbeddedServer

    try:
        server = EmbeddedServer(create_app(runtime), config.host, config.port)
    except OSError as exc:
        fail(
            f"cannot receive the sign-in: nothing answers on {local} and that address cannot "
            f"be listened on ({exc.strerror or exc})."
        )
    server.start()
    log.info("serving the OAuth callback on %s until the sign-in is done", server.url)
    try:
        yield server.host, server.port
    finally:
        server.stop()


def _sign_in(
    runtime: Runtime, url: str, state: str, no_browser: bool, timeout: float
) -> ConnectStatus:
    click.echo("Sign in at this address (it works once, for 10 minutes):")
    click.echo(url)
    if not no_browser and not webbrowser.open(url):
        click.echo("No browser could be opened here; open the address above yourself.", err=True)
    click.echo("Waiting for the sign-in to finish (Ctrl-C to give up)...", err=True)
    outcome = service.wait_for(runtime.database, state, timeout=timeout)
    if outcome.status == PENDING:
        fail(f"the sign-in did not finish within {timeout:g} s; run the command again.")
    if outcome.status != COMPLETE:
        fail(outcome.error or "the sign-in failed; run the command again.")
    return outcome


def _choose(outcome: ConnectStatus, choice: str | None) -> str | None:
    if choice or not outcome.choices:
        return choice
    listed = "\n".join(
        f"  {number}. {item['name']} ({item['id']})"
        for number, item in enumerate(outcome.choices, 1)
    )
    if not sys.stdin.isatty():
        fail(
            "the sign-in reached several organisations; run the command again with "
            f"--choose ID, one of:\n{listed}"
        )
    click.echo(f"The sign-in reached several organisations:\n{listed}")
    number = click.prompt(
        "Which one should this connector read?",
        type=click.IntRange(1, len(outcome.choices)),
    )
    return outcome.choices[number - 1]["id"]
