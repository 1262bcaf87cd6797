"""The accupredix command line: output, exit codes, and no secret printed back."""

from __future__ import annotations

import base64
import subprocess
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import app
from app.cli.main import cli
from app.config import load_config
from app.redaction import MASK
from app.services import api_keys, secrets
from app.store.db import Database
from app.store.migrate import head_revision
from app.store.models import ApiKey, Connector, Organisation, Plan, Workspace
from app.vault import Vault, key_id

OLD = bytes(range(32))
NEW = bytes(range(50, 82))


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def store() -> Database:
    return Database(load_config().database_url)


def test_version_and_help_everywhere() -> None:
    assert run("--version").output.strip() == f"accupredix, version {app.__version__}"
    for path in (
        [],
        ["serve"],
        ["gui"],
        ["db"],
        ["db", "upgrade"],
        ["demo", "seed"],
        ["api-key"],
        ["api-key", "create"],
        ["api-key", "list"],
        ["api-key", "revoke"],
        ["org", "set-plan"],
        ["vault", "rotate"],
    ):
        result = run(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_installed_entry_point_runs() -> None:
    # The console script that pip generated, not just the click object.
    exe = Path(sysconfig.get_path("scripts")) / "accupredix"
    assert exe.is_file(), "pip install did not create the accupredix console script"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert app.__version__ in result.stdout


def test_db_upgrade_creates_the_store_in_the_data_dir(isolated_env) -> None:
    result = run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"store at revision {head_revision()}" in result.output
    assert (isolated_env / "accupredix.db").is_file()
    assert (isolated_env / "logs" / "accupredix.log").is_file()


def test_api_key_create_list_revoke() -> None:
    created = run("api-key", "create", "--name", "Zapier", "--scope", "read,odata")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("apx_")
    with store().session() as session:
        key = api_keys.authenticate(session, secret)
        assert key is not None
        assert key.scope_set == {"read", "odata"}
        assert key.last_used_at is not None
        assert session.scalars(select(ApiKey.key_hash)).one() != secret

    listed = run("api-key", "list")
    assert listed.exit_code == 0
    assert "Zapier" in listed.output
    assert key.prefix in listed.output
    assert secret not in listed.output
    as_json = run("api-key", "list", "--json")
    assert secret not in as_json.output
    assert '"revoked": false' in as_json.output

    revoked = run("api-key", "revoke", str(key.id))
    assert revoked.exit_code == 0
    with store().session() as session:
        assert api_keys.authenticate(session, secret) is None
    assert "revoked" in run("api-key", "list").output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["api-key", "revoke", "999"], 4, "No API key with id 999"),
        (["api-key", "create", "--name", "x", "--scope", "admin"], 1, "unknown: admin"),
        (["api-key", "create", "--name", "  "], 1, "needs a name"),
        (["org", "set-plan", "platinum"], 2, "Invalid value"),
        (["api-key", "revoke", "one"], 2, "is not a valid integer"),
        (["no-such-command"], 2, "No such command"),
    ],
)
def test_failures_have_clear_messages_and_exit_codes(args, code: int, message: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_credentials_key_stops_the_start() -> None:
    result = run("db", "upgrade", env={"ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": "c2hvcnQ="})
    assert result.exit_code == 3
    assert "base64 of exactly 32 bytes" in result.output


def test_unreachable_store_is_reported() -> None:
    result = run(
        "db",
        "upgrade",
        env={"ACCUPREDIX_DATABASE_URL": "postgresql+psycopg://u:pw-should-not-show@127.0.0.1:1/x"},
    )
    assert result.exit_code == 5
    assert "cannot reach the store" in result.output
    assert "pw-should-not-show" not in result.output


def test_org_set_plan() -> None:
    result = run("org", "set-plan", "Growth")
    assert result.exit_code == 0, result.output
    assert "is on growth" in result.output
    with store().session() as session:
        assert session.scalars(select(Organisation.plan)).one() is Plan.GROWTH


def test_vault_rotate_reencrypts_and_never_prints_secrets() -> None:
    assert run("db", "upgrade").exit_code == 0
    with store().session() as session:
        workspace = Workspace(name="Main", organisation=Organisation(name="Acme"))
        session.add(workspace)
        session.flush()
        connector = Connector(workspace_id=workspace.id, preset="custom_rest", name="c")
        session.add(connector)
        session.flush()
        secrets.set_secrets(Vault(OLD), connector, {"password": "pw-secret-value"})
    env = {
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": base64.b64encode(NEW).decode(),
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS": base64.b64encode(OLD).decode(),
    }
    result = run("vault", "rotate", env=env)
    assert result.exit_code == 0, result.output
    assert "re-encrypted 1 secrets" in result.output
    assert "pw-secret-value" not in result.output
    with store().session() as session:
        connector = session.scalars(select(Connector)).one()
        assert connector.secrets["password"].split(".")[1] == key_id(NEW)
        assert secrets.read_secrets(Vault(NEW), connector) == {"password": "pw-secret-value"}
        assert secrets.public_connector(connector)["config"] == {"password": MASK}

    missing_old = run(
        "vault",
        "rotate",
        env={"ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": base64.b64encode(OLD).decode()},
    )
    assert missing_old.exit_code == 1
    assert "PREVIOUS" in missing_old.output
