"""Connect end to end: browser, fake provider, callback on the embedded server, store, sync."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select, text, update

from app.oauth.flow import CLAIMED, COMPLETE, FAILED, OAuthState
from app.redaction import MASK
from app.services import connectors as connector_service
from app.services import oauth as service
from app.services.errors import InvalidInput, NotFound, ServiceError
from app.store.db import Database
from app.store.models import ConnectorStatus, DemandLine, SyncStatus
from app.store.types import utcnow
from app.sync.engine import sync_connector
from tests.app.oauth.presets import MAPPING
from tests.app.oauth.support import SHOP, World, connect_world, get
from tests.fakes.oauth_server import CLIENT_SECRET, COMPANY, REALM_ID, browse, order, sign


@pytest.fixture
def books(database: Database, monkeypatch: pytest.MonkeyPatch):
    with connect_world(database, monkeypatch, "quickbooks") as world:
        yield world


def raw_secrets(database: Database, connector_id: int) -> str:
    """The connector's secrets column as the database holds it."""
    with database.engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT secrets FROM connectors WHERE id = :id"), {"id": connector_id}
            ).scalar_one()
        )


def test_connect_signs_in_stores_tokens_encrypted_and_the_first_sync_is_right(
    books: World,
) -> None:
    authorization = books.start()
    assert authorization.url.startswith(books.fake.url + "/oauth2/authorize?")
    query = parse_qs(urlsplit(authorization.url).query)
    assert query["state"] == [authorization.state]
    assert query["scope"] == ["com.intuit.quickbooks.accounting"]
    assert query["redirect_uri"] == [f"{books.server.url}/oauth/quickbooks/callback"]

    page = browse(authorization.url)
    assert page.status_code == 200
    assert page.url.startswith(f"{books.server.url}/oauth/quickbooks/callback?")
    assert f"Connected to QuickBooks Online ({COMPANY})" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    polled = service.poll(books.database, authorization.state)
    assert (polled.status, polled.account, polled.choices) == (COMPLETE, COMPANY, [])

    created = service.add_connected(
        books.database, books.vault, authorization.state, name="Books", mapping=MAPPING
    )
    issued = books.fake.issued[0]
    assert created["config"]["realm_id"] == REALM_ID
    assert created["config"]["access_token"] == MASK
    assert created["config"]["refresh_token"] == MASK
    assert books.stored(created["id"])["access_token"] == issued["access_token"]
    assert books.stored(created["id"])["refresh_token"] == issued["refresh_token"]
    raw = raw_secrets(books.database, created["id"])
    assert issued["access_token"] not in raw
    assert issued["refresh_token"] not in raw
    # QuickBooks takes the client's credentials by HTTP Basic, and no PKCE.
    (exchange,) = books.fake.token_requests
    assert (exchange.grant_type, exchange.client_auth, exchange.code_verifier) == (
        "authorization_code",
        "basic",
        False,
    )
    assert service.poll(books.database, authorization.state).status == CLAIMED

    result = sync_connector(books.database, books.vault, created["id"])
    assert result.status is SyncStatus.COMPLETE, result.error
    with books.database.session() as session:
        lines = {
            (row.order_id, row.line_id): (row.sku, float(row.quantity), str(row.order_date))
            for row in session.scalars(select(DemandLine))
        }
    expected = {
        (o["id"], line["id"]): (line["sku"], float(line["quantity"]), o["created_at"][:10])
        for o in map(order, range(1, books.fake.orders + 1))
        for line in o["lines"]
    }
    assert lines == expected
    assert books.connector(created["id"]).status is ConnectorStatus.HEALTHY


def test_a_grant_is_saved_once(books: World) -> None:
    authorization = books.start()
    browse(authorization.url)
    service.add_connected(books.database, books.vault, authorization.state, name="One")
    with pytest.raises(InvalidInput, match="already used"):
        service.add_connected(books.database, books.vault, authorization.state, name="Two")
    assert [c["name"] for c in connector_service.list_connectors(books.database)] == ["One"]


