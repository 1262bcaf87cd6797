"""Organisations (the billing unit, with a plan) and their workspaces."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.store.models.base import Base, created_at_column, str_enum


class Plan(enum.StrEnum):
    STARTER = "starter"
    GROWTH = "growth"
    ENTERPRISE = "enterprise"

    @property
    def rank(self) -> int:
        return list(Plan).index(self)


class Frequency(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[Plan] = mapped_column(str_enum(Plan), default=Plan.STARTER)
    created_at: Mapped[dt.datetime] = created_at_column()

    workspaces: Mapped[list[Workspace]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )


class Workspace(Base):
    """A planning scope: its own connectors, series and runs, and their defaults."""

    __tablename__ = "workspaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    frequency: Mapped[Frequency] = mapped_column(str_enum(Frequency), default=Frequency.WEEKLY)
    horizon: Mapped[int] = mapped_column(default=12)
    service_level: Mapped[float] = mapped_column(default=0.95)
    # Lead time in days; runs convert it into periods of the workspace frequency.
    lead_time_days: Mapped[int] = mapped_column(default=14)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[dt.datetime] = created_at_column()

    organisation: Mapped[Organisation] = relationship(back_populates="workspaces")
