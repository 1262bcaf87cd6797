"""The Connect flow: sign-in in the browser, callback, code exchange, tokens stored.

1. :func:`start_connect` records a ``state`` (and a PKCE verifier where the
   provider takes one, encrypted) in ``oauth_states`` and returns the
   provider's authorisation URL for the system browser.
2. The provider sends the browser back to ``/oauth/{provider}/callback``;
   :func:`complete` checks the state (known, unused, younger than 10 minutes;
   each state is accepted once), Shopify's ``hmac``, exchanges the code with
   authlib and calls the preset's ``after_connect`` to learn the account.
3. A Reconnect (a connector id given at the start) stores the new tokens into
   the connector at once and sets it ``healthy``; its mapping, schedule,
   cursor and history stay as they were. A new connector's grant waits,
   encrypted, until the wizard saves the connector (:func:`claim_grant`).

The wizard and the CLI follow along with :func:`status`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets as random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import delete, select, update

from app.config import Config
from app.connectors.base import ConnectorPreset
from app.connectors.errors import ConnectorError, RetryableError
from app.connectors.http import USER_AGENT
from app.connectors.registry import get_preset, presets
from app.oauth import endpoint
from app.oauth.clients import client_for, variable_names
from app.oauth.providers import Provider, get_provider, shop_domain, shopify_signature_valid
from app.redaction import register_secret
from app.services import secrets
from app.services.errors import InvalidInput, NotFound, ServiceError
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, OAuthState
from app.store.types import utcnow
from app.vault import Vault

log = logging.getLogger(__name__)

STATE_LIFETIME = dt.timedelta(minutes=10)
# Finished, failed and unclaimed authorisations are deleted this long after
# their state expired; an unclaimed grant can be saved until then.
KEEP_AFTER_EXPIRY = dt.timedelta(hours=1)
ACCOUNT_LENGTH = 200

PENDING = "pending"
COMPLETE = "complete"
FAILED = "failed"
CLAIMED = "claimed"

# Callback parameters that authenticate the callback itself; a preset's hook gets the rest.
_CALLBACK_CREDENTIALS = ("code", "state", "hmac", "signature")


@dataclass(frozen=True)
class ConnectResult:
    """What a preset's ``after_connect`` learnt once the code was exchanged.

    Attributes:
        account: what the wizard shows (shop, company or organisation name).
        settings: non-secret settings learnt (a realm id, a shop, a tenant).
        choices: when the sign-in reaches several accounts, each as
            ``{"id": ..., "name": ...}``; the operator must pick one.
        choice_settings: the settings that the pick fills: its id and its name.
    """

    account: str
    settings: dict[str, Any] = field(default_factory=dict)
    choices: list[dict[str, str]] = field(default_factory=list)
    choice_settings: tuple[str, str] = ("tenant_id", "tenant_name")


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and the state to follow the sign-in by."""

    url: str
    state: str


@dataclass(frozen=True)
class ConnectStatus:
    """Where a sign-in stands: ``pending``, ``complete``, ``failed`` or ``claimed``."""

    state: str
    provider: str
    status: str
    preset: str | None = None
    connector_id: int | None = None
    account: str | None = None
    choices: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback page tells the operator."""

    provider: str
    account: str | None
    reconnected: bool
    needs_choice: bool
    # The connector signed in again, on a reconnect.
    connector_id: int | None = None


@dataclass(frozen=True)
class Grant:
    """A finished sign-in for a new connector: its preset, secrets and settings."""

    preset: str
    account: str | None
    secrets: dict[str, str]
    settings: dict[str, Any]


class OAuthFlowError(ServiceError):
    """A sign-in that cannot go on; the message says why in plain words.

    ``status`` is the HTTP status of the callback page that shows it.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def state_context(state: str) -> str:
    """Associated data binding the verifier and the grant to one authorisation."""
    return secrets.oauth_state_context(state)


# -- 1. start -------------------------------------------------------------