def test_saving_with_bad_input_keeps_the_grant_for_a_second_try(books: World) -> None:
    authorization = books.start()
    browse(authorization.url)
    with pytest.raises(InvalidInput, match="name"):
        service.add_connected(books.database, books.vault, authorization.state, name="  ")
    with pytest.raises(InvalidInput, match="mapping"):
        service.add_connected(
            books.database, books.vault, authorization.state, name="Books", mapping={"x": 1}
        )
    assert service.poll(books.database, authorization.state).status == COMPLETE
    created = service.add_connected(
        books.database, books.vault, authorization.state, name="Books", mapping=MAPPING
    )
    assert books.stored(created["id"])["access_token"] == books.fake.issued[0]["access_token"]


def test_a_forged_state_is_refused_and_nothing_is_exchanged(books: World) -> None:
    books.start()
    page = get(f"{books.server.url}/oauth/quickbooks/callback?code=abc&state=forged&realmId=1")
    assert page.status_code == 400
    assert "not started by this AccuPredix installation" in page.text
    assert "Traceback" not in page.text
    assert books.fake.token_requests == []


def test_a_callback_without_state_is_refused(books: World) -> None:
    page = get(f"{books.server.url}/oauth/quickbooks/callback?code=abc")
    assert page.status_code == 400
    assert "no state" in page.text
    assert books.fake.token_requests == []


def test_a_replayed_callback_is_refused(books: World) -> None:
    authorization = books.start()
    page = browse(authorization.url)
    assert page.status_code == 200
    again = get(page.url)
    assert again.status_code == 400
    assert "already used" in again.text
    assert len(books.fake.token_requests) == 1
    # The first sign-in still stands.
    assert service.poll(books.database, authorization.state).status == COMPLETE


def test_an_expired_state_is_refused(books: World) -> None:
    authorization = books.start()
    with books.database.session() as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.state == authorization.state)
            .values(expires_at=utcnow().replace(year=2020))
        )
    page = browse(authorization.url)
    assert page.status_code == 400
    assert "expired" in page.text
    assert books.fake.token_requests == []
    polled = service.poll(books.database, authorization.state)
    assert polled.status == FAILED
    assert "expired" in (polled.error or "")


def test_a_callback_for_another_provider_is_refused(books: World) -> None:
    authorization = books.start()
    page = get(f"{books.server.url}/oauth/xero/callback?code=abc&state={authorization.state}")
    assert page.status_code == 400
    assert books.fake.token_requests == []
    # The state stays usable for the provider it was made for.
    assert browse(authorization.url).status_code == 200


def test_an_unknown_provider_gets_a_plain_page(books: World) -> None:
    page = get(f"{books.server.url}/oauth/myspace/callback?code=abc&state=x")
    assert page.status_code == 404
    assert "Unknown OAuth provider" in page.text
    assert page.headers["Content-Type"].startswith("text/html")


def test_a_cancelled_sign_in_says_so(books: World) -> None:
    authorization = books.start()
    books.fake.deny_next()
    page = browse(authorization.url)
    assert page.status_code == 400
    assert "Sign-in cancelled" in page.text
    polled = service.poll(books.database, authorization.state)
    assert polled.status == FAILED
    assert "cancelled" in (polled.error or "")
    assert books.fake.token_requests == []


def test_a_refused_code_exchange_is_reported(books: World) -> None:
    authorization = books.start()
    first = get(authorization.url)  # the provider redirects with a code
    callback = first.headers["Location"]
    books.fake.revoke_all()
    books.fake._codes.clear()  # the code expired at the provider
    page = get(callback)
    assert page.status_code == 502
    assert "refused the authorisation code" in page.text
    assert service.poll(books.database, authorization.state).status == FAILED


def test_a_provider_outage_during_the_exchange_says_try_again(books: World) -> None:
    authorization = books.start()
    books.fake.fail_token_endpoint(1, status=503)
    page = browse(authorization.url)
    assert page.status_code == 502
    assert "Start Connect again in a moment" in page.text
    assert "<html><body>" not in page.text.split("<p>", 1)[1]


