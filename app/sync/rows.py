"""Canonical rows as the store's driver binds them, and pages ready to store.

Mapping and value conversion are most of a sync's work besides the database,
and they need nothing from it: :func:`map_records` does both, in the sync's
process or in its worker process (:mod:`app.sync.worker`), and hands the upsert
plain tuples. A :class:`RowPlan` says how each column's values are converted:
it is made from the store's dialect by :func:`app.sync.upsert.row_plan`, which
checks it against SQLAlchemy's own conversion, and is plain data that a worker
can use without loading SQLAlchemy.

This module imports nothing of the store, so that a worker starts quickly.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import repeat
from typing import Any

from app.canonical import DEFAULT_LOCATION
from app.connectors.base import Cursor, Record
from app.mapping import Mapping, apply_mapping

Convert = Callable[[Any], Any]
# One conversion of a value: a step's name, or a function where no name fits.
Step = str | Convert

# Canonical values of every type, for checking that two conversions agree.
PROBE: dict[str, Any] = {
    "order_id": "A-1",
    "line_id": "7",
    "order_date": dt.date(2024, 2, 29),
    "sku": "SKU-1",
    "quantity": Decimal("-2.5"),
    "product_name": "Probe, 1 kg",
    "unit_price": Decimal("1234.0125"),
    "currency": "EUR",
    "location": "",
    "customer_id": "C-9",
    "channel": "web",
    "status": "open",
    "source_updated_at": dt.datetime(2024, 2, 29, 23, 30, 5, 120, tzinfo=dt.UTC),
}


@dataclass(frozen=True, slots=True)
class PreparedPage:
    """One page ready to store: rows unique by line, rejections, the cursor after it.

    ``rows`` are in the order of :attr:`RowPlan.names`, without ``synced_at``,
    which the writer adds when it stores them. ``deleted_orders`` are the orders
    the source reported deleted (:mod:`app.sync.deletions`).
    """

    rows: list[tuple[Any, ...]]
    rejected: list[dict[str, Any]]
    cursor: Cursor | None
    total: int | None
    deleted_orders: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowPlan:
    """The upsert's parameters and how each column's values are converted for them."""

    # Parameters in statement order: the sync's own columns, then the mapped ones.
    head: tuple[str, ...]
    columns: tuple[str, ...]
    # Where ``synced_at`` goes among the parameters (it is added when writing).
    synced_index: int
    # Whether the driver takes tuples (else dicts keyed by parameter name).
    positional: bool
    # Per column: the conversions, in order ("float", "utc", "adapt" or functions).
    steps: dict[str, tuple[Step, ...]]
    # Columns whose values a record's lines share (dates, timestamps).
    shared: frozenset[str]

    @property
    def names(self) -> tuple[str, ...]:
        """The parameters a prepared row holds, in order."""
        return (*self.head, *self.columns)

    @property
    def portable(self) -> bool:
        """Whether another process can use the plan: every step is named."""
        return all(isinstance(step, str) for steps in self.steps.values() for step in steps)


def _utc(value: Any) -> dt.datetime:
    # What app.store.types.UTCDateTime does to a value it binds.
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got {value!r}")
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _adapt(value: Any) -> Any:
    # What the sqlite3 driver does to a value of a type it does not bind itself.
    adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return value if adapter is None else adapter(value)


# "float" is what SQLAlchemy's Numeric bind processor does where the driver
# takes no Decimal (float(), None aside).
STEPS: dict[str, Convert] = {"float": float, "utc": _utc, "adapt": _adapt}


def _then_adapt(first: Convert) -> Convert:
    """``first``, then the sqlite3 adapter: one call per value on the hot path."""
    adapters = sqlite3.adapters
    protocol = sqlite3.PrepareProtocol

    def convert(value: Any) -> Any:
        value = first(value)
        adapter = adapters.get((type(value), protocol))
        return value if adapter is None else adapter(value)

    return convert


def _compose(steps: tuple[Step, ...]) -> Convert | None:
    functions = [STEPS[step] if isinstance(step, str) else step for step in steps]
    if not functions:
        return None
    if len(functions) == 1:
        return functions[0]
    if len(functions) == 2 and steps[1] == "adapt":
        return _then_adapt(functions[0])
    first, *rest = functions

    def convert(value: Any) -> Any:
        value = first(value)
        for function in rest:
            value = function(value)
        return value

    return convert


def _convert_column(values: list[Any], convert: Convert, shared: bool) -> list[Any]:
    if not shared:
        return [None if value is None else convert(value) for value in values]
    # The lines of one record come one after the other with the same value
    # objects: each is converted once.
    out = []
    last = last_out = None
    for value in values:
        if value is not last:
            last, last_out = value, None if value is None else convert(value)
        out.append(last_out)
    return out


class RowFormat:
    """A plan put to work: canonical rows into driver tuples."""

    def __init__(self, plan: RowPlan) -> None:
        self.plan = plan
        self._convert = {name: _compose(steps) for name, steps in plan.steps.items()}

    def fixed(self, name: str, value: Any) -> Any:
        """A value of a column outside the mapping (``connector_id``, ``synced_at``...)."""
        convert = self._convert[name]
        return value if convert is None or value is None else convert(value)

    def rows(
        self, connector_id: int, workspace_id: int, lines: Iterable[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        """Canonical rows (dicts of typed values) as driver tuples in :attr:`RowPlan.names` order.

        A row without a location gets the default one.
        """
        plan = self.plan
        lines = list(lines)
        count = len(lines)
        own = {"connector_id": connector_id, "workspace_id": workspace_id}
        # Column by column: a few calls per column rather than per value.
        columns: list[Iterable[Any]] = [
            repeat(self.fixed(name, own[name]), count) for name in plan.head
        ]
        for name in plan.columns:
            values = list(map(dict.get, lines, repeat(name, count)))
            convert = self._convert[name]
            if convert is not None:
                values = _convert_column(values, convert, name in plan.shared)
            if name == "location":
                values = [value or DEFAULT_LOCATION for value in values]
            columns.append(values)
        return list(zip(*columns, strict=True))

    def probe(self) -> list[tuple[Any, ...]]:
        """A fixed row converted by this format: equal probes mean formats that agree."""
        return self.rows(1, 1, [PROBE])


def map_records(
    mapping: Mapping,
    form: RowFormat,
    connector_id: int,
    workspace_id: int,
    records: list[Record],
) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """A page's records as driver rows unique by line, and the rows the mapping rejected.

    A rejection names its record's position in the page and the reasons. The
    same line twice in one page (a source listing an order in two places) is
    written once: the later one wins, as it would across pages.
    """
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    rejected: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        for mapped in apply_mapping(mapping, record):
            if mapped.errors:
                rejected.append({"record": index, "message": mapped.describe_errors()})
                continue
            values = mapped.values
            lines[(values["order_id"], values["line_id"])] = values
    return form.rows(connector_id, workspace_id, lines.values()), rejected