def start_connect(
    database: Database,
    vault: Vault,
    provider: str,
    *,
    redirect_uri: str,
    connector_id: int | None = None,
    shop: str | None = None,
    preset: str | None = None,
    config: Config | None = None,
) -> Authorization:
    """Begin a sign-in; returns the authorisation URL for the browser and its state.

    Args:
        redirect_uri: this installation's callback URL, as registered with the provider.
        connector_id: reconnect this connector (its settings stay; its tokens are replaced).
        shop: the Shopify store (a reconnect defaults to the connector's).
        preset: the preset of the new connector, when several sign in with ``provider``.

    Raises:
        NotFound: unknown provider, preset or connector.
        InvalidInput: the connector or preset does not sign in with ``provider``,
            or a Shopify sign-in without a valid shop.
        ServiceError: the provider's client credentials are not configured.
    """
    spec = get_provider(provider)
    client = client_for(spec.id, config)
    if client is None:
        raise ServiceError(
            f"Connect with {spec.display_name} needs {variable_names(spec.id)} in the "
            "environment. Without them, enter the tokens in the connector's fields instead."
        )
    state = random.token_urlsafe(32)
    # The state lets a callback in: masked wherever a URL with it is logged.
    register_secret(state)
    verifier = random.token_urlsafe(64) if spec.pkce else None
    now = utcnow()
    with database.session() as session:
        session.execute(delete(OAuthState).where(OAuthState.expires_at < now - KEEP_AFTER_EXPIRY))
        if connector_id is not None:
            connector = session.get(Connector, connector_id)
            if connector is None:
                raise NotFound(f"No connector with id {connector_id}.")
            preset_cls = get_preset(connector.preset)
            if preset_cls.oauth_provider != spec.id:
                raise InvalidInput(
                    f"Connector {connector.name!r} does not sign in with {spec.display_name}."
                )
            shop = shop or (connector.config or {}).get("shop")
        else:
            preset_cls = _preset_for(spec, preset)
        if spec.per_shop:
            shop = shop_domain(shop or "")
        with endpoint.session(spec, client, redirect_uri=redirect_uri, scope=spec.scope) as oauth:
            url, _ = oauth.create_authorization_url(
                spec.authorize_endpoint(shop), state=state, code_verifier=verifier
            )
        session.add(
            OAuthState(
                state=state,
                provider=spec.id,
                connector_id=connector_id,
                code_verifier=vault.encrypt(verifier, state_context(state)) if verifier else None,
                redirect_uri=redirect_uri,
                created_at=now,
                expires_at=now + STATE_LIFETIME,
                status=PENDING,
                context={"preset": preset_cls.id, "shop": shop},
            )
        )
    log.info(
        "%s sign-in started for %s",
        spec.id,
        f"connector {connector_id}" if connector_id is not None else f"a new {preset_cls.id}",
    )
    return Authorization(url=url, state=state)


def _preset_for(spec: Provider, preset: str | None) -> type[ConnectorPreset]:
    if preset is not None:
        preset_cls = get_preset(preset)
        if preset_cls.oauth_provider != spec.id:
            raise InvalidInput(
                f"The {preset_cls.display_name} preset does not sign in with {spec.display_name}."
            )
        return preset_cls
    candidates = [cls for cls in presets() if cls.oauth_provider == spec.id]
    if not candidates:
        raise InvalidInput(f"No connector preset signs in with {spec.display_name}.")
    if len(candidates) > 1:
        names = ", ".join(cls.id for cls in candidates)
        raise InvalidInput(f"Several presets sign in with {spec.display_name} ({names}); name one.")
    return candidates[0]


# -- 2. callback ----------------------------------------------------------


def complete(
    database: Database,
    vault: Vault,
    provider: str,
    params: Mapping[str, str],
    *,
    config: Config | None = None,
) -> CallbackOutcome:
    """Finish the sign-in the provider's redirect (``params``) reports.

    Raises:
        OAuthFlowError: the sign-in was refused, cancelled, forged, replayed,
            expired or failed; the message says which and what to do.
    """
    try:
        spec = get_provider(provider)
    except NotFound as exc:
        raise OAuthFlowError(str(exc), status=404) from None
    state = params.get("state", "")
    if params.get("error"):
        message = _provider_error(spec, params)
        if state:
            _fail(database, state, message, only_pending=True)
        raise OAuthFlowError(message)
    if not state:
        raise OAuthFlowError(
            "This sign-in has no state, so it was not started by AccuPredix. "
            "Start Connect again from AccuPredix."
        )
    register_secret(state)
    row = _take(database, spec, state)
    try:
        outcome = _finish(database, vault, spec, row, params=params, config=config)
    except OAuthFlowError as exc:
        _fail(database, state, exc.message)
        raise
    except Exception:
        log.exception("%s sign-in failed unexpectedly", spec.id)
        message = "The sign-in failed unexpectedly; the log file has the details."
        _fail(database, state, message)
        raise OAuthFlowError(f"{message} Start Connect again.", status=500) from None
    log.info("%s sign-in complete (%s)", spec.id, outcome.account or "no account name")
    return outcome


