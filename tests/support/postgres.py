"""A PostgreSQL server for the tests: the one CI started, or a private one.

CI (``.ci/run``) starts a server and exports ``ACCUPREDIX_TEST_DATABASE_URL``.
On a developer machine without it, the fixture starts a throw-away cluster
with the PostgreSQL binaries it can find, on a free loopback port.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

URL_ENV = "ACCUPREDIX_TEST_DATABASE_URL"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateServer:
    """A throw-away cluster that a test can stop, start and restart under load.

    ``start()`` creates the cluster on first use; ``url`` is its SQLAlchemy URL
    (the port stays the same across restarts); ``remove()`` stops it and
    deletes its files.
    """

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError(
                f"PostgreSQL tests need a server: set {URL_ENV}, or install the PostgreSQL "
                "server binaries (Debian: apt-get install postgresql) so the tests can start one."
            )
        self._initdb, self._pg_ctl = initdb, pg_ctl
        # initdb refuses to run as root; use the postgres system user then.
        self._run_as: list[str] = []
        self._owner = None
        if os.geteuid() == 0:
            self._owner = pwd.getpwnam("postgres")
            self._run_as = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="accupredix-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._env = {**os.environ, "LC_ALL": "C.UTF-8"}
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl_command(self, *args: str) -> list[str]:
        return [*self._run_as, self._pg_ctl, "-D", str(self.data), *args]

    def start(self) -> None:
        """Start the cluster (initialising it the first time) and wait until it accepts."""
        if not self._initialised:
            if self._owner is not None:
                os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
            initdb = [self._initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust"]
            subprocess.run(
                [*self._run_as, *initdb, "-E", "UTF8"],
                check=True,
                capture_output=True,
                env=self._env,
            )
            self._initialised = True
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        subprocess.run(
            self._pg_ctl_command("-o", options, "-l", str(self.root / "log"), "-w", "start"),
            check=True,
            capture_output=True,
            env=self._env,
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster: ``fast`` ends sessions and shuts down cleanly, ``immediate`` aborts."""
        subprocess.run(
            self._pg_ctl_command("-m", mode, "-w", "stop"),
            capture_output=True,
            check=False,
            env=self._env,
        )

    def restart(self, down_for: float = 0.0) -> None:
        """``pg_ctl restart``, or a stop and a start ``down_for`` seconds apart."""
        if down_for <= 0:
            # With its log file: the new postmaster would otherwise hold our output pipe.
            subprocess.run(
                self._pg_ctl_command("-l", str(self.root / "log"), "-m", "fast", "-w", "restart"),
                check=True,
                capture_output=True,
                env=self._env,
            )
            return
        self.stop()
        time.sleep(down_for)
        self.start()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_server() -> Iterator[str]:
    """Start a temporary cluster; yields its SQLAlchemy URL."""
    server = PrivateServer()
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


def _admin_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


class TemplateDatabases:
    """Hands out fresh databases cloned from one migrated template."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.template = f"accupredix_tpl_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []

    def _execute(self, sql: str) -> None:
        with psycopg.connect(_admin_dsn(self.url), autocommit=True) as conn:
            conn.execute(sql)

    def create_template(self) -> str:
        self._execute(f'CREATE DATABASE "{self.template}"')
        self.created.append(self.template)
        return self.url_for(self.template)

    def url_for(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def fresh(self, template: str | None = None) -> str:
        """A new database cloned from the migrated template (or ``template``)."""
        template = template or self.template
        name = f"accupredix_t_{uuid.uuid4().hex[:12]}"
        # A template must have no other sessions; retry briefly while one closes.
        for attempt in range(50):
            try:
                self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        self.created.append(name)
        return self.url_for(name)

    def drop(self, name_or_url: str) -> None:
        name = make_url(name_or_url).database if "://" in name_or_url else name_or_url
        for attempt in range(50):
            try:
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.errors.InsufficientPrivilege:
                # FORCE may not end an autovacuum worker for a role without superuser
                # (the CI server's test role); the worker finishes within moments.
                if attempt == 49:
                    raise
                time.sleep(0.1)
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)
