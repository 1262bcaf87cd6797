"""Moving a whole store to another database with `db migrate-to`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.cli.main import cli
from app.ops.copy_store import copy_store
from app.runs.execute import execute_run
from app.services import connectors as connector_service
from app.services import runs as run_service
from app.services.errors import InvalidInput
from app.store.db import Database
from app.store.models import Base, Connector, ConnectorStatus
from app.vault import Vault, connector_context
from tests.app.runs.test_execute import AS_OF, SETTINGS, seed, shapes
from tests.conftest import TEST_KEY

VAULT = Vault(bytes(range(32)))


def filled_store(database: Database) -> int:
    """Demand, a complete forecast run with its results, and a connector with secrets."""
    workspace_id = seed(database, shapes(np.random.default_rng(11)))
    created, _ = run_service.create_run(database, workspace_id=workspace_id, horizon=6)
    execute_run(database, created["id"], settings=SETTINGS, as_of=AS_OF)
    connector = connector_service.add_connector(
        database,
        VAULT,
        preset="custom_rest",
        name="Orders API",
        values={
            "base_url": "http://127.0.0.1:9",
            "resource_path": "/orders",
            "auth": "bearer",
            "token": "tok-very-secret",
        },
        workspace_id=workspace_id,
    )
    return connector["id"]


def counts(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {
            t.name: connection.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


@pytest.mark.postgres
@pytest.mark.slow
def test_sqlite_to_postgresql_copies_everything_and_ids_continue(
    sqlite_database: Database, postgres_templates
) -> None:
    connector_id = filled_store(sqlite_database)
    target_url = postgres_templates.fresh()
    try:
        result = copy_store(sqlite_database, target_url)

        before = counts(sqlite_database)
        assert result.tables == before
        assert before["forecasts"] > 0
        assert before["demand_lines"] > 0
        target = Database(target_url)
        assert counts(target) == before
        # Secrets are bound to the connector's id, which the copy keeps.
        with target.session() as session:
            copied = session.get(Connector, connector_id)
            token = copied.secrets["token"]
            assert VAULT.decrypt(token, connector_context(connector_id, "token")) == (
                "tok-very-secret"
            )
        # New rows get ids after the copied ones.
        added = connector_service.add_connector(
            target,
            VAULT,
            preset="demo",
            name="Later",
            values={"channel": "web", "end": "2026-01-01"},
        )
        assert added["id"] == connector_id + 1
        target.dispose()
    finally:
        postgres_templates.drop(target_url)


def test_copy_refuses_a_target_with_data_the_store_itself_and_a_bad_url(
    sqlite_database: Database, tmp_path: Path
) -> None:
    filled_store(sqlite_database)
    other = tmp_path / "other.db"
    result = copy_store(sqlite_database, f"sqlite:///{other}")
    assert result.rows == sum(counts(sqlite_database).values())

    with pytest.raises(InvalidInput, match="already holds data"):
        copy_store(sqlite_database, f"sqlite:///{other}")
    with pytest.raises(InvalidInput, match="store in use"):
        copy_store(sqlite_database, str(sqlite_database.url))
    with pytest.raises(InvalidInput, match="database URL such as"):
        copy_store(sqlite_database, "not a url")
    with pytest.raises(InvalidInput, match="PostgreSQL or SQLite"):
        copy_store(sqlite_database, "mysql://u:p@127.0.0.1/x")


def test_the_cli_copies_and_says_what_to_do_next(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", TEST_KEY)
    isolated_env.mkdir(parents=True)
    store = Database(f"sqlite:///{isolated_env / 'accupredix.db'}")
    store.upgrade()
    filled_store(store)
    store.dispose()
    runner = CliRunner()
    target = tmp_path / "moved.db"
    result = runner.invoke(cli, ["db", "migrate-to", f"sqlite:///{target}"])
    assert result.exit_code == 0, result.output
    assert "now set ACCUPREDIX_DATABASE_URL" in result.output
    source = Database(f"sqlite:///{isolated_env / 'accupredix.db'}")
    moved = Database(f"sqlite:///{target}")
    assert counts(moved) == counts(source)
    with moved.session() as session:
        assert session.scalar(select(func.count()).select_from(Connector)) > 0
        statuses = set(session.scalars(select(Connector.status)))
        assert statuses <= set(ConnectorStatus)
    source.dispose()
    moved.dispose()