def _provider_error(spec: Provider, params: Mapping[str, str]) -> str:
    error = params.get("error", "")
    if error == "access_denied":
        return (
            f"Sign-in cancelled: AccuPredix was not authorised in {spec.display_name}. "
            "Start Connect again to retry."
        )
    said = " ".join(params.get("error_description", "").split())[:300]
    return f"{spec.display_name} refused the sign-in ({error}{': ' + said if said else ''})."


def _take(database: Database, spec: Provider, state: str) -> OAuthState:
    """Mark the state used, once; explain why when it cannot be."""
    now = utcnow()
    with database.session() as session:
        taken = session.execute(
            update(OAuthState)
            .where(
                OAuthState.state == state,
                OAuthState.provider == spec.id,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
            )
            .values(used_at=now)
        )
        row = session.scalars(select(OAuthState).where(OAuthState.state == state)).first()
        if taken.rowcount == 1 and row is not None:
            return row
        if row is None or row.provider != spec.id:
            reason = (
                "This sign-in was not started by this AccuPredix installation, or it was "
                "cleaned up long ago."
            )
        elif row.used_at is not None:
            reason = "This sign-in link was already used; a link works once."
        else:
            reason = "This sign-in took more than 10 minutes and expired."
            if row.status == PENDING:
                row.status = FAILED
                row.error = reason
    raise OAuthFlowError(f"{reason} Start Connect again from AccuPredix.")


def _finish(
    database: Database,
    vault: Vault,
    spec: Provider,
    row: OAuthState,
    *,
    params: Mapping[str, str],
    config: Config | None,
) -> CallbackOutcome:
    context = dict(row.context or {})
    shop = context.get("shop")
    client = client_for(spec.id, config)
    if client is None:
        raise OAuthFlowError(
            f"Connect with {spec.display_name} is no longer configured: set "
            f"{variable_names(spec.id)} and start again."
        )
    if spec.signed_callback:
        if not shopify_signature_valid(params, client.client_secret):
            raise OAuthFlowError(
                f"The callback's signature does not match, so it did not come from "
                f"{spec.display_name}. Nothing was saved; start Connect again."
            )
        answered = params.get("shop", "")
        if answered.lower() != shop:
            raise OAuthFlowError(
                f"{spec.display_name} answered for the shop {answered or '(none)'}, not for "
                f"{shop} where Connect started. Nothing was saved; start Connect again."
            )
    code = params.get("code", "")
    if not code:
        raise OAuthFlowError(f"{spec.display_name} sent no authorisation code back.")
    register_secret(code)
    verifier = None
    if row.code_verifier:
        verifier = vault.decrypt(row.code_verifier, state_context(row.state))
    try:
        token = endpoint.exchange_code(
            spec,
            client,
            code=code,
            redirect_uri=row.redirect_uri,
            code_verifier=verifier,
            shop=shop,
        )
    except RetryableError as exc:
        raise OAuthFlowError(f"{exc} Start Connect again in a moment.", status=502) from None
    except ConnectorError as exc:
        raise OAuthFlowError(str(exc), status=502) from None
    preset_cls = get_preset(str(context.get("preset")))
    hook_params = {k: v for k, v in params.items() if k not in _CALLBACK_CREDENTIALS}
    result = _after_connect(spec, preset_cls, token, hook_params)
    grant_secrets = endpoint.token_secrets(token)
    settings = dict(result.settings)
    if shop:
        settings.setdefault("shop", shop)
    account = (result.account or spec.display_name)[:ACCOUNT_LENGTH]
    if row.connector_id is not None:
        _reconnect(
            database,
            vault,
            spec,
            row,
            result=result,
            grant_secrets=grant_secrets,
            settings=settings,
            account=account,
        )
        return CallbackOutcome(
            spec.display_name,
            account,
            reconnected=True,
            needs_choice=False,
            connector_id=row.connector_id,
        )
    grant = {"secrets": grant_secrets, "settings": settings}
    with database.session() as session:
        stored = session.scalars(select(OAuthState).where(OAuthState.state == row.state)).one()
        stored.result = vault.encrypt(json.dumps(grant), state_context(row.state))
        stored.status = COMPLETE
        stored.account = account
        stored.code_verifier = None
        stored.context = {
            **context,
            "choices": result.choices,
            "choice_settings": list(result.choice_settings),
        }
    return CallbackOutcome(
        spec.display_name, account, reconnected=False, needs_choice=bool(result.choices)
    )


