"""Connector secrets through the vault, and re-encryption under a new key."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select

from app.redaction import MASK, redact
from app.store.db import Database
from app.store.models import Connector, OAuthState
from app.vault import Vault, connector_context

log = logging.getLogger(__name__)


def oauth_state_context(state: str) -> str:
    return f"oauth_state/{state}"


def set_secrets(vault: Vault, connector: Connector, values: Mapping[str, str | None]) -> None:
    """Encrypt ``values`` into the connector; a None or empty value removes the field.

    The connector must have an id (flush it first): the id is bound into every
    ciphertext.
    """
    if connector.id is None:
        raise ValueError("flush the connector before storing its secrets")
    tokens = dict(connector.secrets or {})
    for field, value in values.items():
        if value in (None, ""):
            tokens.pop(field, None)
        else:
            tokens[field] = vault.encrypt(value, connector_context(connector.id, field))
    # Reassign so SQLAlchemy sees the JSON column change.
    connector.secrets = tokens


def read_secrets(vault: Vault, connector: Connector) -> dict[str, str]:
    """Every secret of the connector in clear, for the code that calls the source."""
    return {
        field: vault.decrypt(token, connector_context(connector.id, field))
        for field, token in (connector.secrets or {}).items()
    }


def public_connector(connector: Connector) -> dict[str, object]:
    """A connector as shown to anyone: every secret field as ``********``."""
    config = redact(dict(connector.config or {}), secret_fields=connector.secrets or {})
    # Secrets live apart from the config; show that each one is set, never what.
    config.update(dict.fromkeys(connector.secrets or {}, MASK))
    return {
        "id": connector.id,
        "workspace_id": connector.workspace_id,
        "preset": connector.preset,
        "name": connector.name,
        "config": config,
        "status": connector.status.value,
        "status_message": connector.status_message,
        "schedule": connector.schedule,
        "last_synced_at": connector.last_synced_at.isoformat()
        if connector.last_synced_at
        else None,
    }


@dataclass(frozen=True)
class RotationResult:
    rotated: int
    already_current: int


def rotate(
    database: Database,
    vault: Vault,
    *,
    after_each: Callable[[int], None] | None = None,
) -> RotationResult:
    """Re-encrypt every stored secret under the vault's current key.

    All of it happens in one transaction: if the process dies half way, the
    store keeps the old tokens, which the previous keys still read, and the
    command can simply be run again.

    Args:
        after_each: called with the running count after each re-encrypted value.
    """
    rotated = current = 0
    with database.session() as session:
        for connector in session.scalars(select(Connector).order_by(Connector.id)):
            tokens = dict(connector.secrets or {})
            for field, token in tokens.items():
                if not vault.needs_rotation(token):
                    current += 1
                    continue
                context = connector_context(connector.id, field)
                tokens[field] = vault.encrypt(vault.decrypt(token, context), context)
                rotated += 1
                if after_each:
                    after_each(rotated)
            connector.secrets = tokens
        # Sign-ins in flight: the PKCE verifier, and a grant not yet saved to a connector.
        for state in session.scalars(
            select(OAuthState).where(
                or_(OAuthState.code_verifier.is_not(None), OAuthState.result.is_not(None))
            )
        ):
            context = oauth_state_context(state.state)
            for column in ("code_verifier", "result"):
                token = getattr(state, column)
                if token is None:
                    continue
                if not vault.needs_rotation(token):
                    current += 1
                    continue
                setattr(state, column, vault.encrypt(vault.decrypt(token, context), context))
                rotated += 1
                if after_each:
                    after_each(rotated)
    log.info("vault rotation: %s re-encrypted, %s already current", rotated, current)
    return RotationResult(rotated=rotated, already_current=current)
