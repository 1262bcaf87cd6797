"""A connector's OAuth tokens in the store: saved together, read back, locked across processes.

:class:`TokenStore` is a ``save_secrets`` hook (it is called with the updates)
that also offers what :mod:`app.oauth.tokens` needs to refresh safely when
several processes use one connector: the tokens as stored now, and a lock on
the store that one refresh at a time holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from app.connectors.errors import RetryableError
from app.oauth.endpoint import TOKEN_FIELDS
from app.services import secrets
from app.store.db import Database
from app.store.models import Connector
from app.sync.leader import lock_for
from app.vault import Vault, connector_context

log = logging.getLogger(__name__)

# How long a refresh waits for another process's refresh of the same connector.
LOCK_WAIT = 60.0
LOCK_POLL = 0.05


class TokenStore:
    """Writes (and reads) some secret fields of one stored connector.

    Args:
        fields: the secret fields it writes; updates of others are ignored, so
            that a probe or a preview saves rotated tokens and nothing else.
            None: every field (the write-back hook of a sync).
    """

    def __init__(
        self,
        database: Database,
        vault: Vault,
        connector_id: int,
        *,
        fields: Iterable[str] | None = TOKEN_FIELDS,
    ) -> None:
        self.database = database
        self.vault = vault
        self.connector_id = connector_id
        self.fields = frozenset(fields) if fields is not None else None

    def __call__(self, updates: Mapping[str, str | None]) -> None:
        """Save ``updates`` of its fields in one transaction (None removes a field)."""
        kept = {
            name: value
            for name, value in updates.items()
            if self.fields is None or name in self.fields
        }
        ignored = sorted(set(updates) - set(kept))
        if ignored:
            log.debug("connector %s: not saving %s here", self.connector_id, ", ".join(ignored))
        if not kept:
            return
        with self.database.session() as session:
            connector = session.get(Connector, self.connector_id)
            if connector is None:
                log.warning("connector %s is gone; its new tokens are dropped", self.connector_id)
                return
            secrets.set_secrets(self.vault, connector, kept)

    def load(self) -> dict[str, str]:
        """The OAuth token fields as stored now (absent ones left out)."""
        with self.database.session() as session:
            connector = session.get(Connector, self.connector_id)
            stored = dict(connector.secrets or {}) if connector is not None else {}
        return {
            name: self.vault.decrypt(token, connector_context(self.connector_id, name))
            for name, token in stored.items()
            if name in TOKEN_FIELDS
        }

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the connector's refresh lock, which every process takes before a refresh.

        Raises:
            RetryableError: another process held it for :data:`LOCK_WAIT` seconds.
        """
        lock = lock_for(self.database, f"oauth-refresh-{self.connector_id}")
        deadline = time.monotonic() + LOCK_WAIT
        while not lock.try_acquire():
            if time.monotonic() > deadline:
                raise RetryableError(
                    "Another process is still refreshing this connector's sign-in; "
                    "try again in a minute."
                )
            time.sleep(LOCK_POLL)
        try:
            yield
        finally:
            lock.release()
