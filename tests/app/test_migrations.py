"""Migrations from an empty store, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.store.db import Database
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade
from app.store.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path):
    """A store with no tables at all."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield database
        database.dispose()
        return
    templates = request.getfixturevalue("postgres_templates")
    url = templates.fresh(template="template0")
    database = Database(url)
    yield database
    database.dispose()
    templates.drop(url)


def test_upgrade_from_empty_matches_the_models(empty_database: Database) -> None:
    assert inspect(empty_database.engine).get_table_names() == []
    empty_database.upgrade()
    assert current_revision(empty_database.engine) == head_revision()
    tables = set(inspect(empty_database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with empty_database.engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
    assert diff == [], f"models and migrations disagree: {diff}"


def test_upgrade_is_idempotent_and_downgrade_returns_to_empty(
    empty_database: Database,
) -> None:
    upgrade(empty_database.engine)
    upgrade(empty_database.engine)  # a second start changes nothing
    assert current_revision(empty_database.engine) == head_revision()
    command.downgrade(alembic_config(empty_database.engine), "base")
    assert set(inspect(empty_database.engine).get_table_names()) <= {"alembic_version"}
    upgrade(empty_database.engine)
    assert current_revision(empty_database.engine) == head_revision()
