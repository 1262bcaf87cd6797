"""``accupredix backup``, ``restore`` and ``doctor``: looking after an installation."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.context import fail
from app.config import load_config
from app.ops.backup import backup_sqlite, postgres_guidance, restore_sqlite, sqlite_path
from app.ops.doctor import FAIL, OK, SKIP, WARN, run_checks
from app.store.db import Database
from app.sync.leader import leader_lock_for

MARKS = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL", SKIP: "skip"}


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace TARGET if it exists.")
def backup(target: Path, force: bool) -> None:
    """Copy the store to TARGET, consistently, while the app or server may run."""
    config = load_config()
    source = sqlite_path(config.database_url)
    if source is None:
        click.echo(postgres_guidance(config.database_url, str(target)), err=True)
        fail("`accupredix backup` copies SQLite stores; use pg_dump for PostgreSQL.")
    result = backup_sqlite(source, target, overwrite=force)
    click.echo(f"backed up {source} to {result.path} ({result.bytes:,} bytes)")


@click.command("restore")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def restore(source: Path) -> None:
    """Replace the store with the backup SOURCE (the current store is kept beside it).

    Stop `accupredix serve` and the desktop app first.
    """
    config = load_config()
    store = sqlite_path(config.database_url)
    if store is None:
        click.echo(postgres_guidance(config.database_url, str(source)), err=True)
        fail("`accupredix restore` restores SQLite stores; use pg_restore for PostgreSQL.")
    config.ensure_data_dir()
    database = Database(config.database_url)
    # Every running instance competes for the scheduler's lock, so holding it
    # means none runs; it stays held until the restore is done.
    lock = leader_lock_for(database)
    try:
        if not lock.try_acquire():
            fail(
                "AccuPredix is running on this store: stop `accupredix serve` and the desktop app."
            )
        database.dispose()
        kept = restore_sqlite(source, store)
        database.upgrade()
    finally:
        lock.release()
        database.dispose()
    click.echo(f"restored {store} from {source}")
    if kept is not None:
        click.echo(f"the store before the restore is kept at {kept}")


@click.command("doctor")
def doctor() -> None:
    """Check the store, the key, the keyring, the port, the public URL and the clock."""
    checks = run_checks(load_config())
    for check in checks:
        click.echo(f"[{MARKS[check.status]}] {check.name}: {check.detail}")
        if check.fix and check.status != OK:
            click.echo(f"        fix: {check.fix}")
    failed = [c.name for c in checks if c.status == FAIL]
    if failed:
        fail(f"{len(failed)} check(s) failed: {', '.join(failed)}")
    click.echo(
        "no problems found" if all(c.status in (OK, SKIP) for c in checks) else "warnings only"
    )
