"""The feed's entity sets, declared as data over the store's tables.

Each set names its OData properties and the columns behind them; the EDM type,
nullability and facets follow from the column, so ``$metadata``, the JSON
encoder and the ``$filter`` translation read one declaration. Every set is
scoped to the caller's organisation through a workspace column.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    Float,
    FromClause,
    Integer,
    Numeric,
    String,
    select,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.types import TypeEngine

from app.store.models import (
    Alert,
    DemandLine,
    Forecast,
    ForecastRun,
    SafetyStock,
    Series,
    Workspace,
)
from app.store.types import UTCDateTime

NAMESPACE = "AccuPredix"
CONTAINER = "Container"


class Edm(enum.StrEnum):
    """The EDM primitive types the feed uses."""

    STRING = "Edm.String"
    INT32 = "Edm.Int32"
    INT64 = "Edm.Int64"
    DOUBLE = "Edm.Double"
    DECIMAL = "Edm.Decimal"
    BOOLEAN = "Edm.Boolean"
    DATE = "Edm.Date"
    DATETIMEOFFSET = "Edm.DateTimeOffset"

    @property
    def numeric(self) -> bool:
        return self in (Edm.INT32, Edm.INT64, Edm.DOUBLE, Edm.DECIMAL)


@dataclass(frozen=True)
class Property:
    """One structural property and the SQL column behind it."""

    name: str
    column: ColumnElement[Any]
    edm: Edm
    nullable: bool
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None

    @property
    def bind_type(self) -> TypeEngine[Any]:
        """The type to bind a compared value with: enums compare as their stored strings."""
        sql_type = self.column.type
        return String() if isinstance(sql_type, SqlEnum) else sql_type


@dataclass(frozen=True)
class Navigation:
    """A single-valued navigation property: ``via`` holds the target's key."""

    name: str
    target: str
    via: str


@dataclass(frozen=True)
class EntitySet:
    """An entity set, its entity type and where its rows come from."""

    name: str
    type_name: str
    key: Property
    properties: tuple[Property, ...]
    source: FromClause
    workspace_column: ColumnElement[int]
    navigations: tuple[Navigation, ...] = ()
    _by_name: Mapping[str, Property] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.properties})

    def property(self, name: str) -> Property | None:
        return self._by_name.get(name)

    def navigation(self, name: str) -> Navigation | None:
        return next((n for n in self.navigations if n.name == name), None)

    def in_scope(self, organisation_id: int) -> ColumnElement[bool]:
        """Rows of the organisation's workspaces only."""
        workspaces = select(Workspace.id).where(Workspace.organisation_id == organisation_id)
        return self.workspace_column.in_(workspaces.scalar_subquery())


# Checked in order: Float before Numeric, BigInteger before Integer, Enum is a String.
_SIMPLE_TYPES: tuple[tuple[type[TypeEngine[Any]], Edm], ...] = (
    (Boolean, Edm.BOOLEAN),
    (Date, Edm.DATE),
    (Float, Edm.DOUBLE),
    (BigInteger, Edm.INT64),
    (Integer, Edm.INT32),
)


def edm_property(
    name: str, column: ColumnElement[Any], *, nullable: bool | None = None
) -> Property:
    """A property whose EDM type and facets follow from ``column``'s SQL type."""
    sql_type = column.type
    is_nullable = bool(getattr(column, "nullable", True)) if nullable is None else nullable
    if isinstance(sql_type, UTCDateTime):
        # Stored with microseconds on both SQLite and PostgreSQL.
        return Property(name, column, Edm.DATETIMEOFFSET, is_nullable, precision=6)
    for sql_class, edm in _SIMPLE_TYPES:
        if isinstance(sql_type, sql_class):
            return Property(name, column, edm, is_nullable)
    if isinstance(sql_type, Numeric):
        return Property(
            name,
            column,
            Edm.DECIMAL,
            is_nullable,
            precision=sql_type.precision,
            scale=sql_type.scale,
        )
    if isinstance(sql_type, String):
        return Property(name, column, Edm.STRING, is_nullable, max_length=sql_type.length)
    raise TypeError(f"no EDM type for column {column} of type {sql_type!r}")


def _entity_set(
    name: str,
    type_name: str,
    *,
    source: FromClause,
    workspace_column: ColumnElement[int],
    columns: Iterable[tuple[str, ColumnElement[Any]]],
    navigations: Iterable[Navigation] = (),
) -> EntitySet:
    properties = tuple(edm_property(prop, column) for prop, column in columns)
    return EntitySet(
        name=name,
        type_name=type_name,
        key=properties[0],
        properties=properties,
        source=source,
        workspace_column=workspace_column,
        navigations=tuple(navigations),
    )


_series = Series.__table__
_runs = ForecastRun.__table__
_forecasts = Forecast.__table__
_safety = SafetyStock.__table__
_alerts = Alert.__table__
_lines = DemandLine.__table__

_SERIES = _entity_set(
    "Series",
    "Series",
    source=_series,
    workspace_column=_series.c.workspace_id,
    columns=[
        ("Id", _series.c.id),
        ("WorkspaceId", _series.c.workspace_id),
        ("Sku", _series.c.sku),
        ("Location", _series.c.location),
        ("ProductName", _series.c.product_name),
        ("DemandClass", _series.c.demand_class),
        ("Trend", _series.c.trend),
        ("TrendChangedAt", _series.c.trend_changed_at),
        ("ServiceLevel", _series.c.service_level),
        ("LeadTimeDays", _series.c.lead_time_days),
        ("LastRunId", _series.c.last_run_id),
    ],
    navigations=[Navigation("LastRun", "Runs", "LastRunId")],
)

