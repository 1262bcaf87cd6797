"""Token refresh: before expiry, rotation saved atomically, once per connector, failures sorted."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from app.connectors.base import SourceConfig
from app.connectors.errors import AuthError, ConnectorError, RetryableError
from app.oauth import tokens
from app.oauth.providers import PROVIDERS
from app.oauth.store import TokenStore
from app.services import connectors as connector_service
from app.services import oauth as service
from app.store.db import Database
from app.store.models import ConnectorStatus, DemandLine, SyncStatus
from app.sync.engine import sync_connector
from app.vault import Vault
from tests.app.oauth.support import World, connect_world
from tests.fakes.oauth_server import browse


@pytest.fixture
def books(database: Database, monkeypatch: pytest.MonkeyPatch):
    with connect_world(database, monkeypatch, "quickbooks") as world:
        yield world


@pytest.fixture
def books_sqlite(sqlite_database: Database, monkeypatch: pytest.MonkeyPatch):
    with connect_world(sqlite_database, monkeypatch, "quickbooks") as world:
        yield world


def line_count(world: World) -> int:
    with world.database.session() as session:
        return session.query(DemandLine).count()


def test_a_token_valid_for_long_is_used_as_it_is(books: World) -> None:
    created = books.connect()
    config = books.sync_config(created["id"])
    assert tokens.bearer(config, "quickbooks") == books.fake.issued[0]["access_token"]
    assert books.fake.refreshes == 0


@pytest.mark.parametrize("minutes", [4, -30])
def test_a_token_that_expires_within_5_minutes_is_refreshed_first(
    books: World, minutes: int
) -> None:
    created = books.connect()
    first = books.fake.issued[0]
    books.expire(created["id"], minutes=minutes)
    config = books.sync_config(created["id"])
    token = tokens.bearer(config, "quickbooks")
    renewed = books.fake.issued[1]
    assert token == renewed["access_token"] != first["access_token"]
    stored = books.stored(created["id"])
    assert stored["access_token"] == renewed["access_token"]
    assert stored["refresh_token"] == renewed["refresh_token"]
    assert not tokens.expiring(stored)
    # The spent refresh token is dead at the provider; the store holds the live one.
    assert books.fake.live_refresh_tokens() == {renewed["refresh_token"]}
    (refresh,) = [r for r in books.fake.token_requests if r.grant_type == "refresh_token"]
    assert (refresh.refresh_token, refresh.client_auth) == (first["refresh_token"], "basic")
    # The config itself now carries the new grant: no second refresh.
    assert tokens.bearer(config, "quickbooks") == token
    assert books.fake.refreshes == 1


def test_a_sync_refreshes_and_the_next_sync_uses_the_rotated_token(books: World) -> None:
    created = books.connect()
    for expected_refreshes in (1, 2):
        books.expire(created["id"], minutes=3)
        result = sync_connector(books.database, books.vault, created["id"])
        assert result.status is SyncStatus.COMPLETE, result.error
        assert books.fake.refreshes == expected_refreshes
        assert books.stored(created["id"])["refresh_token"] in books.fake.live_refresh_tokens()
    assert line_count(books) == 2 * books.fake.orders


def test_a_preview_keeps_the_rotated_tokens_and_writes_nothing_else(books: World) -> None:
    created = books.connect()
    sync_connector(books.database, books.vault, created["id"])
    before = books.connector(created["id"])
    books.expire(created["id"])
    preview = connector_service.preview(books.database, books.vault, connector_id=created["id"])
    assert preview.records > 0
    assert books.fake.refreshes == 1
    renewed = books.fake.issued[-1]
    after = books.connector(created["id"])
    assert books.stored(created["id"])["refresh_token"] == renewed["refresh_token"]
    assert (after.config, after.cursor, after.field_mapping, after.status) == (
        before.config,
        before.cursor,
        before.field_mapping,
        before.status,
    )
    probe = connector_service.probe_connection(
        books.database, books.vault, connector_id=created["id"]
    )
    assert probe.account == "Fake Trading Co"
    assert books.fake.refreshes == 1


def test_after_a_401_the_token_is_refreshed_once_and_the_call_retried(books: World) -> None:
    created = books.connect()
    token = books.fake.token_of(books.fake.issued[0]["access_token"])
    assert token is not None
    token.revoked = True  # refused by the API although its expiry is hours away
    result = sync_connector(books.database, books.vault, created["id"])
    assert result.status is SyncStatus.COMPLETE, result.error
    assert books.fake.refreshes == 1
    assert line_count(books) == 2 * books.fake.orders


def test_a_refusal_another_refresh_already_answered_is_not_refreshed_again(
    books: World,
) -> None:
    created = books.connect()
    first, second = books.sync_config(created["id"]), books.sync_config(created["id"])
    renewed = tokens.refresh(first, "quickbooks")  # the API refused the token (401)
    # The other operation gets a 401 for the same token: it takes the renewed one.
    assert tokens.refresh(second, "quickbooks") == renewed
    assert books.fake.refreshes == 1


def test_a_second_401_after_a_refresh_is_an_auth_error(books: World) -> None:
    created = books.connect()
    books.fake.refuse_api = True  # the company took the app's access away
    result = sync_connector(books.database, books.vault, created["id"])
    assert result.status is SyncStatus.FAILED
    assert books.fake.refreshes == 1
    assert [path for _, path in books.fake.api_requests] == ["/api/account"] + ["/api/orders"] * 2
    broken = books.connector(created["id"])
    assert broken.status is ConnectorStatus.NEEDS_RECONNECT
    assert "HTTP 401" in (broken.status_message or "")


def test_concurrent_refreshes_of_one_connector_spend_the_refresh_token_once(
    books_sqlite: World,
) -> None:
    books = books_sqlite
    created = books.connect()
    books.expire(created["id"])
    books.fake.token_delay = 0.2
    # A scheduled sync and a preview, each with the config it builds.
    configs = [
        books.sync_config(created["id"]),
        connector_service._saved_config(books.database, books.vault, created["id"])[1],
        books.sync_config(created["id"]),
    ]
    barrier = threading.Barrier(len(configs))
    got: list[str] = []
    errors: list[ConnectorError] = []

    def use(config: SourceConfig) -> None:
        barrier.wait()
        try:
            got.append(tokens.bearer(config, "quickbooks"))
        except ConnectorError as exc:  # anything else fails the test as a thread error
            errors.append(exc)

    threads = [threading.Thread(target=use, args=(config,)) for config in configs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    refreshes = [r for r in books.fake.token_requests if r.grant_type == "refresh_token"]
    assert len(refreshes) == 1
    assert set(got) == {books.fake.issued[1]["access_token"]}
    assert books.stored(created["id"])["refresh_token"] in books.fake.live_refresh_tokens()


def test_a_config_from_another_process_catches_up_through_the_store(books: World) -> None:
    created = books.connect()
    books.expire(created["id"])
    here = connector_service._saved_config(books.database, books.vault, created["id"])[1]
    there = connector_service._saved_config(books.database, books.vault, created["id"])[1]
    assert isinstance(there.save_secrets, TokenStore)
    token = tokens.bearer(here, "quickbooks")
    tokens.forget_rotations()  # the other process never saw this refresh
    assert tokens.bearer(there, "quickbooks") == token
    assert books.fake.refreshes == 1


def test_a_stale_sync_config_catches_up_in_this_process(books: World) -> None:
    created = books.connect()
    books.expire(created["id"])
    first, second = books.sync_config(created["id"]), books.sync_config(created["id"])
    token = tokens.bearer(first, "quickbooks")
    assert tokens.bearer(second, "quickbooks") == token
    assert second["refresh_token"] == first["refresh_token"]
    assert books.fake.refreshes == 1


def test_renewed_tokens_are_saved_before_any_call_uses_them(books: World) -> None:
    """Whenever the API sees a token, the store already holds it and a live refresh token.

    So a process killed at any moment after the refresh leaves the newest
    refresh token in the store.
    """
    created = books.connect()
    books.expire(created["id"])
    seen: list[str] = []

    def check(access_token: str) -> None:
        stored = books.stored(created["id"])
        assert stored["access_token"] == access_token
        assert stored["refresh_token"] in books.fake.live_refresh_tokens()
        seen.append(access_token)

    books.fake.on_api_request = check
    result = sync_connector(books.database, books.vault, created["id"])
    assert result.status is SyncStatus.COMPLETE, result.error
    assert books.fake.refreshes == 1
    assert seen
    assert set(seen) == {books.fake.issued[1]["access_token"]}


def test_a_failed_save_leaves_the_previous_grant_whole_and_unused(
    books: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = books.connect()
    books.expire(created["id"])
    before = books.stored(created["id"])
    encrypt = Vault.encrypt

    def failing(self: Vault, plaintext: str, context: str) -> str:
        if context.endswith("/refresh_token"):
            raise OSError("disk full")
        return encrypt(self, plaintext, context)

    monkeypatch.setattr(Vault, "encrypt", failing)
    config = books.sync_config(created["id"])
    with pytest.raises(ConnectorError, match="could not be saved") as raised:
        tokens.bearer(config, "quickbooks")
    assert not isinstance(raised.value, AuthError)
    # One transaction: not the new access token beside the old refresh token.
    assert books.stored(created["id"]) == before
    assert config["access_token"] == before["access_token"]
    assert books.fake.issued[1]["access_token"] not in str(config.values)
    assert not any(path == "/api/orders" for _, path in books.fake.api_requests)


def test_invalid_grant_needs_reconnect_and_reconnect_brings_it_back(books: World) -> None:
    created = books.connect()
    connector_service.update_connector(
        books.database,
        books.vault,
        created["id"],
        schedule={"kind": "interval", "every": 2, "unit": "hours"},
    )
    assert sync_connector(books.database, books.vault, created["id"]).status is SyncStatus.COMPLETE
    before = books.connector(created["id"])
    lines = line_count(books)

    books.fake.revoke_all()  # the company disconnected the app, or 100 days passed
    books.expire(created["id"])
    failed = sync_connector(books.database, books.vault, created["id"])
    assert failed.status is SyncStatus.FAILED
    broken = books.connector(created["id"])
    assert broken.status is ConnectorStatus.NEEDS_RECONNECT
    assert "invalid_grant" in (broken.status_message or "")
    assert "reconnect the connector" in (broken.status_message or "")

    authorization = books.start(connector_id=created["id"])
    page = browse(authorization.url)
    assert page.status_code == 200
    assert "signed in to QuickBooks Online (Fake Trading Co) again" in page.text
    assert service.poll(books.database, authorization.state).status == "complete"
    healed = books.connector(created["id"])
    assert healed.status is ConnectorStatus.HEALTHY
    assert healed.status_message is None
    assert (healed.field_mapping, healed.schedule, healed.cursor, healed.config) == (
        before.field_mapping,
        before.schedule,
        before.cursor,
        before.config,
    )
    assert books.stored(created["id"])["access_token"] == books.fake.issued[-1]["access_token"]
    assert line_count(books) == lines
    assert sync_connector(books.database, books.vault, created["id"]).status is SyncStatus.COMPLETE
    assert line_count(books) == lines
    assert [c["id"] for c in connector_service.list_connectors(books.database)] == [created["id"]]


def test_reconnect_to_another_company_is_refused(books: World) -> None:
    created = books.connect()
    connector_service.update_connector(
        books.database, books.vault, created["id"], values={"realm_id": "123"}
    )
    before = books.stored(created["id"])
    authorization = books.start(connector_id=created["id"])
    page = browse(authorization.url)
    assert page.status_code == 400
    assert "another account" in page.text
    assert books.stored(created["id"]) == before
    assert books.connector(created["id"]).config["realm_id"] == "123"


def test_a_token_endpoint_outage_is_retryable(books: World) -> None:
    created = books.connect()
    books.expire(created["id"])
    books.fake.fail_token_endpoint(1, status=503)
    config = books.sync_config(created["id"])
    with pytest.raises(RetryableError, match="HTTP 503"):
        tokens.bearer(config, "quickbooks")
    assert books.fake.refreshes == 0
    # The HTTP client retries it like any transient failure of the source.
    books.fake.fail_token_endpoint(1, status=503)
    result = sync_connector(books.database, books.vault, created["id"])
    assert result.status is SyncStatus.COMPLETE, result.error
    assert books.fake.refreshes == 1


def test_an_unsaved_configuration_does_not_burn_the_refresh_token(books: World) -> None:
    created = books.connect()
    stored = books.stored(created["id"])
    config = SourceConfig(
        values={**stored, "token_expires_at": "2020-01-01T00:00:00+00:00"}, connector_id=None
    )
    with pytest.raises(ConnectorError, match="save the connector"):
        tokens.bearer(config, "quickbooks")
    assert books.fake.token_requests[-1].grant_type == "authorization_code"


def test_refreshing_without_client_credentials_says_what_to_set(
    books: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = books.connect()
    books.expire(created["id"])
    monkeypatch.delenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_ID")
    monkeypatch.delenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_SECRET")
    result = sync_connector(books.database, books.vault, created["id"])
    assert result.status is SyncStatus.FAILED
    assert "ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_ID" in (result.error or "")


def test_shopify_offline_token_without_expiry_is_never_refreshed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect_world(database, monkeypatch, "shopify") as world:
        spec = PROVIDERS["shopify"]
        monkeypatch.setitem(PROVIDERS, "shopify", dataclasses.replace(spec, token_params={}))
        created = world.connect()
        stored = world.stored(created["id"])
        assert set(stored) == {"access_token"}
        config = world.sync_config(created["id"])
        assert tokens.bearer(config, "shopify") == stored["access_token"]
        with pytest.raises(AuthError, match="no refresh token"):
            tokens.refresh(config, "shopify")
        assert [r.grant_type for r in world.fake.token_requests] == ["authorization_code"]
        assert sync_connector(database, world.vault, created["id"]).status is SyncStatus.COMPLETE


def test_shopify_expiring_token_refreshes_at_the_shop(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect_world(database, monkeypatch, "shopify") as world:
        created = world.connect()
        world.expire(created["id"])
        result = sync_connector(database, world.vault, created["id"])
        assert result.status is SyncStatus.COMPLETE, result.error
        refresh = world.fake.token_requests[-1]
        assert (refresh.grant_type, refresh.client_auth) == ("refresh_token", "post")
        assert world.stored(created["id"])["refresh_token"] in world.fake.live_refresh_tokens()


class _LateStore(TokenStore):
    """A store read a moment before another process saved its refresh: the first load is old."""

    def __init__(self, *args: object, stale: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stale: dict[str, str] | None = stale

    def load(self) -> dict[str, str]:
        stale, self.stale = self.stale, None
        return stale if stale is not None else super().load()


def test_a_rotation_by_a_process_without_the_lock_is_taken_over(books: World) -> None:
    created = books.connect()
    books.expire(created["id"])
    before = books.stored(created["id"])
    # Another process (a sync, whose config does not take the store's lock) refreshes...
    elsewhere = tokens.bearer(books.sync_config(created["id"]), "quickbooks")
    tokens.forget_rotations()
    # ...while this one had read the store just before: it spends the dead refresh token.
    store = _LateStore(books.database, books.vault, created["id"], stale=before)
    here = SourceConfig(values={**before}, connector_id=created["id"], save_secrets=store)
    assert tokens.bearer(here, "quickbooks") == elsewhere
    assert [r.error for r in books.fake.token_requests if r.grant_type == "refresh_token"] == [
        None,
        "invalid_grant",
    ]
    assert books.stored(created["id"])["refresh_token"] in books.fake.live_refresh_tokens()


def test_a_token_store_for_a_sync_saves_every_field_a_probe_only_tokens(books: World) -> None:
    created = books.connect()
    TokenStore(books.database, books.vault, created["id"])(
        {"refresh_token": "rt-from-a-probe-0001", "other_secret": "not-from-a-probe"}
    )
    assert books.stored(created["id"])["refresh_token"] == "rt-from-a-probe-0001"
    assert "other_secret" not in books.stored(created["id"])
    TokenStore(books.database, books.vault, created["id"], fields=None)(
        {"other_secret": "from-a-sync-000001", "token_expires_at": None}
    )
    stored = books.stored(created["id"])
    assert stored["other_secret"] == "from-a-sync-000001"
    assert "token_expires_at" not in stored
