"""AES-256-GCM vault: formats, integrity, keys and rotation."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import textwrap

import keyring
import pytest
from keyring.backend import KeyringBackend
from sqlalchemy import select

from app.config import load_config
from app.services import secrets
from app.store.db import Database
from app.store.models import Connector, OAuthState, Organisation, Workspace
from app.store.types import utcnow
from app.vault import (
    KEYRING_SERVICE,
    KEYRING_USERNAME,
    Vault,
    VaultDecryptError,
    VaultKeyUnavailable,
    connector_context,
    key_id,
    keyring_key,
)

OLD = bytes(range(32))
NEW = bytes(range(100, 132))
CONTEXT = connector_context(7, "api_key")


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_round_trip_uses_a_fresh_nonce_and_names_the_key() -> None:
    vault = Vault(OLD)
    first = vault.encrypt("shpat_0123456789", CONTEXT)
    second = vault.encrypt("shpat_0123456789", CONTEXT)
    assert first != second
    assert first.split(".")[:2] == ["v1", key_id(OLD)]
    assert "shpat" not in first
    assert vault.decrypt(first, CONTEXT) == "shpat_0123456789"
    assert vault.decrypt(second, CONTEXT) == "shpat_0123456789"
    # 12-byte nonce + 16 plaintext bytes + 16-byte tag
    raw = base64.urlsafe_b64decode(first.split(".")[2] + "==")
    assert len(raw) == 12 + 16 + 16


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_a_tampered_token_fails_its_integrity_check(position: int) -> None:
    vault = Vault(OLD)
    token = vault.encrypt("secret-value", CONTEXT)
    version, kid, payload = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=="))
    raw[position] ^= 0x01
    forged = f"{version}.{kid}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"
    with pytest.raises(VaultDecryptError, match="integrity"):
        vault.decrypt(forged, CONTEXT)


@pytest.mark.parametrize(
    "other", [connector_context(8, "api_key"), connector_context(7, "password")]
)
def test_a_token_moved_to_another_connector_or_field_does_not_decrypt(other: str) -> None:
    vault = Vault(OLD)
    token = vault.encrypt("secret-value", CONTEXT)
    with pytest.raises(VaultDecryptError, match="another connector or field"):
        vault.decrypt(token, other)


def test_wrong_key_is_reported_as_unknown_key() -> None:
    token = Vault(OLD).encrypt("secret-value", CONTEXT)
    with pytest.raises(VaultDecryptError, match="neither the current key"):
        Vault(NEW).decrypt(token, CONTEXT)
    assert Vault(NEW, previous=[OLD]).decrypt(token, CONTEXT) == "secret-value"


def test_a_key_id_collision_still_fails_closed() -> None:
    # A token claiming the current key's id but sealed with another key.
    token = Vault(OLD).encrypt("secret-value", CONTEXT)
    relabelled = token.replace(key_id(OLD), key_id(NEW))
    with pytest.raises(VaultDecryptError, match="integrity"):
        Vault(NEW).decrypt(relabelled, CONTEXT)


@pytest.mark.parametrize("token", ["", "plaintext", "v1.abc", "v2.abc.def", "v1..x"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(VaultDecryptError):
        Vault(OLD).decrypt(token, CONTEXT)


def test_missing_key_names_both_fixes() -> None:
    # The autouse fixture has put the failing keyring in place, as on a headless server.
    vault = Vault(None)
    with pytest.raises(VaultKeyUnavailable) as excinfo:
        vault.encrypt("secret-value", CONTEXT)
    message = str(excinfo.value)
    assert "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY" in message
    assert "keyring" in message


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


def test_keyring_key_is_generated_once_and_reused() -> None:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    first = keyring_key()
    assert len(first) == 32
    assert base64.b64decode(backend.store[(KEYRING_SERVICE, KEYRING_USERNAME)]) == first
    assert keyring_key() == first
    token = Vault(None).encrypt("secret-value", CONTEXT)
    assert Vault(first).decrypt(token, CONTEXT) == "secret-value"


def test_no_key_is_needed_until_a_secret_is_used() -> None:
    def refuse() -> bytes:
        raise AssertionError("key resolved too early")

    Vault(None, key_source=refuse)  # constructing must not ask for a key


def _seed_secrets(database: Database, vault: Vault) -> dict[tuple[int, str], str]:
    expected: dict[tuple[int, str], str] = {}
    with database.session() as session:
        workspace = Workspace(name="Main", organisation=Organisation(name="Acme"))
        session.add(workspace)
        session.flush()
        for n in range(3):
            connector = Connector(workspace_id=workspace.id, preset="custom_rest", name=f"c{n}")
            session.add(connector)
            session.flush()
            values = {"password": f"pw-{n}-secret", "api_key": f"key-{n}-secret"}
            secrets.set_secrets(vault, connector, values)
            expected.update({(connector.id, f): v for f, v in values.items()})
        session.add(
            OAuthState(
                state="st-1",
                provider="xero",
                redirect_uri="http://127.0.0.1/cb",
                code_verifier=vault.encrypt("verifier-123456", secrets.oauth_state_context("st-1")),
                # A grant received but not yet saved to a connector.
                result=vault.encrypt(
                    '{"access_token": "grant-1"}', secrets.oauth_state_context("st-1")
                ),
                expires_at=utcnow() + dt.timedelta(minutes=5),
            )
        )
    return expected


def _read_all(database: Database, vault: Vault) -> tuple[dict[tuple[int, str], str], set[str]]:
    values: dict[tuple[int, str], str] = {}
    kids: set[str] = set()
    with database.session() as session:
        for connector in session.scalars(select(Connector)):
            for field, value in secrets.read_secrets(vault, connector).items():
                values[(connector.id, field)] = value
            kids |= {t.split(".")[1] for t in connector.secrets.values()}
        state = session.scalars(select(OAuthState)).one()
        assert vault.decrypt(state.code_verifier, "oauth_state/st-1") == "verifier-123456"
        assert vault.decrypt(state.result, "oauth_state/st-1") == '{"access_token": "grant-1"}'
        kids.add(state.code_verifier.split(".")[1])
        kids.add(state.result.split(".")[1])
    return values, kids


def test_rotation_survives_a_crash_half_way(database: Database, tmp_path) -> None:
    expected = _seed_secrets(database, Vault(OLD))
    script = textwrap.dedent(
        """
        import os
        from app.config import load_config
        from app.services import secrets
        from app.store.db import Database
        from app.vault import Vault

        config = load_config()
        def crash(count):
            if count == 3:
                os._exit(17)  # die as a killed process would: no cleanup, no rollback call
        secrets.rotate(Database(config.database_url), Vault.from_config(config), after_each=crash)
        """
    )
    env = {
        **os.environ,
        "ACCUPREDIX_DATABASE_URL": database.url,
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY": _b64(NEW),
        "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS": _b64(OLD),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 17, result.stderr

    values, kids = _read_all(database, Vault(NEW, previous=[OLD]))
    assert values == expected
    assert kids == {key_id(OLD)}, "a crashed rotation must leave the store as it was"

    result = secrets.rotate(database, Vault(NEW, previous=[OLD]))
    assert result.rotated == 8
    values, kids = _read_all(database, Vault(NEW))  # the old key is no longer needed
    assert values == expected
    assert kids == {key_id(NEW)}
    again = secrets.rotate(database, Vault(NEW))
    assert (again.rotated, again.already_current) == (0, 8)


def test_rotation_without_the_old_key_changes_nothing(database: Database) -> None:
    expected = _seed_secrets(database, Vault(OLD))
    with pytest.raises(VaultDecryptError, match="PREVIOUS"):
        secrets.rotate(database, Vault(NEW))
    values, kids = _read_all(database, Vault(OLD))
    assert values == expected
    assert kids == {key_id(OLD)}


def test_config_reads_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY", _b64(NEW))
    monkeypatch.setenv("ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS", f"{_b64(OLD)}, ")
    vault = Vault.from_config(load_config())
    assert vault.current_key_id == key_id(NEW)
    assert vault.decrypt(Vault(OLD).encrypt("old-secret", CONTEXT), CONTEXT) == "old-secret"
