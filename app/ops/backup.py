"""Backups of the SQLite store, taken online, and restoring one.

SQLite's online backup API copies the database inside one read transaction,
so the copy is consistent even while the server or the desktop app keep
writing. PostgreSQL stores are backed up with ``pg_dump``;
:func:`postgres_guidance` says how.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from app.services.errors import InvalidInput, ServiceError
from app.store.migrate import is_known_revision
from app.store.types import utcnow

log = logging.getLogger(__name__)

# The whole store in one step of the backup API: in WAL mode that is one read
# transaction, a snapshot that writers do not wait for. Copying in several steps
# would restart from the beginning after every write by another connection, and
# on a store that syncs all the time might never finish.
PAGES_PER_STEP = -1
# Tables whose presence marks a file as an AccuPredix store.
MARKER_TABLES = frozenset({"alembic_version", "organisations", "connectors", "demand_lines"})


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    revision: str | None


def sqlite_path(database_url: str) -> Path | None:
    """The file of an SQLite store; None for other databases or an in-memory one."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def postgres_guidance(database_url: str, target: str) -> str:
    """How to back up and restore a PostgreSQL store with its own tools."""
    url = make_url(database_url).set(drivername="postgresql")
    shown = url.render_as_string(hide_password=True).replace("***", "<password>")
    return (
        "This store is PostgreSQL: back it up with its own tools, which copy a consistent "
        "snapshot while the server runs.\n"
        f"  backup:  PGPASSWORD=... pg_dump --format=custom --file {target} '{shown}'\n"
        f"  restore: PGPASSWORD=... pg_restore --clean --if-exists --dbname '{shown}' {target}\n"
        "Stop `accupredix serve` and the desktop app before restoring."
    )


def backup_sqlite(source: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the store at ``source`` to ``target`` consistently, while it may be in use.

    The copy is written beside ``target`` and renamed into place once its
    integrity check passes, so a failed backup never leaves a half file.
    """
    if not source.is_file():
        raise InvalidInput(f"There is no store at {source}.")
    if target.exists() and not overwrite:
        raise InvalidInput(f"{target} exists; pass --force to replace it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # Read-write, though it only reads: a read-only connection cannot join a
        # store in WAL mode whose shared-memory file it may not create.
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
            contextlib.closing(sqlite3.connect(partial)) as dst,
        ):
            src.backup(dst, pages=PAGES_PER_STEP)
            # One self-contained file: no WAL beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
        revision = check_store_file(partial)
        partial.replace(target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise ServiceError(f"Backup failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = target.stat().st_size
    log.info("backup of %s written to %s (%s bytes)", source, target, size)
    return BackupResult(target, size, revision)


def check_store_file(path: Path) -> str | None:
    """Check that ``path`` is an intact AccuPredix store; returns its schema revision.

    Raises:
        InvalidInput: not an SQLite file, damaged, not a store, or from a newer version.
    """
    if not path.is_file():
        raise InvalidInput(f"There is no file at {path}.")
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise InvalidInput(f"{path} is damaged: {verdict}")
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if not tables >= MARKER_TABLES:
                raise InvalidInput(f"{path} is an SQLite file but not an AccuPredix store.")
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} is not an AccuPredix store ({exc}).") from exc
    revision = row[0] if row else None
    if revision is not None and not is_known_revision(revision):
        raise InvalidInput(
            f"{path} comes from a newer AccuPredix (schema {revision}); upgrade this "
            "installation before restoring it."
        )
    return revision


def restore_sqlite(backup: Path, store: Path) -> Path | None:
    """Replace the store at ``store`` with ``backup``; returns where the old store was kept.

    The current store is first backed up beside itself (``*.before-restore-<time>``),
    then the backup is copied in with the backup API, which takes SQLite's
    locks: a process writing at that moment makes it wait, never sees half a
    store. Run the restore with the server and the desktop app stopped; the
    caller migrates the restored store to the current schema.
    """
    check_store_file(backup)
    kept = None
    if store.exists():
        stamp = utcnow().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = store.with_name(f"{store.name}.before-restore-{stamp}")
        backup_sqlite(store, kept)
    store.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            contextlib.closing(sqlite3.connect(backup, timeout=30)) as src,
            contextlib.closing(sqlite3.connect(store, timeout=30)) as dst,
        ):
            src.backup(dst, pages=PAGES_PER_STEP)
    except sqlite3.Error as exc:
        raise ServiceError(
            f"Restore failed ({exc}); the store before the attempt is kept at {kept}."
        ) from exc
    log.info("store %s restored from %s; previous store kept at %s", store, backup, kept)
    return kept
