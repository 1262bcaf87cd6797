"""API keys: created once in clear, stored as a hash, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.errors import InvalidInput, NotFound
from app.services.organisations import get_organisation
from app.store.models import ApiKey
from app.store.types import utcnow

SCOPES = ("read", "write", "odata")
KEY_PREFIX = "apx_"
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


@dataclass(frozen=True)
class CreatedKey:
    """A new key; ``secret`` is the only time the full key is ever available."""

    key: ApiKey
    secret: str


def hash_key(secret: str) -> str:
    # Keys carry 190+ bits of randomness, so a fast hash is enough: there is
    # nothing to brute-force that a slow KDF would protect.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(scopes: str | Iterable[str]) -> list[str]:
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    chosen = [s.strip().lower() for s in items if s.strip()]
    unknown = sorted(set(chosen) - set(SCOPES))
    if unknown or not chosen:
        raise InvalidInput(
            f"Scopes must be a comma-separated subset of {', '.join(SCOPES)}"
            + (f"; unknown: {', '.join(unknown)}." if unknown else ".")
        )
    return [s for s in SCOPES if s in chosen]


def create_key(
    session: Session,
    name: str,
    scopes: str | Iterable[str],
    organisation_id: int | None = None,
) -> CreatedKey:
    """Create a key for the organisation; the clear key is returned only here."""
    if not name.strip():
        raise InvalidInput("An API key needs a name.")
    scope_list = parse_scopes(scopes)
    org = get_organisation(session, organisation_id)
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        organisation_id=org.id,
        name=name.strip(),
        prefix=f"{KEY_PREFIX}{prefix}",
        key_hash=hash_key(secret),
        scopes=",".join(scope_list),
    )
    session.add(key)
    session.flush()
    return CreatedKey(key=key, secret=secret)


def list_keys(session: Session, organisation_id: int | None = None) -> list[ApiKey]:
    org = get_organisation(session, organisation_id)
    return list(
        session.scalars(select(ApiKey).where(ApiKey.organisation_id == org.id).order_by(ApiKey.id))
    )


def revoke_key(session: Session, key_id: int) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key with id {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The active key matching ``secret``, with its last-used time updated, or None."""
    if not secret.startswith(KEY_PREFIX) or secret.count("_") < 2:
        return None
    prefix = secret[: secret.index("_", len(KEY_PREFIX))]
    key = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if key is None or not hmac.compare_digest(key.key_hash, hash_key(secret)):
        return None
    if key.revoked_at is not None:
        return None
    key.last_used_at = utcnow()
    return key
