"""Fixtures shared by every test: an isolated environment and real stores."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from app.config import Config, load_config
from app.redaction import forget_secrets
from app.store.db import Database
from tests.support.postgres import URL_ENV, TemplateDatabases, private_server

# Widgets render without a window system, whichever way pytest is started.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TEST_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No ACCUPREDIX_* setting of the developer's leaks in; data goes to tmp."""
    for name in list(os.environ):
        if name.startswith("ACCUPREDIX_") and name != URL_ENV:
            monkeypatch.delenv(name)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ACCUPREDIX_DATA_DIR", str(data_dir))
    yield data_dir
    forget_secrets()


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Undo the handlers that configure_logging installs during a test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(autouse=True)
def no_os_keyring() -> Iterator[None]:
    """Tests never read or write the developer's real keyring."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def credentials_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", TEST_KEY)
    return TEST_KEY


@pytest.fixture
def config(isolated_env: Path) -> Config:
    return load_config()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[TemplateDatabases]:
    """A migrated template database on the CI server or a private one."""
    url = os.environ.get(URL_ENV)
    with contextlib.nullcontext(url) if url else private_server() as server_url:
        templates = TemplateDatabases(server_url)
        database = Database(templates.create_template())
        database.upgrade()
        database.dispose()
        try:
            yield templates
        finally:
            templates.drop_all()


def _sqlite_database(sqlite_template: Path, tmp_path: Path) -> Database:
    path = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, path)
    return Database(f"sqlite:///{path}")


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    database = _sqlite_database(sqlite_template, tmp_path)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty store, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        database = _sqlite_database(request.getfixturevalue("sqlite_template"), tmp_path)
        yield database
        database.dispose()
        return
    templates: TemplateDatabases = request.getfixturevalue("postgres_templates")
    url = templates.fresh()
    database = Database(url)
    yield database
    database.dispose()
    templates.drop(url)
