"""Copying a whole store to another database: SQLite to PostgreSQL, or back.

Every table is copied with its ids, parents before children, in chunks, and
the target's id sequences are moved past the copied ids. Secrets are copied
as stored: their encryption binds them to the connector's id, which is kept,
so they decrypt on the target with the same key. The copy refuses a target
that already holds data, and checks the row counts of every table at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.services.errors import InvalidInput, ServiceError
from app.store.db import Database
from app.store.migrate import current_revision, head_revision
from app.store.models import Base

log = logging.getLogger(__name__)

CHUNK = 5_000


@dataclass(frozen=True)
class CopyResult:
    tables: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def copy_store(
    source: Database,
    target_url: str,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> CopyResult:
    """Copy everything in ``source`` into the empty store at ``target_url``.

    Both stores are brought to the current schema first.

    Raises:
        InvalidInput: the target is the source, or already holds data.
        ServiceError: the row counts differ after the copy.
    """
    target_url = _checked_url(target_url)
    if _same_store(source.url, target_url):
        raise InvalidInput("The target is the store in use; name another database.")
    source.upgrade()
    target = Database(target_url)
    try:
        target.upgrade()
        tables = Base.metadata.sorted_tables
        with target.engine.connect() as connection:
            holding = [
                t.name for t in tables if connection.scalar(select(func.count()).select_from(t))
            ]
        if holding:
            raise InvalidInput(
                f"The target already holds data (in {', '.join(holding[:3])}); "
                "copy into an empty database."
            )
        counts: dict[str, int] = {}
        with source.engine.connect() as reading, target.engine.begin() as writing:
            for table in tables:
                copied = 0
                result = reading.execution_options(stream_results=True).execute(
                    select(table).order_by(*table.primary_key.columns)
                )
                for rows in result.mappings().partitions(CHUNK):
                    writing.execute(insert(table), [dict(row) for row in rows])
                    copied += len(rows)
                counts[table.name] = copied
                if progress is not None:
                    progress(table.name, copied)
            if target.engine.dialect.name == "postgresql":
                _move_sequences(writing)
        _verify(target, counts)
        log.info("store copied: %s rows in %s tables", sum(counts.values()), len(counts))
        return CopyResult(counts)
    finally:
        target.dispose()


def _checked_url(value: str) -> str:
    try:
        url = make_url(value.strip())
    except ArgumentError:
        raise InvalidInput(
            "The target must be a database URL such as "
            "postgresql+psycopg://user:password@127.0.0.1/accupredix."
        ) from None
    if url.drivername in ("postgres", "postgresql"):
        # The driver this package installs, as for ACCUPREDIX_DATABASE_URL.
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput("The target must be a PostgreSQL or SQLite database.")
    return url.render_as_string(hide_password=False)


def _same_store(source_url: str, target_url: str) -> bool:
    a, b = make_url(source_url), make_url(target_url)
    return (a.get_backend_name(), a.host, a.port, a.database) == (
        b.get_backend_name(),
        b.host,
        b.port,
        b.database,
    )


def _move_sequences(connection: Connection) -> None:
    """Set each serial id's sequence past the largest copied id."""
    for table in Base.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if not column.autoincrement or column.type.python_type is not int:
                continue
            sequence = connection.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence is None:
                continue
            connection.execute(
                text(
                    f"SELECT setval(:sequence, COALESCE((SELECT MAX({column.name}) "  # noqa: S608
                    f"FROM {table.name}), 0) + 1, false)"
                ),
                {"sequence": sequence},
            )


def _verify(target: Database, counts: dict[str, int]) -> None:
    if current_revision(target.engine) != head_revision():
        raise ServiceError("The target's schema is not current after the copy.")
    with target.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            found = connection.scalar(select(func.count()).select_from(table))
            if found != counts[table.name]:
                raise ServiceError(
                    f"Copy check failed: {table.name} has {found} rows in the target, "
                    f"{counts[table.name]} in the source."
                )
