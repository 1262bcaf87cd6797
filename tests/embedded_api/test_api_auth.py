"""Authentication, scopes, the plan gate and the rate limit on every ``/api/v1`` route."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.services import api_keys
from app.store.models import ApiKey
from embedded_api import auth
from embedded_api.auth import KEY_CACHE_SECONDS, LAST_USED_EVERY, KeyRegistry
from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world

ROUTES = [
    ("GET", "/api/v1/runs", "read"),
    ("POST", "/api/v1/runs", "write"),
    ("GET", "/api/v1/runs/{r2}", "read"),
    ("GET", "/api/v1/runs/{r2}/safety-stock/{s1}", "read"),
    ("GET", "/api/v1/alerts", "read"),
    ("POST", "/api/v1/alerts/{a_drop}/read", "write"),
    ("GET", "/api/v1/series", "read"),
    ("GET", "/api/v1/series/{s1}", "read"),
    ("GET", "/api/v1/series/{s1}/forecast", "read"),
    ("GET", "/api/v1/connectors", "read"),
    ("GET", "/api/v1/connectors/{connector}", "read"),
]


def call(world: World, method: str, path: str, headers: dict[str, str]):
    url = path.format(**world.ids)
    response = world.client.open(url, method=method, headers=headers)
    return world.conforms(response, method, url)


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES)
def test_every_route_needs_a_valid_key_with_its_scope(
    world: World, method: str, path: str, scope: str
) -> None:
    missing = call(world, method, path, {})
    assert missing.status_code == 401
    assert missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    for bad in (f"Bearer {world.keys['revoked']}", "Bearer apx_nope_nope", "Basic dTpw"):
        assert call(world, method, path, {"Authorization": bad}).status_code == 401, bad

    lacking = "write" if scope == "read" else "read"
    refused = call(world, method, path, world.auth(lacking))
    assert refused.status_code == 403
    assert refused.get_json()["required_scope"] == scope
    assert call(world, method, path, world.auth("odata")).status_code == 403

    starter = call(world, method, path, world.auth("starter"))
    assert starter.status_code == 403
    assert starter.get_json()["type"] == "urn:accupredix:problem:plan-required"

    allowed = call(world, method, path, world.auth(scope))
    assert allowed.status_code in (200, 202)


def test_the_key_is_not_taken_from_the_query_string(world: World) -> None:
    response = world.client.get(f"/api/v1/runs?api_key={world.keys['read']}")
    assert response.status_code == 401


def test_auth_is_checked_before_the_input(world: World) -> None:
    response = world.client.get("/api/v1/runs?since=garbage")
    assert response.status_code == 401


def test_a_key_over_its_rate_answers_429_with_retry_after(world: World) -> None:
    assert world.app is not None
    world.app.config["KEY_REGISTRY"] = KeyRegistry(rate=0.5, burst=3)
    statuses = [world.get("/api/v1/runs").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = world.get("/api/v1/runs")
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1


def test_the_openapi_document_needs_no_key(world: World) -> None:
    response = world.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"] == "3.1.0"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(world: World, name: str) -> ApiKey:
    prefix = world.keys[name][: world.keys[name].index("_", 4)]
    with world.database.session() as session:
        return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one()


def test_a_revoked_key_stops_working_within_the_verification_window(world: World) -> None:
    assert world.app is not None
    clock = Clock()
    world.app.config["KEY_REGISTRY"] = KeyRegistry(clock=clock)
    assert world.get("/api/v1/runs").status_code == 200
    with world.database.session() as session:
        api_keys.revoke_key(session, _key(world, "read").id)
    # The verified key is reused for KEY_CACHE_SECONDS, and not a moment longer.
    clock.now += KEY_CACHE_SECONDS - 0.5
    assert world.get("/api/v1/runs").status_code == 200
    clock.now += 0.5
    refused = world.get("/api/v1/runs")
    assert refused.status_code == 401
    assert refused.get_json()["detail"] == "The API key is not valid or was revoked."


def test_last_use_is_written_at_most_once_per_interval(world: World) -> None:
    assert world.app is not None
    clock = Clock()
    world.app.config["KEY_REGISTRY"] = KeyRegistry(clock=clock)
    assert _key(world, "read").last_used_at is None
    assert world.get("/api/v1/runs").status_code == 200
    first = _key(world, "read").last_used_at
    assert first is not None
    for _ in range(5):
        clock.now += LAST_USED_EVERY / 10
        assert world.get("/api/v1/runs").status_code == 200
    assert _key(world, "read").last_used_at == first
    clock.now += LAST_USED_EVERY / 2
    assert world.get("/api/v1/runs").status_code == 200
    later = _key(world, "read").last_used_at
    assert later is not None
    assert later > first
    assert later - first < dt.timedelta(minutes=5)


def test_keys_tried_at_random_do_not_grow_the_registry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.app is not None
    monkeypatch.setattr(auth, "MAX_REMEMBERED_KEYS", 20)
    registry = KeyRegistry()
    world.app.config["KEY_REGISTRY"] = registry
    for n in range(50):
        headers = {"Authorization": f"Bearer apx_guess{n}_{'x' * 30}"}
        assert world.client.get("/api/v1/runs", headers=headers).status_code == 401
    assert len(registry._verified) <= 20
    # A real key still works, and is remembered.
    assert world.get("/api/v1/runs").status_code == 200