class _ApiSession(requests.Session):
    """A session with our User-Agent and a timeout on every request, for ``after_connect``."""

    def __init__(self) -> None:
        super().__init__()
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", endpoint.TIMEOUT)
        return super().request(method, url, **kwargs)


def _after_connect(
    spec: Provider,
    preset_cls: type[ConnectorPreset],
    token: Mapping[str, Any],
    params: Mapping[str, str],
) -> ConnectResult:
    hook = getattr(preset_cls, "after_connect", None)
    if hook is None:
        return ConnectResult(account=spec.display_name)
    failed = f"Signed in to {spec.display_name}, but reading the account failed"
    with _ApiSession() as http:
        try:
            result = hook(dict(token), dict(params), http)
        except ConnectorError as exc:
            raise OAuthFlowError(f"{failed}: {exc}", status=502) from None
        except requests.RequestException as exc:
            raise OAuthFlowError(
                f"{failed}: its API could not be reached ({type(exc).__name__}).", status=502
            ) from None
        except Exception:
            log.exception("%s: after_connect of %s failed", spec.id, preset_cls.id)
            raise OAuthFlowError(
                f"{failed} unexpectedly; the log file has the details.", status=500
            ) from None
    if not isinstance(result, ConnectResult):
        log.error("%s.after_connect returned %r, not a ConnectResult", preset_cls.id, result)
        raise OAuthFlowError(f"{failed}; the log file has the details.", status=500)
    for choice in result.choices:
        if not (isinstance(choice, Mapping) and choice.get("id") and "name" in choice):
            raise OAuthFlowError(f"{failed}: an account without an id.", status=502)
    return result


def _reconnect(
    database: Database,
    vault: Vault,
    spec: Provider,
    row: OAuthState,
    *,
    result: ConnectResult,
    grant_secrets: dict[str, str | None],
    settings: dict[str, Any],
    account: str,
) -> None:
    """Put the new tokens into the connector; nothing else of it changes."""
    with database.session() as session:
        connector = session.get(Connector, row.connector_id)
        if connector is None:
            raise OAuthFlowError("The connector was deleted while you were signing in.")
        stored = dict(connector.config or {})
        if result.choices:
            id_key, name_key = result.choice_settings
            current = stored.get(id_key)
            match = [choice for choice in result.choices if choice["id"] == current]
            if not match:
                raise OAuthFlowError(
                    f"The account connector {connector.name!r} reads was not among those you "
                    f"authorised in {spec.display_name}. Reconnect and allow it; nothing was "
                    "changed."
                )
            settings[id_key], settings[name_key] = match[0]["id"], match[0]["name"]
        for key, value in settings.items():
            # An id that differs means another company, shop or organisation: its
            # lines would mix with this connector's history.
            identity = key == "shop" or key.endswith("_id")
            if identity and stored.get(key) not in (None, "") and str(stored[key]) != str(value):
                raise OAuthFlowError(
                    f"You signed in to another account ({key} {value}) than the one "
                    f"connector {connector.name!r} reads ({stored[key]}). Sign in to the "
                    "same one, or add a new connector for the other; nothing was changed."
                )
        connector.config = {**stored, **settings}
        secrets.set_secrets(vault, connector, grant_secrets)
        if connector.status not in (ConnectorStatus.DISABLED, ConnectorStatus.SYNCING):
            connector.status = ConnectorStatus.HEALTHY
            connector.status_message = None
        state = session.scalars(select(OAuthState).where(OAuthState.state == row.state)).one()
        state.status = COMPLETE
        state.account = account
        state.code_verifier = None
    log.info("connector %s reconnected to %s", row.connector_id, spec.id)


