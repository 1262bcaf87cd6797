"""Connectors (configured data sources) and the record of each sync."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.store.models.base import Base, created_at_column, str_enum
from app.store.types import utcnow


class ConnectorStatus(enum.StrEnum):
    NEW = "new"
    HEALTHY = "healthy"
    SYNCING = "syncing"
    NEEDS_RECONNECT = "needs_reconnect"
    ERROR = "error"
    DISABLED = "disabled"


class SyncStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Connector(Base):
    """One configured source.

    ``config`` holds the plain settings; ``secrets`` maps each secret field name
    to its vault token (never plaintext). Redaction reads ``secrets`` keys.
    """

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    preset: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[dict[str, Any]] = mapped_column(default=dict)
    field_mapping: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # A schedule spec (app.sync.schedules), e.g. {"kind": "interval", "every": 60,
    # "unit": "minutes"}; None is manual.
    schedule: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    status: Mapped[ConnectorStatus] = mapped_column(
        str_enum(ConnectorStatus), default=ConnectorStatus.NEW
    )
    status_message: Mapped[str | None] = mapped_column(Text, default=None)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = created_at_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sync_runs: Mapped[list[SyncRun]] = relationship(
        back_populates="connector", cascade="all, delete-orphan", passive_deletes=True
    )


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SyncStatus] = mapped_column(str_enum(SyncStatus), default=SyncStatus.RUNNING)
    trigger: Mapped[str] = mapped_column(String(24), default="manual")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    pages: Mapped[int] = mapped_column(default=0)
    rows_inserted: Mapped[int] = mapped_column(default=0)
    rows_updated: Mapped[int] = mapped_column(default=0)
    # Rows the mapping refused (a bad date, a missing SKU), with a few examples.
    rows_rejected: Mapped[int] = mapped_column(default=0)
    rejections: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)

    connector: Mapped[Connector] = relationship(back_populates="sync_runs")
