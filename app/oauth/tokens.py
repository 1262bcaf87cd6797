"""Valid access tokens for OAuth connectors: refreshed before they expire, rotations kept.

A preset that signs in with OAuth keeps ``access_token``, ``refresh_token`` and
``token_expires_at`` (ISO 8601, UTC) among its secrets and asks here for the
token to send:

- :func:`bearer` returns the access token, refreshing it first when it expires
  within :data:`REFRESH_MARGIN`;
- :func:`refresh` refreshes now, for a token the API refused with 401 although
  it looked valid; :class:`OAuthBearer` does both for an
  :class:`~app.connectors.http.HttpClient`.

A refresh spends the refresh token: providers that rotate them (QuickBooks,
Xero, Shopify's expiring tokens) revoke it and answer a new one. So:

- the new access token, its expiry and the new refresh token are saved in one
  transaction (the config's ``save_secrets``) before the new access token is
  returned, so that nothing uses a token the store does not hold, and a crash
  at any later point leaves the newest refresh token in the store;
- refreshes of one connector are serialised: within this process by a lock,
  across processes by the store's lock when the config's ``save_secrets`` is a
  :class:`~app.oauth.store.TokenStore`. Whoever waited catches up with what the
  refresh before it saved instead of spending a refresh token that is gone; a
  TokenStore config whose refresh token was spent by a process that did not
  take the lock (``invalid_grant``) takes over the rotation that process saved.

Failures raise :mod:`app.connectors.errors`: a refusal (``invalid_grant``, 401)
is an :class:`AuthError`, which a sync turns into ``needs_reconnect``; 429, 5xx
and timeouts are a :class:`RetryableError`.

Known limit: a crash between the provider's answer and the save leaves the
previous refresh token in the store, which Xero accepts again for 30 minutes
and Shopify until the new token is used; with other providers the connector
then needs a Reconnect. (Presets that sign in with OAuth are never read by the
sync's worker process, which could not take the store's lock:
:func:`app.sync.pages.worker_starter`.)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from contextlib import nullcontext
from typing import Any

import requests
from requests.auth import AuthBase

from app.connectors.base import SourceConfig
from app.connectors.errors import AuthError, ConfigurationError, ConnectorError
from app.oauth import endpoint
from app.oauth.clients import client_for, variable_names
from app.oauth.endpoint import (
    ACCESS_TOKEN,
    EXPIRES_AT,
    REFRESH_TOKEN,
    TOKEN_FIELDS,
    TokenRefused,
)
from app.oauth.providers import Provider, get_provider
from app.oauth.store import TokenStore

log = logging.getLogger(__name__)

REFRESH_MARGIN = dt.timedelta(minutes=5)
# Refresh tokens spent by this process, kept to let a config that still holds
# one catch up with its replacement; the oldest are forgotten first.
REMEMBERED_ROTATIONS = 256

_guard = threading.Lock()
_locks: dict[Hashable, threading.Lock] = {}
_rotations: OrderedDict[str, dict[str, str | None]] = OrderedDict()


def bearer(config: SourceConfig, provider: str) -> str:
    """A valid access token for ``config``, refreshed first if it expires within 5 minutes.

    Raises:
        AuthError: no access token, or the provider refused the refresh token.
        RetryableError: the token endpoint timed out or failed (5xx, 429).
        ConnectorError: the refreshed tokens could not be saved, or other failures.
    """
    access = config.get(ACCESS_TOKEN)
    if access and not expiring(config):
        return str(access)
    return _renew(config, get_provider(provider), refused=None)


def refresh(config: SourceConfig, provider: str) -> str:
    """Refresh now: the API refused the access token ``config`` holds (401).

    When another operation already replaced that token, its replacement is
    returned without a second refresh. Call it once per refusal; a second 401
    means the grant is gone (an :class:`AuthError`).
    """
    return _renew(config, get_provider(provider), refused=str(config.get(ACCESS_TOKEN) or ""))


def expiring(config: Mapping[str, Any], margin: dt.timedelta = REFRESH_MARGIN) -> bool:
    """Whether the access token expires within ``margin`` (False when no expiry is known)."""
    raw = config.get(EXPIRES_AT)
    if not raw:
        return False
    try:
        when = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        log.warning("the stored token expiry is not an ISO 8601 time; refreshing the token")
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when - margin <= dt.datetime.now(dt.UTC)


class OAuthBearer(AuthBase):
    """Sends a valid access token; after :meth:`invalidate` (a 401) the next one is fresh.

    Args:
        header: where the token goes (Shopify: ``X-Shopify-Access-Token``).
        scheme: what precedes it in the header; None for the bare token.
    """

    def __init__(
        self,
        config: SourceConfig,
        provider: str,
        *,
        header: str = "Authorization",
        scheme: str | None = "Bearer",
    ) -> None:
        self.config = config
        self.provider = provider
        self.header = header
        self.scheme = scheme
        self._lock = threading.Lock()
        self._last: str | None = None
        self._refused: str | None = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        with self._lock:
            refused, self._refused = self._refused, None
        if refused is None:
            token = bearer(self.config, self.provider)
        else:
            token = _renew(self.config, get_provider(self.provider), refused=refused)
        self._last = token
        request.headers[self.header] = f"{self.scheme} {token}" if self.scheme else token
        return request

    def invalidate(self) -> None:
        with self._lock:
            self._refused = self._last or ""


# -- the refresh -----------------------------------------------------------


def _renew(config: SourceConfig, provider: Provider, *, refused: str | None) -> str:
    """Catch up with a refresh made elsewhere, or refresh; returns the access token.

    ``refused`` is the access token the API refused (None: the token is merely
    about to expire).
    """
    store = config.save_secrets if isinstance(config.save_secrets, TokenStore) else None
    with _local_lock(_lock_key(config, provider)), store.locked() if store else nullcontext():
        _catch_up(config, store)
        if (access := _still_good(config, refused)) is not None:
            return access
        spent = config.get(REFRESH_TOKEN)
        try:
            return _spend(config, provider)
        except TokenRefused as exc:
            # A process that refreshes without the store's lock may have rotated
            # the token between the catch-up and the refresh: take its result.
            if store is None or exc.error != "invalid_grant":
                raise
            stored = store.load()
            if not stored.get(REFRESH_TOKEN) or stored.get(REFRESH_TOKEN) == spent:
                raise
            log.info("%s: the refresh token was rotated by another process", provider.id)
            _apply(config, {name: stored.get(name) for name in TOKEN_FIELDS})
            if (access := _still_good(config, refused)) is not None:
                return access
            return _spend(config, provider)


def _still_good(config: SourceConfig, refused: str | None) -> str | None:
    """The config's access token if it needs no refresh, else None."""
    access = config.get(ACCESS_TOKEN)
    if not access:
        return None
    if refused is None:
        return None if expiring(config) else str(access)
    # After a refusal, only a token other than the refused one will do.
    return str(access) if access != refused else None


