"""Insert-or-update of canonical demand lines, keyed by (connector, order, line).

This is the sync's hot path, so it compiles its statements once per dialect
and hands whole pages to the driver's ``executemany``, converting each value
with the bind processors SQLAlchemy itself would use (so what is stored is
exactly what the ORM would store, and reads back the same).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from app.canonical import COLUMN_NAMES, DEFAULT_LOCATION
from app.store.models import DemandLine
from app.store.types import utcnow

_TABLE = DemandLine.__table__
_KEY = ("connector_id", "order_id", "line_id")
_COLUMNS = ("connector_id", "workspace_id", *COLUMN_NAMES, "synced_at")
# Order ids per look-up of existing lines, well below SQLite's variable limit.
_IDS_PER_QUERY = 5_000


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class _Upsert:
    sql: str
    # Positional drivers (SQLite's qmark) take tuples in this order; named ones dicts.
    order: tuple[str, ...] | None
    processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    placeholder: str


@lru_cache(maxsize=16)
def _statement(dialect: Dialect) -> _Upsert:
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: statement.excluded[name] for name in _COLUMNS if name not in _KEY},
    )
    compiled = statement.compile(dialect=dialect, column_keys=list(_COLUMNS))
    positional = dialect.paramstyle in ("qmark", "numeric", "format")
    return _Upsert(
        sql=str(compiled),
        order=tuple(compiled.positiontup or ()) if positional else None,
        processors=tuple((name, _TABLE.c[name].type.bind_processor(dialect)) for name in _COLUMNS),
        placeholder="?" if dialect.paramstyle == "qmark" else "%s",
    )


def existing_keys(
    session: Session, connector_id: int, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The (order_id, line_id) pairs among ``keys`` already stored for the connector."""
    wanted = set(keys)
    order_ids = sorted({order_id for order_id, _ in keys})
    connection = session.connection()
    mark = _statement(connection.dialect).placeholder
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


def upsert_lines(
    session: Session, connector_id: int, workspace_id: int, rows: Sequence[dict[str, Any]]
) -> tuple[int, int]:
    """Write canonical rows; returns (inserted, updated).

    Rows must be unique by (order_id, line_id) within the call. A row pulled
    again replaces the stored values, so a cancelled or refunded line updates
    its status and quantity rather than adding a second line.
    """
    if not rows:
        return 0, 0
    connection = session.connection()
    upsert = _statement(connection.dialect)
    processors = dict(upsert.processors)
    fixed = {"connector_id": connector_id, "workspace_id": workspace_id, "synced_at": utcnow()}
    # The same for every row: converted once.
    fixed = {name: (processors[name] or _same)(value) for name, value in fixed.items()}
    converters = [(name, processors[name]) for name in COLUMN_NAMES]
    values: list[dict[str, Any]] = []
    keys: list[tuple[str, str]] = []
    for row in rows:
        record = dict(fixed)
        for name, process in converters:
            value = row.get(name)
            record[name] = value if process is None or value is None else process(value)
        if not record["location"]:
            record["location"] = DEFAULT_LOCATION
        values.append(record)
        keys.append((record["order_id"], record["line_id"]))
    updated = len(existing_keys(session, connector_id, keys))
    if upsert.order is not None:
        columns = upsert.order
        connection.exec_driver_sql(upsert.sql, [tuple(map(v.__getitem__, columns)) for v in values])
    else:
        connection.exec_driver_sql(upsert.sql, values)
    return len(values) - updated, updated
