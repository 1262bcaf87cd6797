"""``accupredix vault``: key rotation."""

from __future__ import annotations

import click

from app.cli.context import CliState, pass_state
from app.config import PREVIOUS_KEYS_ENV
from app.services import secrets


@click.group()
def vault() -> None:
    """Encryption of stored secrets."""


@vault.command("rotate")
@pass_state
def rotate(state: CliState) -> None:
    """Re-encrypt every secret with the current key.

    Old secrets are read with the keys in ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS.
    It runs in one transaction: if interrupted, nothing changes; run it again.
    """
    runtime = state.runtime
    result = secrets.rotate(runtime.database, runtime.vault)
    click.echo(
        f"re-encrypted {result.rotated} secrets under key {runtime.vault.current_key_id}; "
        f"{result.already_current} were already current"
    )
    if result.rotated:
        click.echo(f"The old key can now be removed from {PREVIOUS_KEYS_ENV}.", err=True)
