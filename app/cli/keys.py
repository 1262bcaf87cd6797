"""``accupredix api-key``: create, list and revoke keys for the API and OData."""

from __future__ import annotations

import json

import click

from app.cli.context import CliState, pass_state
from app.services import api_keys


@click.group("api-key")
def api_key() -> None:
    """API keys for /api/v1 and the OData feed."""


@api_key.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. 'Zapier'.")
@click.option(
    "--scope",
    "scopes",
    default="read",
    show_default=True,
    help="Comma-separated: read, write, odata.",
)
@pass_state
def create(state: CliState, name: str, scopes: str) -> None:
    """Create a key and print it once, on the last line."""
    with state.runtime.database.session() as session:
        created = api_keys.create_key(session, name, scopes)
        click.echo(
            f"created API key {created.key.id} '{created.key.name}' "
            f"({created.key.prefix}, scopes {created.key.scopes})"
        )
        click.echo("Copy it now: it is stored hashed and will not be shown again.", err=True)
        click.echo(created.secret)


@api_key.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List keys (prefix only; the key itself is never stored)."""
    with state.runtime.database.session() as session:
        rows = [
            {
                "id": key.id,
                "name": key.name,
                "prefix": key.prefix,
                "scopes": key.scopes,
                "created_at": key.created_at.isoformat(),
                "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
                "revoked": key.revoked_at is not None,
            }
            for key in api_keys.list_keys(session)
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no API keys")
        return
    click.echo(f"{'ID':>4}  {'PREFIX':<14} {'SCOPES':<17} {'LAST USED':<20} {'STATE':<8} NAME")
    for row in rows:
        last = (row["last_used_at"] or "never")[:19]
        state_text = "revoked" if row["revoked"] else "active"
        click.echo(
            f"{row['id']:>4}  {row['prefix']:<14} {row['scopes']:<17} {last:<20} "
            f"{state_text:<8} {row['name']}"
        )


@api_key.command("revoke")
@click.argument("key_id", type=int)
@pass_state
def revoke(state: CliState, key_id: int) -> None:
    """Revoke a key; requests with it are refused from now on."""
    with state.runtime.database.session() as session:
        key = api_keys.revoke_key(session, key_id)
        click.echo(f"revoked API key {key.id} ({key.prefix})")
