"""Authentication, scopes, the plan gate and the rate limit on every ``/api/v1`` route."""

from __future__ import annotations

import pytest

from embedded_api.auth import KeyRegistry
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