_RUNS = _entity_set(
    "Runs",
    "Run",
    source=_runs,
    workspace_column=_runs.c.workspace_id,
    columns=[
        ("Id", _runs.c.id),
        ("WorkspaceId", _runs.c.workspace_id),
        ("Status", _runs.c.status),
        ("Trigger", _runs.c.trigger),
        ("Horizon", _runs.c.horizon),
        ("Frequency", _runs.c.frequency),
        ("SeriesTotal", _runs.c.series_total),
        ("SeriesDone", _runs.c.series_done),
        ("Error", _runs.c.error),
        ("CreatedAt", _runs.c.created_at),
        ("StartedAt", _runs.c.started_at),
        ("CompletedAt", _runs.c.completed_at),
    ],
)

# Forecasts and safety stock carry their series' SKU and location, which a BI
# report needs on every row; the join is on the series' primary key.
_forecasts_source = _forecasts.join(_series, _series.c.id == _forecasts.c.series_id)
_FORECASTS = _entity_set(
    "Forecasts",
    "Forecast",
    source=_forecasts_source,
    workspace_column=_series.c.workspace_id,
    columns=[
        ("Id", _forecasts.c.id),
        ("RunId", _forecasts.c.run_id),
        ("SeriesId", _forecasts.c.series_id),
        ("WorkspaceId", _series.c.workspace_id),
        ("Sku", _series.c.sku),
        ("Location", _series.c.location),
        ("PeriodStart", _forecasts.c.period_start),
        ("Yhat", _forecasts.c.yhat),
        ("Lo80", _forecasts.c.lo80),
        ("Hi80", _forecasts.c.hi80),
        ("Lo95", _forecasts.c.lo95),
        ("Hi95", _forecasts.c.hi95),
        ("Model", _forecasts.c.model),
    ],
    navigations=[Navigation("Run", "Runs", "RunId"), Navigation("Series", "Series", "SeriesId")],
)

_safety_source = _safety.join(_series, _series.c.id == _safety.c.series_id)
_SAFETY_STOCK = _entity_set(
    "SafetyStock",
    "SafetyStockLevel",
    source=_safety_source,
    workspace_column=_series.c.workspace_id,
    columns=[
        ("Id", _safety.c.id),
        ("RunId", _safety.c.run_id),
        ("SeriesId", _safety.c.series_id),
        ("WorkspaceId", _series.c.workspace_id),
        ("Sku", _series.c.sku),
        ("Location", _series.c.location),
        ("Method", _safety.c.method),
        ("ServiceLevel", _safety.c.service_level),
        ("LeadTimePeriods", _safety.c.lead_time_periods),
        ("SafetyStock", _safety.c.safety_stock),
        ("LeadTimeDemand", _safety.c.lead_time_demand),
        ("ReorderPoint", _safety.c.reorder_point),
    ],
    navigations=[Navigation("Run", "Runs", "RunId"), Navigation("Series", "Series", "SeriesId")],
)

_ALERTS = _entity_set(
    "Alerts",
    "Alert",
    source=_alerts,
    workspace_column=_alerts.c.workspace_id,
    columns=[
        ("Id", _alerts.c.id),
        ("WorkspaceId", _alerts.c.workspace_id),
        ("RunId", _alerts.c.run_id),
        ("SeriesId", _alerts.c.series_id),
        ("Kind", _alerts.c.kind),
        ("Severity", _alerts.c.severity),
        ("Message", _alerts.c.message),
        ("Read", _alerts.c.read),
        ("ReadAt", _alerts.c.read_at),
        ("CreatedAt", _alerts.c.created_at),
    ],
    navigations=[Navigation("Run", "Runs", "RunId"), Navigation("Series", "Series", "SeriesId")],
)

_DEMAND_LINES = _entity_set(
    "DemandLines",
    "DemandLine",
    source=_lines,
    workspace_column=_lines.c.workspace_id,
    columns=[
        ("Id", _lines.c.id),
        ("WorkspaceId", _lines.c.workspace_id),
        ("ConnectorId", _lines.c.connector_id),
        ("OrderId", _lines.c.order_id),
        ("LineId", _lines.c.line_id),
        ("OrderDate", _lines.c.order_date),
        ("Sku", _lines.c.sku),
        ("Quantity", _lines.c.quantity),
        ("ProductName", _lines.c.product_name),
        ("UnitPrice", _lines.c.unit_price),
        ("Currency", _lines.c.currency),
        ("Location", _lines.c.location),
        ("CustomerId", _lines.c.customer_id),
        ("Channel", _lines.c.channel),
        ("Status", _lines.c.status),
        ("SourceUpdatedAt", _lines.c.source_updated_at),
        ("SyncedAt", _lines.c.synced_at),
    ],
)

ENTITY_SETS: Mapping[str, EntitySet] = {
    entity_set.name: entity_set
    for entity_set in (_SERIES, _FORECASTS, _RUNS, _ALERTS, _SAFETY_STOCK, _DEMAND_LINES)
}
