"""Canonical demand lines and the series (workspace, sku, location) built from them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.store.models.base import Base
from app.store.types import utcnow

QUANTITY = Numeric(18, 4)
DEFAULT_LOCATION = "default"


class DemandLine(Base):
    """One line of demand in the canonical columns of the design."""

    __tablename__ = "demand_lines"
    __table_args__ = (
        UniqueConstraint("connector_id", "order_id", "line_id"),
        Index("ix_demand_lines_series_date", "workspace_id", "sku", "location", "order_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    # Denormalised from the connector so series building never joins.
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(String(128))
    line_id: Mapped[str] = mapped_column(String(128))
    order_date: Mapped[dt.date] = mapped_column(Date)
    sku: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    product_name: Mapped[str | None] = mapped_column(String(300), default=None)
    unit_price: Mapped[Decimal | None] = mapped_column(QUANTITY, default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    location: Mapped[str] = mapped_column(String(128), default=DEFAULT_LOCATION)
    customer_id: Mapped[str | None] = mapped_column(String(128), default=None)
    channel: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    source_updated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    synced_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Series(Base):
    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("workspace_id", "sku", "location"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(128))
    location: Mapped[str] = mapped_column(String(128), default=DEFAULT_LOCATION)
    product_name: Mapped[str | None] = mapped_column(String(300), default=None)
    demand_class: Mapped[str | None] = mapped_column(String(16), default=None)
    trend: Mapped[str | None] = mapped_column(String(8), default=None)
    trend_changed_at: Mapped[dt.datetime | None] = mapped_column(default=None, index=True)
    # Per-series overrides of the workspace defaults; None means inherit.
    service_level: Mapped[float | None] = mapped_column(default=None)
    lead_time_days: Mapped[int | None] = mapped_column(default=None)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="SET NULL"), default=None
    )
