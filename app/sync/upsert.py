"""Insert-or-update of canonical demand lines, keyed by (connector, order, line).

This is the sync's hot path, so it compiles its statement once per dialect and
hands whole pages to the driver's ``executemany``. Values are converted as the
column types' bind processors convert them (see :func:`row_plan`), so what is
stored is what SQLAlchemy would store, and reads back the same.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, processors
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from app.canonical import COLUMN_NAMES, DEFAULT_LOCATION
from app.store.models import DemandLine
from app.store.types import UTCDateTime, utcnow
from app.sync.rows import PROBE, RowFormat, RowPlan, Step

log = logging.getLogger(__name__)

_TABLE = DemandLine.__table__
_KEY = ("connector_id", "order_id", "line_id")
# The columns a sync writes that the mapping does not fill.
FIXED_COLUMNS = ("connector_id", "workspace_id", "synced_at")
_COLUMNS = ("connector_id", "workspace_id", *COLUMN_NAMES, "synced_at")
# Order ids per look-up of existing lines, well below SQLite's variable limit.
_IDS_PER_QUERY = 5_000
# SQLite settings of the connection a sync writes on, for as long as it writes.
# Each page's transaction touches a few hundred pages of the series index (one
# per SKU): a larger cache keeps them in memory (16 MiB, a fixed cap), and
# checkpointing every 20,000 WAL pages (80 MiB at most) rather than 1,000 copies
# and syncs them to the database once per few dozen transactions rather than
# every other one. A big sync still checkpoints about every half second, so
# what a power cut could take back (synchronous=NORMAL) stays that short.
SQLITE_WRITING = {"cache_size": -16_384, "wal_autocheckpoint": 20_000}


@dataclass(frozen=True)
class Upsert:
    """The compiled upsert of one dialect."""

    sql: str
    # The parameters in statement order: positional drivers (SQLite's qmark)
    # take tuples in this order, named ones dicts with these keys.
    names: tuple[str, ...]
    positional: bool
    processors: dict[str, Callable[[Any], Any] | None]
    placeholder: str


def column_type(name: str) -> TypeEngine[Any]:
    """The SQLAlchemy type of a ``demand_lines`` column."""
    return _TABLE.c[name].type


@lru_cache(maxsize=16)
def statement_for(dialect: Dialect) -> Upsert:
    """The upsert compiled for ``dialect`` (cached per dialect)."""
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: statement.excluded[name] for name in _COLUMNS if name not in _KEY},
    )
    compiled = statement.compile(dialect=dialect, column_keys=list(_COLUMNS))
    positional = dialect.paramstyle in ("qmark", "numeric", "format")
    return Upsert(
        sql=str(compiled),
        names=tuple(compiled.positiontup or ()) if positional else _COLUMNS,
        positional=positional,
        processors={name: column_type(name).bind_processor(dialect) for name in _COLUMNS},
        placeholder="?" if dialect.paramstyle == "qmark" else "%s",
    )


def _adapts(dialect: Dialect) -> bool:
    """Whether the driver is sqlite3, which adapts values of types it does not bind itself."""
    return dialect.name == "sqlite" and dialect.driver == "pysqlite"


def _steps(dialect: Dialect, name: str, *, named: bool) -> tuple[Step, ...]:
    """How a column's values reach the driver; by named steps of RowPlan if ``named``."""
    column = column_type(name)
    process = statement_for(dialect).processors[name]
    steps: list[Step] = []
    if not named:
        steps.extend(step for step in (process,) if step is not None)
    elif process is processors.to_float:
        steps.append("float")
    elif isinstance(column, UTCDateTime) and column.impl_instance.bind_processor(dialect) is None:
        steps.append("utc")
    elif process is not None:
        steps.append(process)
    # Text and whole numbers bind as they are, unless adapters are registered for them.
    if _adapts(dialect) and (not named or column.python_type not in (str, int)):
        steps.append("adapt")
    return tuple(steps)


def _reference_row(dialect: Dialect, values: dict[str, Any]) -> tuple[Any, ...]:
    """A row converted the plain way: bind processors, then the sqlite3 adapters."""
    import sqlite3

    upsert = statement_for(dialect)
    out = []
    for name in upsert.names:
        if name == "synced_at":
            continue
        value = values.get(name)
        process = upsert.processors[name]
        if process is not None and value is not None:
            value = process(value)
        if _adapts(dialect) and value is not None:
            adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
            value = value if adapter is None else adapter(value)
        if name == "location" and not value:
            value = DEFAULT_LOCATION
        out.append(value)
    return tuple(out)


