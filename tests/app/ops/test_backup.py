"""Online backups of the SQLite store, and restoring one."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select

from app.cli.main import cli
from app.ops.backup import backup_sqlite, check_store_file, restore_sqlite
from app.services import organisations
from app.services.errors import InvalidInput
from app.store.db import Database
from app.store.models import Connector, DemandLine
from app.sync.leader import leader_lock_for


def store_with_lines(path: Path, lines: int = 200) -> tuple[Database, int]:
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.session() as session:
        workspace = organisations.default_workspace(session)
        connector = Connector(workspace_id=workspace.id, preset="demo", name="Shop")
        session.add(connector)
        session.flush()
        ids = (workspace.id, connector.id)
    add_lines(database, ids, 0, lines)
    return database, ids[1]


def add_lines(database: Database, ids: tuple[int, int], start: int, count: int) -> None:
    rows = [
        {
            "workspace_id": ids[0],
            "connector_id": ids[1],
            "order_id": f"O{n}",
            "line_id": "1",
            "order_date": dt.date(2026, 1, 5),
            "sku": f"SKU{n % 7}",
            "location": "default",
            "quantity": 1,
        }
        for n in range(start, start + count)
    ]
    with database.session() as session:
        session.execute(insert(DemandLine.__table__), rows)


def line_count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM demand_lines").fetchone()[0]


def test_a_backup_taken_while_writers_write_is_consistent(tmp_path: Path) -> None:
    database, connector_id = store_with_lines(tmp_path / "store.db")
    with database.session() as session:
        workspace_id = session.get(Connector, connector_id).workspace_id
    stop = threading.Event()
    written = [200]

    def writer() -> None:
        while not stop.is_set():
            add_lines(database, (workspace_id, connector_id), written[0], 50)
            written[0] += 50

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = backup_sqlite(tmp_path / "store.db", tmp_path / "backups" / "copy.db")
    finally:
        stop.set()
        thread.join()
    database.dispose()

    copied = line_count(result.path)
    assert 200 <= copied <= written[0]
    assert copied % 50 == 0, "whole transactions only"
    assert result.revision is not None
    assert check_store_file(result.path) == result.revision
    assert not list((tmp_path / "backups").glob(".*partial"))


def test_backup_refuses_to_overwrite_and_a_failed_backup_leaves_nothing(tmp_path: Path) -> None:
    database, _ = store_with_lines(tmp_path / "store.db")
    database.dispose()
    target = tmp_path / "copy.db"
    target.write_text("keep me")
    with pytest.raises(InvalidInput, match="pass --force"):
        backup_sqlite(tmp_path / "store.db", target)
    assert target.read_text() == "keep me"
    backup_sqlite(tmp_path / "store.db", target, overwrite=True)
    assert line_count(target) == 200
    with pytest.raises(InvalidInput, match="no store"):
        backup_sqlite(tmp_path / "missing.db", tmp_path / "other.db")
    assert not (tmp_path / "other.db").exists()


def test_restore_brings_back_the_backup_and_keeps_the_store_it_replaced(tmp_path: Path) -> None:
    database, connector_id = store_with_lines(tmp_path / "store.db", lines=100)
    backup_sqlite(tmp_path / "store.db", tmp_path / "copy.db")
    with database.session() as session:
        workspace_id = session.get(Connector, connector_id).workspace_id
    add_lines(database, (workspace_id, connector_id), 100, 30)
    database.dispose()

    kept = restore_sqlite(tmp_path / "copy.db", tmp_path / "store.db")

    assert line_count(tmp_path / "store.db") == 100
    assert kept is not None
    assert line_count(kept) == 130
    reopened = Database(f"sqlite:///{tmp_path / 'store.db'}")
    with reopened.session() as session:
        assert session.scalar(select(func.count()).select_from(DemandLine)) == 100
    reopened.dispose()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all" * 100, "not an AccuPredix store"),
        (None, "not an AccuPredix store"),
    ],
)
def test_restore_refuses_what_is_not_a_store(tmp_path: Path, content, message: str) -> None:
    candidate = tmp_path / "candidate.db"
    if content is None:
        with sqlite3.connect(candidate) as db:
            db.execute("CREATE TABLE something (id INTEGER)")
        db.close()
    else:
        candidate.write_bytes(content)
    database, _ = store_with_lines(tmp_path / "store.db", lines=10)
    database.dispose()
    with pytest.raises(InvalidInput, match=message):
        restore_sqlite(candidate, tmp_path / "store.db")
    assert line_count(tmp_path / "store.db") == 10


def test_the_cli_backs_up_and_restores_and_refuses_while_the_store_is_in_use(
    isolated_env: Path, tmp_path: Path
) -> None:
    isolated_env.mkdir(parents=True)
    store = isolated_env / "accupredix.db"
    database, _ = store_with_lines(store, lines=40)
    runner = CliRunner()

    backed_up = runner.invoke(cli, ["backup", str(tmp_path / "b.db")])
    assert backed_up.exit_code == 0, backed_up.output
    assert "backed up" in backed_up.output

    lock = leader_lock_for(database)
    assert lock.try_acquire()
    try:
        refused = runner.invoke(cli, ["restore", str(tmp_path / "b.db")])
    finally:
        lock.release()
    assert refused.exit_code == 1
    assert "stop `accupredix serve`" in refused.output
    database.dispose()

    restored = runner.invoke(cli, ["restore", str(tmp_path / "b.db")])
    assert restored.exit_code == 0, restored.output
    assert "kept at" in restored.output
    assert line_count(store) == 40


def test_the_cli_explains_pg_dump_for_a_postgresql_store(
    isolated_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "ACCUPREDIX_DATABASE_URL", "postgresql://apx:s3cret-pass@127.0.0.1:5432/accupredix"
    )
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "b.dump")])
    assert result.exit_code == 1
    assert "pg_dump --format=custom" in result.output
    assert "s3cret-pass" not in result.output