def _spend(config: SourceConfig, provider: Provider) -> str:
    name = provider.display_name
    refresh_token = config.get(REFRESH_TOKEN)
    if not refresh_token:
        raise AuthError(
            f"{name} refused the access token or it expired, and there is no refresh token "
            "to renew it: reconnect the connector (or enter a new access token)."
        )
    if config.save_secrets is None:
        # Rotation would revoke the refresh token the operator typed in, and an
        # unsaved configuration has nowhere to keep its replacement.
        raise ConnectorError(
            f"The {name} access token was refused or has expired. Renewing it would use up "
            "the refresh token, which an unsaved configuration cannot keep: save the "
            "connector, then test it."
        )
    client = client_for(provider.id)
    if client is None:
        raise ConfigurationError(
            f"Renewing the {name} access token needs the app's client credentials: set "
            f"{variable_names(provider.id)}, or enter a new access token."
        )
    shop = str(config.get("shop") or "") or None
    token = endpoint.refresh_grant(provider, client, refresh_token=str(refresh_token), shop=shop)
    updates = endpoint.token_secrets(token)
    if updates[REFRESH_TOKEN] is None:  # the provider kept the refresh token as it was
        updates[REFRESH_TOKEN] = str(refresh_token)
    _save(config, provider, updates)
    _remember_rotation(str(refresh_token), updates)
    _apply(config, updates)
    log.info(
        "%s: renewed the access token of connector %s (valid until %s)",
        provider.id,
        config.connector_id if config.connector_id is not None else "(unsaved)",
        updates[EXPIRES_AT] or "revoked",
    )
    return str(updates[ACCESS_TOKEN])


def _save(config: SourceConfig, provider: Provider, updates: dict[str, str | None]) -> None:
    """Persist the new tokens, all in one call, before anything uses them."""
    assert config.save_secrets is not None
    try:
        config.save_secrets(updates)  # type: ignore[arg-type]
    except ConnectorError:
        raise
    except Exception:
        log.exception("%s: saving the renewed tokens failed", provider.id)
        raise ConnectorError(
            f"{provider.display_name} renewed the sign-in but the new tokens could not be "
            "saved; the log file has the details. If the next sync reports that the sign-in "
            "expired, reconnect the connector."
        ) from None


def _catch_up(config: SourceConfig, store: TokenStore | None) -> None:
    """Take the tokens a refresh before this one saved (in the store, or in this process)."""
    if store is not None:
        stored = store.load()
        if stored.get(ACCESS_TOKEN) and any(
            stored.get(name) != config.get(name) for name in TOKEN_FIELDS
        ):
            _apply(config, {name: stored.get(name) for name in TOKEN_FIELDS})
        return
    with _guard:
        for _ in range(len(_rotations)):  # a chain of rotations, followed to its end
            current = config.get(REFRESH_TOKEN)
            newer = _rotations.get(_digest(str(current))) if current else None
            if newer is None:
                break
            _apply(config, newer)
            if newer.get(REFRESH_TOKEN) == current:  # a provider that does not rotate
                break


def _apply(config: SourceConfig, updates: Mapping[str, str | None]) -> None:
    for name, value in updates.items():
        if value is None:
            config.values.pop(name, None)
        else:
            config.values[name] = value


def _remember_rotation(spent: str, updates: dict[str, str | None]) -> None:
    with _guard:
        _rotations[_digest(spent)] = dict(updates)
        while len(_rotations) > REMEMBERED_ROTATIONS:
            _rotations.popitem(last=False)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _lock_key(config: SourceConfig, provider: Provider) -> Hashable:
    if config.connector_id is not None:
        return (provider.id, "connector", config.connector_id)
    return (provider.id, "grant", _digest(str(config.get(REFRESH_TOKEN) or "")))


def _local_lock(key: Hashable) -> threading.Lock:
    with _guard:
        return _locks.setdefault(key, threading.Lock())


def forget_rotations() -> None:
    """Drop what this process remembers of spent refresh tokens (tests, a new process)."""
    with _guard:
        _rotations.clear()