@lru_cache(maxsize=16)
def row_plan(dialect: Dialect) -> RowPlan:
    """How rows are converted for ``dialect``: by named steps where they give the same values.

    The named steps are plain functions a worker process can use without
    SQLAlchemy; they are checked on a probe row against the bind processors,
    which the plan uses instead where they differ.
    """
    upsert = statement_for(dialect)
    fixed = tuple(name for name in upsert.names if name in FIXED_COLUMNS and name != "synced_at")
    columns = tuple(name for name in upsert.names if name not in FIXED_COLUMNS)
    if tuple(name for name in upsert.names if name != "synced_at") != (*fixed, *columns):
        raise ValueError(f"unexpected parameter order {upsert.names}")  # pragma: no cover
    expected = [_reference_row(dialect, {"connector_id": 1, "workspace_id": 1, **PROBE})]
    for named in (True, False):
        plan = RowPlan(
            head=fixed,
            columns=columns,
            synced_index=upsert.names.index("synced_at"),
            positional=upsert.positional,
            steps={name: _steps(dialect, name, named=named) for name in _COLUMNS},
            shared=frozenset(
                name for name in columns if column_type(name).python_type not in (str, int, Decimal)
            ),
        )
        if RowFormat(plan).probe() == expected:
            break
    return plan


@lru_cache(maxsize=16)
def row_format(dialect: Dialect) -> RowFormat:
    """The row format of ``dialect`` (cached per dialect)."""
    return RowFormat(row_plan(dialect))


@contextlib.contextmanager
def writing_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to write a sync's pages on; on SQLite with :data:`SQLITE_WRITING` set.

    The settings are the connection's own and are put back before it returns to
    the pool, followed by a checkpoint that does not wait for readers.
    """
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            yield connection
            return
        before = {name: _pragma(connection, name) for name in SQLITE_WRITING}
        for name, value in SQLITE_WRITING.items():
            _pragma(connection, name, value)
        connection.commit()
        try:
            yield connection
        finally:
            try:
                for name, value in before.items():
                    _pragma(connection, name, value)
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
                connection.commit()
            except SQLAlchemyError as exc:
                # Not back to the pool with our settings: the pool makes a new one.
                log.warning("could not reset the sync's store connection: %s", exc)
                connection.invalidate()


def _pragma(connection: Connection, name: str, value: int | None = None) -> int:
    """Read a pragma, or set it (some settings answer, some do not)."""
    if value is None:
        return int(connection.exec_driver_sql(f"PRAGMA {name}").scalar_one())
    connection.exec_driver_sql(f"PRAGMA {name} = {int(value)}").close()
    return value


def existing_keys(
    connection: Connection, connector_id: int, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (order_id, line_id) pairs among ``keys`` already stored for the connector."""
    wanted = set(keys)
    order_ids = sorted({order_id for order_id, _ in keys})
    mark = statement_for(connection.dialect).placeholder
    found: set[tuple[str, str]] = set()
    for start in range(0, len(order_ids), _IDS_PER_QUERY):
        chunk = order_ids[start : start + _IDS_PER_QUERY]
        rows = connection.exec_driver_sql(
            f"SELECT order_id, line_id FROM demand_lines WHERE connector_id = {mark} "  # noqa: S608 - placeholders only
            f"AND order_id IN ({', '.join([mark] * len(chunk))})",
            (connector_id, *chunk),
        )
        found.update(key for key in map(tuple, rows) if key in wanted)
    return found


def write_rows(
    connection: Connection, form: RowFormat, connector_id: int, rows: list[tuple[Any, ...]]
) -> tuple[int, int]:
    """Write rows prepared by ``form``; returns (inserted, updated).

    Rows must be unique by (order_id, line_id). A row pulled again replaces
    the stored values, so a cancelled or refunded line updates its status and
    quantity rather than adding a second line.
    """
    if not rows:
        return 0, 0
    upsert = statement_for(connection.dialect)
    names = form.plan.names
    order, line = names.index("order_id"), names.index("line_id")
    updated = len(existing_keys(connection, connector_id, [(r[order], r[line]) for r in rows]))
    synced = form.fixed("synced_at", utcnow())
    at = form.plan.synced_index
    if at == len(names):
        params: list[Any] = [(*row, synced) for row in rows]
    else:
        params = [(*row[:at], synced, *row[at:]) for row in rows]
    if not upsert.positional:
        params = [dict(zip(upsert.names, row, strict=True)) for row in params]
    connection.exec_driver_sql(upsert.sql, params)
    return len(rows) - updated, updated