def test_connect_needs_client_credentials(books: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_ID")
    monkeypatch.delenv("ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_SECRET")
    from app.config import load_config

    books.runtime.config = load_config()
    with pytest.raises(ServiceError, match="ACCUPREDIX_OAUTH_QUICKBOOKS_CLIENT_ID"):
        books.start()


def test_secrets_never_reach_the_log(books: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    authorization = books.start()
    page = browse(authorization.url)
    created = service.add_connected(
        books.database, books.vault, authorization.state, name="Books", mapping=MAPPING
    )
    books.expire(created["id"])
    assert sync_connector(books.database, books.vault, created["id"]).status is SyncStatus.COMPLETE
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    values = [code, CLIENT_SECRET, authorization.state]
    for token in books.fake.issued:
        values += [token["access_token"], token["refresh_token"]]
    assert len(books.fake.issued) == 2  # the sign-in's, and the refresh's
    ours = [r for r in caplog.records if not r.name.startswith(("authlib", "tests."))]
    assert any(r.name.startswith("app.oauth") for r in ours)
    for record in ours:
        message = record.getMessage()
        for value in values:
            assert value not in message, (record.name, message)


# -- PKCE and several organisations (Xero) ------------------------------------


def test_pkce_the_verifier_is_stored_encrypted_and_sent(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with connect_world(database, monkeypatch, "xero") as world:
        authorization = world.start()
        query = parse_qs(urlsplit(authorization.url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert len(query["code_challenge"][0]) == 43
        assert "offline_access" in query["scope"][0].split()
        row = world.state_row(authorization.state)
        assert (row.code_verifier or "").startswith("v1.")
        assert browse(authorization.url).status_code == 200
        (exchange,) = world.fake.token_requests
        assert exchange.code_verifier
        assert exchange.status == 200
        assert world.state_row(authorization.state).code_verifier is None


def test_several_organisations_must_be_chosen_never_the_first(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenants = [
        {"tenantId": "11111111-1111-4111-8111-111111111111", "tenantName": "North Ltd"},
        {"tenantId": "22222222-2222-4222-8222-222222222222", "tenantName": "South Ltd"},
    ]
    with connect_world(database, monkeypatch, "xero", tenants=tenants) as world:
        authorization = world.start()
        page = browse(authorization.url)
        assert "choose which organisation" in page.text
        polled = service.poll(database, authorization.state)
        assert polled.choices == [{"id": t["tenantId"], "name": t["tenantName"]} for t in tenants]
        with pytest.raises(InvalidInput, match=r"North Ltd.*South Ltd"):
            service.add_connected(database, world.vault, authorization.state, name="Xero")
        with pytest.raises(InvalidInput, match="not among"):
            service.add_connected(
                database, world.vault, authorization.state, name="Xero", choice="other"
            )
        created = service.add_connected(
            database, world.vault, authorization.state, name="Xero", choice=tenants[1]["tenantId"]
        )
        assert created["config"]["tenant_id"] == tenants[1]["tenantId"]
        assert created["config"]["tenant_name"] == "South Ltd"


# -- Shopify: per-shop endpoints and the signed callback ----------------------


@pytest.fixture
def shop(database: Database, monkeypatch: pytest.MonkeyPatch):
    with connect_world(database, monkeypatch, "shopify") as world:
        yield world


def test_shopify_connect_checks_the_signature_and_asks_for_an_expiring_token(shop: World) -> None:
    authorization = shop.start(shop="Demo-Store")
    assert authorization.url.startswith(f"{shop.fake.url}/shops/{SHOP}/admin/oauth/authorize?")
    assert parse_qs(urlsplit(authorization.url).query)["scope"] == ["read_orders,read_products"]
    page = browse(authorization.url)
    assert page.status_code == 200, page.text
    created = service.add_connected(
        shop.database, shop.vault, authorization.state, name="Shop", mapping=MAPPING
    )
    assert created["config"]["shop"] == SHOP
    (exchange,) = shop.fake.token_requests
    assert (exchange.client_auth, exchange.expiring) == ("post", "1")
    stored = shop.stored(created["id"])
    assert stored["refresh_token"] == shop.fake.issued[0]["refresh_token"]
    assert "token_expires_at" in stored
    assert sync_connector(shop.database, shop.vault, created["id"]).status is SyncStatus.COMPLETE


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "timestamp": str(int(p["timestamp"]) + 1)}, id="changed"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "hmac"}, id="unsigned"),
        pytest.param(lambda p: {**p, "hmac": p["hmac"].upper()[:-1] + "0"}, id="forged"),
    ],
)
def test_shopify_callback_with_a_bad_signature_is_refused(shop: World, tamper) -> None:
    authorization = shop.start()
    location = get(authorization.url).headers["Location"]
    params = dict(parse_qs(urlsplit(location).query, keep_blank_values=True))
    params = {k: v[0] for k, v in params.items()}
    page = get(f"{shop.server.url}/oauth/shopify/callback?{urlencode(tamper(params))}")
    assert page.status_code == 400
    assert "signature does not match" in page.text
    assert shop.fake.token_requests == []
    assert service.poll(shop.database, authorization.state).status == FAILED


def test_shopify_callback_for_another_shop_is_refused(shop: World) -> None:
    authorization = shop.start()
    location = get(authorization.url).headers["Location"]
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    params["shop"] = "other-store.myshopify.com"
    params["hmac"] = sign(params, CLIENT_SECRET)  # signed by Shopify for the other shop
    page = get(f"{shop.server.url}/oauth/shopify/callback?{urlencode(params)}")
    assert page.status_code == 400
    assert "other-store.myshopify.com" in page.text
    assert shop.fake.token_requests == []


def test_shopify_connect_needs_a_valid_shop(shop: World) -> None:
    with pytest.raises(InvalidInput, match=r"myshopify\.com"):
        shop.start(shop="https://example.com/store")
    with pytest.raises(InvalidInput, match=r"myshopify\.com"):
        shop.start(shop="")


def test_the_grant_waits_encrypted_until_saved(books: World) -> None:
    authorization = books.start()
    browse(authorization.url)
    row = books.state_row(authorization.state)
    assert row.result is not None
    issued = books.fake.issued[0]
    assert issued["access_token"] not in row.result
    assert issued["refresh_token"] not in row.result
    assert json.dumps(row.context)  # only plain, non-secret values
    assert issued["access_token"] not in json.dumps(row.context)


def test_the_redirect_uri_is_the_public_url_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import load_config

    assert service.redirect_uri(load_config(), "xero", host="0.0.0.0", port=9001) == (
        "http://127.0.0.1:9001/oauth/xero/callback"
    )
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", "https://forecast.example.com/accupredix/")
    assert service.redirect_uri(load_config(), "XERO", port=9001) == (
        "https://forecast.example.com/accupredix/oauth/xero/callback"
    )


def test_old_authorisations_are_cleaned_up(books: World) -> None:
    old = books.start()
    browse(old.url)  # finished, never saved: its grant waits, encrypted
    with books.database.session() as session:
        session.execute(
            update(OAuthState)
            .where(OAuthState.state == old.state)
            .values(expires_at=utcnow().replace(year=2020))
        )
    books.start()
    with pytest.raises(NotFound):
        service.poll(books.database, old.state)


def test_connect_never_guesses_between_presets(
    books: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.connectors import registry
    from tests.app.oauth.presets import CompanyPreset

    class OtherCompanyPreset(CompanyPreset):
        id = "test_oauth_other_company"

    monkeypatch.setitem(registry._PRESETS, OtherCompanyPreset.id, OtherCompanyPreset)
    with pytest.raises(InvalidInput, match="Several presets sign in with QuickBooks Online"):
        books.start(preset=None)
    with pytest.raises(InvalidInput, match="does not sign in with QuickBooks Online"):
        books.start(preset="test_oauth_tenant")
    assert books.start(preset=OtherCompanyPreset.id).state


def test_connect_options_tell_the_wizard_where_connect_works(books: World) -> None:
    options = {item["preset"]: item for item in service.connect_options(books.runtime.config)}
    company = options["test_oauth_company"]
    assert company["available"] is True
    assert company["provider"] == "quickbooks"
    assert company["redirect_uri"].endswith("/oauth/quickbooks/callback")
    assert options["test_oauth_tenant"]["available"] is False  # no Xero client configured
    assert options["test_oauth_shop"]["per_shop"] is True
    assert "custom_rest" not in options
