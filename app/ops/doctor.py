"""``accupredix doctor``: checks an installation and says what to fix.

Each check returns ok, warn, fail or skip with a sentence for the operator
and, when something is wrong, the fix. Checks never change anything: the key
check reads the keyring without creating a key, the port check binds and
releases, the public URL check only reads ``/healthz``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import logging
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keyring
import keyring.errors
import requests
from sqlalchemy import select, text

from app.config import KEY_ENV, Config
from app.services.urls import join_url, local_base_url
from app.store.db import Database
from app.store.migrate import current_revision, head_revision
from app.store.models import Connector
from app.store.types import utcnow
from app.vault import KEYRING_SERVICE, KEYRING_USERNAME, Vault, VaultError, connector_context

log = logging.getLogger(__name__)

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
HTTP_TIMEOUT = 5.0
# Skew that starts to matter (signed requests, token expiry) and that breaks them.
SKEW_WARN = dt.timedelta(seconds=30)
SKEW_FAIL = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None


@dataclass
class _Context:
    config: Config
    database: Database | None = None
    remote_clock: tuple[str, dt.datetime] | None = None


Getter = Callable[..., requests.Response]


def run_checks(config: Config, *, get: Getter = requests.get) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    context = _Context(config)
    checks = [_data_dir(config)]
    try:
        checks.append(_store(context))
        checks.extend(_key_and_secrets(context))
        checks.append(_port(config, get))
        checks.append(_public_url(context, get))
        checks.append(_clock(context))
    finally:
        if context.database is not None:
            context.database.dispose()
    return checks


def _data_dir(config: Config) -> Check:
    try:
        config.ensure_data_dir()
        with tempfile.NamedTemporaryFile(dir=config.data_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            "data directory",
            FAIL,
            f"{config.data_dir} is not writable ({exc.strerror}).",
            "Give the user running AccuPredix write access, or set ACCUPREDIX_DATA_DIR.",
        )
    return Check("data directory", OK, f"{config.data_dir} is writable.")


def _store(context: _Context) -> Check:
    config = context.config
    try:
        database = Database(config.database_url)
        context.database = database
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            if database.engine.dialect.name == "sqlite":
                verdict = connection.execute(text("PRAGMA quick_check")).scalar()
                if verdict != "ok":
                    return Check(
                        "store",
                        FAIL,
                        f"The SQLite store is damaged: {verdict}.",
                        "Restore the latest backup with `accupredix restore FILE`.",
                    )
            elif database.engine.dialect.name == "postgresql":
                now = connection.execute(text("SELECT now()")).scalar()
                context.remote_clock = ("the PostgreSQL server", now)
        revision, head = current_revision(database.engine), head_revision()
    except Exception as exc:  # any driver error means the same to the operator
        log.debug("doctor: store check failed", exc_info=True)
        context.database = None
        return Check(
            "store",
            FAIL,
            f"Cannot open the store ({type(exc).__name__}).",
            "Check ACCUPREDIX_DATABASE_URL and that the database server is running and reachable.",
        )
    where = database.engine.url.render_as_string(hide_password=True)
    if revision != head:
        return Check(
            "store",
            WARN,
            f"{where} is at schema {revision or 'none'}, this version expects {head}.",
            "Run `accupredix db upgrade` (starting the app or the server also does it).",
        )
    return Check("store", OK, f"{where} is reachable, schema {head}.")


def _key_and_secrets(context: _Context) -> list[Check]:
    config = context.config
    checks = []
    backend = keyring.get_keyring()
    backend_name = f"{type(backend).__module__}.{type(backend).__name__}"
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
        keyring_usable = True
    except (keyring.errors.KeyringError, RuntimeError) as exc:
        stored, keyring_usable = None, False
        keyring_problem = str(exc)
    if config.credentials_key is not None:
        checks.append(Check("key", OK, f"The credentials key comes from {KEY_ENV}."))
        checks.append(
            Check("keyring", OK if keyring_usable else SKIP, f"Not needed ({backend_name}).")
        )
        vault = Vault.from_config(config)
    elif stored:
        checks.append(Check("key", OK, "The credentials key comes from the OS keyring."))
        checks.append(Check("keyring", OK, f"{backend_name} holds the key."))
        vault = Vault(None, config.previous_keys)
    else:
        fix = (
            f"Set {KEY_ENV} (base64 of 32 random bytes; keep a copy somewhere safe), "
            "or run where an OS keyring is available."
        )
        if keyring_usable:
            checks.append(
                Check(
                    "key",
                    WARN,
                    "No key yet: one is created in the OS keyring when the first secret is saved.",
                    "Back the key up after it is created, or set " + KEY_ENV + " instead.",
                )
            )
            checks.append(Check("keyring", OK, f"{backend_name} is usable."))
        else:
            checks.append(Check("key", FAIL, "No credentials key is available.", fix))
            checks.append(Check("keyring", FAIL, f"No usable keyring ({keyring_problem}).", fix))
        vault = None
    checks.append(_secrets(context, vault))
    return checks


def _secrets(context: _Context, vault: Vault | None) -> Check:
    if context.database is None:
        return Check("secrets", SKIP, "The store is unreachable.")
    with context.database.session() as session:
        rows = session.execute(select(Connector.id, Connector.secrets)).all()
    tokens = [(cid, name, token) for cid, fields in rows for name, token in (fields or {}).items()]
    if not tokens:
        return Check("secrets", OK, "No stored secrets yet.")
    if vault is None:
        return Check(
            "secrets", FAIL, f"{len(tokens)} stored secrets and no key to read them.", None
        )
    broken = []
    for cid, name, token in tokens:
        try:
            vault.decrypt(token, connector_context(cid, name))
        except VaultError:
            broken.append(f"connector {cid} {name}")
    if broken:
        return Check(
            "secrets",
            FAIL,
            f"{len(broken)} of {len(tokens)} stored secrets cannot be decrypted with the "
            f"configured keys (e.g. {broken[0]}).",
            f"Set {KEY_ENV}_PREVIOUS to the key they were saved with, then run "
            "`accupredix vault rotate`; or enter those credentials again.",
        )
    return Check("secrets", OK, f"All {len(tokens)} stored secrets decrypt.")


def _port(config: Config, get: Getter) -> Check:
    base = local_base_url(config.host, config.port)
    answer = _health(join_url(base, "/healthz"), get)
    if answer is not None:
        if answer.get("version"):
            return Check(
                "server port",
                OK,
                f"An AccuPredix server ({answer['version']}) answers on {base}.",
            )
        return Check(
            "server port",
            FAIL,
            f"Something else answers on {base}.",
            "Stop that program or set ACCUPREDIX_PORT to a free port.",
        )
    family = socket.AF_INET6 if ":" in config.host.strip("[]") else socket.AF_INET
    with contextlib.closing(socket.socket(family, socket.SOCK_STREAM)) as probe:
        try:
            probe.bind((config.host.strip("[]"), config.port))
        except OSError as exc:
            return Check(
                "server port",
                FAIL,
                f"Cannot listen on {config.host}:{config.port} ({exc.strerror}).",
                "Choose a free port with ACCUPREDIX_PORT, or a local address with ACCUPREDIX_HOST.",
            )
    return Check("server port", OK, f"{config.host}:{config.port} is free for the server.")


def _public_url(context: _Context, get: Getter) -> Check:
    public = context.config.public_url
    if public is None:
        return Check(
            "public URL",
            SKIP,
            "ACCUPREDIX_APP_PUBLIC_URL is not set: Shopify webhooks and OAuth sign-in "
            "callbacks cannot reach this machine from outside.",
            "To receive them, run a tunnel or reverse proxy to the server's loopback port "
            "and set ACCUPREDIX_APP_PUBLIC_URL to its public address.",
        )
    url = join_url(public, "/healthz")
    try:
        response = get(url, timeout=HTTP_TIMEOUT)
    except requests.RequestException as exc:
        return Check(
            "public URL",
            FAIL,
            f"{url} cannot be reached from this machine ({type(exc).__name__}).",
            "Check that the tunnel or reverse proxy is running and forwards to "
            f"{local_base_url(context.config.host, context.config.port)}.",
        )
    date = response.headers.get("Date")
    if date:
        with contextlib.suppress(TypeError, ValueError):
            context.remote_clock = (public, email.utils.parsedate_to_datetime(date))
    body = _json(response)
    if response.status_code == 200 and body.get("version"):
        return Check("public URL", OK, f"{url} reaches this AccuPredix ({body['version']}).")
    return Check(
        "public URL",
        FAIL,
        f"{url} answered {response.status_code}, not AccuPredix's health check.",
        "Point the tunnel or reverse proxy at the AccuPredix server, and start it "
        "(`accupredix serve`, or the server in the desktop app's settings).",
    )


def _clock(context: _Context) -> Check:
    if context.remote_clock is None:
        return Check(
            "clock",
            SKIP,
            "No other clock to compare with (set a public URL or use PostgreSQL).",
            "Keep the system clock synchronised (NTP): OAuth tokens and signed "
            "requests depend on it.",
        )
    source, remote = context.remote_clock
    skew = utcnow() - remote.astimezone(dt.UTC)
    seconds = skew.total_seconds()
    direction = "ahead of" if seconds > 0 else "behind"
    detail = f"This machine's clock is {abs(seconds):.0f} s {direction} {source}."
    if abs(skew) >= SKEW_FAIL:
        return Check("clock", FAIL, detail, "Synchronise the system clock (NTP).")
    if abs(skew) >= SKEW_WARN:
        return Check("clock", WARN, detail, "Synchronise the system clock (NTP).")
    return Check("clock", OK, detail)


def _health(url: str, get: Getter) -> dict[str, Any] | None:
    try:
        response = get(url, timeout=HTTP_TIMEOUT)
    except requests.RequestException:
        return None
    body = _json(response)
    return body if response.status_code == 200 else {"status": response.status_code}


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
