"""Declarative base with a naming convention, so migrations name constraints alike."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import JSON, Enum, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def str_enum(enum_cls: type[enum.Enum], length: int = 24) -> Enum:
    """An enum stored as its value in a plain string column.

    A VARCHAR with a CHECK constraint is portable across SQLite and PostgreSQL
    and lets later migrations add members without ALTER TYPE.
    """
    return Enum(
        enum_cls,
        values_callable=lambda members: [member.value for member in members],
        native_enum=False,
        length=length,
        create_constraint=True,
        validate_strings=True,
        name=enum_cls.__name__.lower(),
    )


def created_at_column() -> Mapped[dt.datetime]:
    return mapped_column(default=utcnow)