def _fail(database: Database, state: str, message: str, *, only_pending: bool = False) -> None:
    with database.session() as session:
        query = update(OAuthState).where(OAuthState.state == state)
        if only_pending:
            query = query.where(OAuthState.status == PENDING)
        else:
            query = query.where(OAuthState.status.in_((PENDING, FAILED)))
        session.execute(query.values(status=FAILED, error=message, code_verifier=None, result=None))


# -- 3. following along and saving ----------------------------------------


def status(database: Database, state: str) -> ConnectStatus:
    """Where the sign-in started with ``state`` stands.

    Raises:
        NotFound: no such sign-in (never started, or cleaned up).
    """
    with database.session() as session:
        row = session.scalars(select(OAuthState).where(OAuthState.state == state)).first()
        if row is None:
            raise NotFound("No sign-in with that state; start Connect again.")
        context = dict(row.context or {})
        current, error = row.status, row.error
        if current == PENDING and row.expires_at <= utcnow():
            current = FAILED
            error = "The sign-in took more than 10 minutes and expired. Start Connect again."
        return ConnectStatus(
            state=row.state,
            provider=row.provider,
            status=current,
            preset=context.get("preset"),
            connector_id=row.connector_id,
            account=row.account,
            choices=list(context.get("choices") or []),
            error=error,
        )


@contextmanager
def claimed_grant(
    database: Database, vault: Vault, state: str, *, choice: str | None = None
) -> Iterator[Grant]:
    """Take a new connector's grant, once; it is put back if the block raises.

    Args:
        choice: the id of the account picked among the sign-in's choices.

    Raises:
        NotFound: no such sign-in.
        InvalidInput: the sign-in is not complete, failed, was a reconnect, was
            already claimed, or needs a choice that is missing or unknown.
    """
    with database.session() as session:
        row = session.scalars(select(OAuthState).where(OAuthState.state == state)).first()
        if row is None:
            raise NotFound("No sign-in with that state; start Connect again.")
        if row.connector_id is not None:
            raise InvalidInput("That sign-in reconnected an existing connector; nothing to save.")
        if row.status == CLAIMED:
            raise InvalidInput("That sign-in was already used to save a connector.")
        if row.status == FAILED:
            raise InvalidInput(row.error or "That sign-in failed; start Connect again.")
        if row.status != COMPLETE or row.result is None:
            raise InvalidInput("The sign-in has not finished yet.")
        context = dict(row.context or {})
        sealed = row.result
        payload = json.loads(vault.decrypt(sealed, state_context(state)))
        settings = dict(payload.get("settings") or {})
        _apply_choice(settings, context, choice)
        taken = session.execute(
            update(OAuthState)
            .where(OAuthState.state == state, OAuthState.status == COMPLETE)
            .values(status=CLAIMED, result=None)
        )
        if taken.rowcount != 1:
            raise InvalidInput("That sign-in was already used to save a connector.")
    grant = Grant(
        preset=str(context.get("preset")),
        account=row.account,
        secrets={k: str(v) for k, v in (payload.get("secrets") or {}).items() if v},
        settings=settings,
    )
    try:
        yield grant
    except BaseException:
        with database.session() as session:
            session.execute(
                update(OAuthState)
                .where(OAuthState.state == state, OAuthState.status == CLAIMED)
                .values(status=COMPLETE, result=sealed)
            )
        raise


def claim_grant(
    database: Database, vault: Vault, state: str, *, choice: str | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The secrets and settings of a new connector's finished sign-in; each grant is given once."""
    with claimed_grant(database, vault, state, choice=choice) as grant:
        return grant.secrets, grant.settings


def _apply_choice(settings: dict[str, Any], context: Mapping[str, Any], choice: str | None) -> None:
    choices = list(context.get("choices") or [])
    if not choices:
        if choice:
            raise InvalidInput("That sign-in reached a single account; there is nothing to choose.")
        return
    listed = "; ".join(f"{c['name']} ({c['id']})" for c in choices)
    if not choice:
        raise InvalidInput(f"The sign-in reached several accounts; choose one of: {listed}.")
    match = [c for c in choices if c["id"] == choice]
    if not match:
        raise InvalidInput(f"{choice!r} is not among the accounts authorised: {listed}.")
    id_key, name_key = context.get("choice_settings") or ("tenant_id", "tenant_name")
    settings[id_key], settings[name_key] = match[0]["id"], match[0]["name"]
