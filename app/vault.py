"""AES-256-GCM encryption of connector secrets at rest.

A token reads ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``. Every value
gets a fresh 96-bit nonce, and the caller's context (connector id and field
name) is bound as associated data, so a token copied to another connector or
field does not decrypt. The key id lets older keys be found during rotation.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Sequence

import keyring
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import KEY_ENV, PREVIOUS_KEYS_ENV, Config, ConfigError, decode_key
from app.redaction import register_secret

log = logging.getLogger(__name__)

TOKEN_VERSION = "v1"  # noqa: S105 - a format tag, not a password
KEYRING_SERVICE = "AccuPredix"
KEYRING_USERNAME = "connector-credentials-key"
NONCE_BYTES = 12


class VaultError(Exception):
    """Base of vault failures; the message is fit to show an operator."""


class VaultKeyUnavailable(VaultError):
    """No encryption key could be found or created."""


class VaultDecryptError(VaultError):
    """A token could not be decrypted: tampered, moved, or under an unknown key."""


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key, stored in each token."""
    return hashlib.sha256(b"accupredix-vault-key-id\x00" + key).hexdigest()[:12]


def connector_context(connector_id: int, field: str) -> str:
    """Associated data that binds a secret to one connector field."""
    return f"connector/{connector_id}/{field}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keyring_key() -> bytes:
    """The key kept in the OS keyring, generated and stored on first use.

    Raises:
        VaultKeyUnavailable: when there is no usable keyring backend.
    """
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
        if stored:
            return decode_key(stored, "the key in the OS keyring")
        key = AESGCM.generate_key(bit_length=256)
        keyring.set_password(KEYRING_SERVICE, KEYRING_USERNAME, base64.b64encode(key).decode())
        log.warning("generated a new credentials key and stored it in the OS keyring")
        return key
    except (keyring.errors.KeyringError, ConfigError, RuntimeError) as exc:
        raise VaultKeyUnavailable(
            "No key to encrypt connector secrets. Either set "
            f"{KEY_ENV} to base64 of 32 random bytes, or run AccuPredix where an OS "
            f"keyring is available (the keyring said: {exc})."
        ) from None


class Vault:
    """Encrypts and decrypts secrets with the current key; reads older keys too.

    The current key is resolved on first use, so an installation that stores no
    secret never needs a key or a keyring.
    """

    def __init__(
        self,
        key: bytes | None = None,
        previous: Sequence[bytes] = (),
        *,
        key_source: Callable[[], bytes] | None = keyring_key,
    ) -> None:
        self._key = key
        self._key_source = key_source
        self._previous = tuple(previous)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> Vault:
        return cls(config.credentials_key, config.previous_keys)

    @property
    def current_key(self) -> bytes:
        with self._lock:
            if self._key is None:
                if self._key_source is None:
                    raise VaultKeyUnavailable(
                        f"No key to encrypt connector secrets: set {KEY_ENV}."
                    )
                self._key = self._key_source()
            return self._key

    @property
    def current_key_id(self) -> str:
        return key_id(self.current_key)

    def _keys_by_id(self) -> dict[str, bytes]:
        keys = {key_id(k): k for k in self._previous}
        keys[key_id(self.current_key)] = self.current_key
        return keys

    def encrypt(self, plaintext: str, context: str) -> str:
        """Encrypt ``plaintext`` bound to ``context``; returns a token."""
        register_secret(plaintext)
        key = self.current_key
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return f"{TOKEN_VERSION}.{key_id(key)}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        """Decrypt a token made for ``context``.

        Raises:
            VaultDecryptError: the token is malformed, altered, made for another
                context, or under a key that is neither current nor previous.
        """
        version, kid, payload = _split_token(token)
        if version != TOKEN_VERSION:
            raise VaultDecryptError(f"Unsupported secret format {version!r}.")
        key = self._keys_by_id().get(kid)
        if key is None:
            raise VaultDecryptError(
                f"A secret was encrypted with key {kid}, which is neither the current key "
                f"nor one listed in {PREVIOUS_KEYS_ENV}. Add the old key there to read it."
            )
        raw = _b64decode(payload)
        try:
            plaintext = (
                AESGCM(key)
                .decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
                .decode("utf-8")
            )
        except (InvalidTag, ValueError):
            raise VaultDecryptError(
                "A secret failed its integrity check: it was altered or belongs to "
                "another connector or field. Enter it again."
            ) from None
        register_secret(plaintext)
        return plaintext

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` is under a key other than the current one."""
        return _split_token(token)[1] != self.current_key_id


def _split_token(token: str) -> tuple[str, str, str]:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not all(parts):
        raise VaultDecryptError("A stored secret is not in the vault's format.")
    return parts[0], parts[1], parts[2]
