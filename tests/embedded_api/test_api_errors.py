"""Every error is application/problem+json with one shape; nothing answers 500."""

from __future__ import annotations

from sqlalchemy import text

from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def test_the_problem_shape_is_pinned(world: World) -> None:
    response = world.get("/api/v1/runs?limit=0&since=nope")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) == PROBLEM_KEYS | {"invalid_params"}
    assert body["type"] == "about:blank"
    assert body["title"] == "Bad Request"
    assert body["status"] == 400
    assert body["invalid_params"] == [
        {"name": "since", "reason": body["invalid_params"][0]["reason"]},
        {"name": "limit", "reason": "expected a whole number from 1 to 500"},
    ]
    assert "since" in body["detail"]
    assert "limit" in body["detail"]


def test_limits_out_of_range_are_refused(world: World) -> None:
    for limit in ("0", "-1", "501", "1000000000000000000000", "ten", "1.5"):
        response = world.get(f"/api/v1/series?limit={limit}")
        assert response.status_code == 400, limit
        assert response.get_json()["invalid_params"][0]["name"] == "limit"


def test_a_parameter_given_twice_is_refused(world: World) -> None:
    response = world.get("/api/v1/runs?status=complete&status=failed")
    assert response.status_code == 400
    assert response.get_json()["invalid_params"] == [
        {"name": "status", "reason": "given more than once"}
    ]


def test_unknown_status_is_refused_with_the_choices(world: World) -> None:
    response = world.get("/api/v1/runs?status=done")
    assert response.status_code == 400
    assert "queued, running, complete, failed" in response.get_json()["detail"]


def test_empty_values_count_as_absent(world: World) -> None:
    response = world.get("/api/v1/runs?since=&status=&limit=")
    assert response.status_code == 200
    assert len(response.get_json()) == 4


def test_unknown_routes_and_methods(world: World) -> None:
    missing = world.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    wrong = world.client.delete("/api/v1/runs", headers=world.auth("both"))
    assert wrong.status_code == 405
    assert wrong.mimetype == "application/problem+json"
    assert set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_a_store_failure_is_503_not_a_trace(world: World) -> None:
    with world.database.engine.begin() as connection:
        connection.execute(text("DROP TABLE alerts"))
    response = world.get("/api/v1/alerts")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    assert "alerts" not in response.get_json()["detail"]


def test_an_unknown_parameter_is_refused_by_name(world: World) -> None:
    response = world.get("/api/v1/runs?statu=complete")
    assert response.status_code == 400
    assert response.get_json()["invalid_params"] == [
        {"name": "statu", "reason": "unknown parameter"}
    ]


def test_a_store_failure_on_the_forecast_read_is_503_too(world: World) -> None:
    with world.database.engine.begin() as connection:
        connection.execute(text("DROP TABLE forecasts"))
    response = world.get(f"/api/v1/series/{world.ids['s1']}/forecast")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
