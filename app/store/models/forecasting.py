"""Forecast runs and what they produce: forecasts, safety stock, alerts, trends."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.store.models.base import Base, created_at_column, str_enum


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class ForecastRun(Base):
    __tablename__ = "forecast_runs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_forecast_runs_status_completed", "status", "completed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus), default=RunStatus.QUEUED)
    trigger: Mapped[str] = mapped_column(String(24), default="manual")
    horizon: Mapped[int] = mapped_column(default=12)
    frequency: Mapped[str] = mapped_column(String(16), default="weekly")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    series_total: Mapped[int] = mapped_column(default=0)
    series_done: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = created_at_column()
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Forecast(Base):
    __tablename__ = "forecasts"
    __table_args__ = (UniqueConstraint("run_id", "series_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[dt.date] = mapped_column(Date)
    yhat: Mapped[float]
    lo80: Mapped[float]
    hi80: Mapped[float]
    lo95: Mapped[float]
    hi95: Mapped[float]
    model: Mapped[str] = mapped_column(String(64))


class SafetyStock(Base):
    """Safety stock and reorder point with the inputs that explain them."""

    __tablename__ = "safety_stock"
    __table_args__ = (UniqueConstraint("run_id", "series_id", "method"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    service_level: Mapped[float]
    lead_time_periods: Mapped[float]
    safety_stock: Mapped[float]
    lead_time_demand: Mapped[float]
    reorder_point: Mapped[float]
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_workspace_read_created", "workspace_id", "read", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("forecast_runs.id", ondelete="CASCADE"), default=None
    )
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), default=None
    )
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16), default="info")
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    read: Mapped[bool] = mapped_column(default=False)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = created_at_column()


class TrendHistory(Base):
    __tablename__ = "trend_history"
    __table_args__ = (UniqueConstraint("run_id", "series_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    slope: Mapped[float]
    p_value: Mapped[float | None] = mapped_column(default=None)
    changed: Mapped[bool] = mapped_column(default=False)
    recorded_at: Mapped[dt.datetime] = created_at_column()
