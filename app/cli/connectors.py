"""``accupredix connector``: presets, add, list, test, preview, sync, delete."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import click

from app.cli.context import CliState, fail, pass_state
from app.connectors.fields import is_visible
from app.connectors.registry import get_preset
from app.services import connectors as service
from app.sync.engine import SyncProgress


def parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        values[name.strip()] = value
    return values


def prompt_missing_secrets(preset: str, values: dict[str, Any]) -> dict[str, Any]:
    """Ask for required secrets not given with --set, without echo (TTY only)."""
    preset_cls = get_preset(preset)
    for spec in preset_cls.fields:
        wanted = spec.secret and spec.required and not spec.managed
        if wanted and is_visible(spec, values) and spec.name not in values:
            if not sys.stdin.isatty():
                continue  # validation then names the missing field
            values[spec.name] = click.prompt(spec.label, hide_input=True)
    return values


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


@click.group("connector")
def connector() -> None:
    """Data connectors: add, test, preview, sync."""


@connector.command("presets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def presets_cmd(as_json: bool) -> None:
    """List presets with their category and declared fields."""
    described = service.describe_presets()
    if as_json:
        _echo_json(described)
        return
    for preset in described:
        click.echo(f"{preset['id']:<16} {preset['category']:<11} {preset['name']}")
        for spec in preset["fields"]:
            if spec["managed"]:
                continue
            flag = "required" if spec["required"] else "optional"
            click.echo(f"    {spec['name']:<24} {spec['kind']:<8} {flag}")


@connector.command("add")
@click.option("--preset", required=True, help="Preset id (see `connector presets`).")
@click.option("--name", required=True, help="A name for the connector.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A setting; repeatable.")
@click.option(
    "--mapping", type=click.File("r"), help="Field mapping JSON file (default: the preset's)."
)
@pass_state
def add(
    state: CliState, preset: str, name: str, sets: tuple[str, ...], mapping: Any | None
) -> None:
    """Create a connector; secrets are encrypted and never printed back."""
    values = prompt_missing_secrets(preset, parse_sets(sets))
    spec = _load_mapping(mapping)
    runtime = state.runtime
    created = service.add_connector(
        runtime.database, runtime.vault, preset=preset, name=name, values=values, mapping=spec
    )
    click.echo(f"created connector {created['id']} '{created['name']}' ({created['preset']})")


def _load_mapping(handle: Any | None) -> dict[str, Any] | None:
    if handle is None:
        return None
    try:
        return json.load(handle)
    except json.JSONDecodeError as exc:
        fail(f"the mapping file is not valid JSON: {exc}")
    return None


@connector.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_cmd(state: CliState, as_json: bool) -> None:
    """List connectors; secrets are shown as ********."""
    rows = service.list_connectors(state.runtime.database)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no connectors")
        return
    for row in rows:
        last = (row["last_synced_at"] or "never")[:19]
        click.echo(
            f"{row['id']:>4}  {row['preset']:<14} {row['status']:<16} {last:<20} {row['name']}"
        )
        for key, value in row["config"].items():
            click.echo(f"        {key} = {value}")
        if row["status_message"]:
            click.echo(f"        ! {row['status_message']}")


def _target(connector_id: int | None, preset: str | None, sets: tuple[str, ...]) -> dict[str, Any]:
    if (connector_id is None) == (preset is None):
        raise click.UsageError("give either a connector ID or --preset with --set values")
    values = parse_sets(sets)
    if preset is not None:
        values = prompt_missing_secrets(preset, values)
    return {"connector_id": connector_id, "preset": preset, "values": values}


@connector.command("test")
@click.argument("connector_id", type=int, required=False)
@click.option("--preset", help="Test an unsaved configuration of this preset.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--accept-host-key", is_flag=True, help="Pin the SSH host key the probe saw.")
@pass_state
def test_cmd(
    state: CliState,
    connector_id: int | None,
    preset: str | None,
    sets: tuple[str, ...],
    accept_host_key: bool,
) -> None:
    """Check the connection with one light call; nothing is saved."""
    runtime = state.runtime
    result = service.probe_connection(
        runtime.database, runtime.vault, **_target(connector_id, preset, sets)
    )
    click.echo(result.message)
    if result.account:
        click.echo(f"account: {result.account}")
    for key, value in result.details.items():
        if key != "host_key":
            click.echo(f"{key}: {value}")
    host_key = result.details.get("host_key")
    if accept_host_key:
        if connector_id is None or not host_key:
            fail("--accept-host-key needs a saved SFTP connector")
        service.update_connector(
            runtime.database, runtime.vault, connector_id, values={"host_key": host_key}
        )
        click.echo("host key pinned")


@connector.command("preview")
@click.argument("connector_id", type=int, required=False)
@click.option("--preset", help="Preview an unsaved configuration of this preset.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--mapping", type=click.File("r"), help="Field mapping JSON file to try.")
@click.option("--limit", default=service.PREVIEW_LIMIT, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def preview_cmd(
    state: CliState,
    connector_id: int | None,
    preset: str | None,
    sets: tuple[str, ...],
    mapping: Any | None,
    limit: int,
    as_json: bool,
) -> None:
    """Show sample rows in canonical columns, with the cells that failed."""
    runtime = state.runtime
    result = service.preview(
        runtime.database,
        runtime.vault,
        mapping=_load_mapping(mapping),
        limit=limit,
        **_target(connector_id, preset, sets),
    )
    if as_json:
        _echo_json({"rows": result.rows, "errors": result.errors})
        return
    click.echo(f"{result.records} source records, {len(result.rows)} rows")
    for number, (row, errors) in enumerate(zip(result.rows, result.errors, strict=True), 1):
        cells = ", ".join(f"{k}={v}" for k, v in row.items())
        click.echo(f"{number:>3}. {cells}")
        for column, message in errors.items():
            click.echo(f"     ! {column}: {message}")


@connector.command("sync")
@click.argument("connector_id", type=int)
@pass_state
def sync_cmd(state: CliState, connector_id: int) -> None:
    """Pull new and changed records now."""
    runtime = state.runtime

    def report(progress: SyncProgress) -> None:
        total = f" of {progress.total}" if progress.total else ""
        click.echo(
            f"  page {progress.pages}: {progress.rows} rows{total} ({progress.rate:,.0f} rows/s)",
            err=True,
        )

    cancel = threading.Event()
    try:
        result = service.sync_now(
            runtime.database, runtime.vault, connector_id, progress=report, cancel=cancel
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    click.echo(
        f"sync {result.sync_run_id} {result.status.value}: {result.inserted} inserted, "
        f"{result.updated} updated, {result.rejected} rejected in {result.pages} pages"
    )
    if result.error:
        fail(result.error)


@connector.command("delete")
@click.argument("connector_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def delete_cmd(state: CliState, connector_id: int, yes: bool) -> None:
    """Remove a connector with its demand lines."""
    runtime = state.runtime
    found = service.get_connector(runtime.database, connector_id)
    if not yes and not click.confirm(
        f"Delete connector {connector_id} '{found['name']}' and its demand lines?"
    ):
        fail("not deleted")
    service.delete_connector(runtime.database, connector_id)
    click.echo(f"deleted connector {connector_id}")
