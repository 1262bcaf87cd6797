"""``/api/v1/runs``: the run-completed trigger, idempotent starts, one run, safety stock."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.store.models import ForecastRun
from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world
any_world = api_support.any_world


def ids(response) -> list[int]:
    return [item["id"] for item in response.get_json()]


def test_runs_are_listed_newest_first_without_other_organisations(any_world: World) -> None:
    response = any_world.get("/api/v1/runs")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    w = any_world.ids
    assert ids(response) == [w["r4"], w["r3"], w["r2"], w["r1"]]
    assert w["r_other"] not in ids(response)


def test_completed_runs_since_compares_the_completion_time(any_world: World) -> None:
    w = any_world.ids
    complete = any_world.get("/api/v1/runs?status=complete")
    assert ids(complete) == [w["r2"], w["r1"]]
    assert {run["status"] for run in complete.get_json()} == {"complete"}
    # r2 was created at 12:00 and completed at 13:00; only completion counts.
    after_creation = any_world.get("/api/v1/runs?status=complete&since=2025-03-01T12:30:00Z")
    assert ids(after_creation) == [w["r2"]]
    after_completion = any_world.get("/api/v1/runs?status=complete&since=2025-03-01T13:00:00Z")
    assert after_completion.get_json() == []


def test_since_takes_offsets_naive_times_dates_and_a_plus_sent_unencoded(world: World) -> None:
    w = world.ids
    base = "/api/v1/runs?status=complete&since="
    same_instant = [
        "2025-03-01T13:30:00%2B01:00",  # 12:30 UTC
        "2025-03-01T13:30:00 01:00",  # the same with '+' arrived as a space
        "2025-03-01T12:30:00",  # no offset: UTC
        "2025-03-01T12:30:00.000Z",
    ]
    for since in same_instant:
        assert ids(world.get(base + since)) == [w["r2"]], since
    assert ids(world.get(base + "2025-03-01")) == [w["r2"]]
    assert ids(world.get(base + "2025-02-01")) == [w["r2"], w["r1"]]


def test_run_items_carry_iso_timestamps_with_an_offset(world: World) -> None:
    run = world.get(f"/api/v1/runs/{world.ids['r3']}").get_json()
    assert run["status"] == "failed"
    assert run["error"] == "No demand lines."
    assert run["created_at"].endswith("+00:00")
    assert run["completed_at"] == "2025-03-02T12:05:00+00:00"
    assert run["duration_seconds"] == 300.0


def test_post_queues_a_run_answers_202_and_wakes_the_worker(world: World) -> None:
    response = world.post("/api/v1/runs", json={"horizon": 8})
    assert response.status_code == 202
    run = response.get_json()
    assert run["status"] == "queued"
    assert run["horizon"] == 8
    assert run["trigger"] == "api"
    assert run["workspace_id"] == world.ids["main"]
    assert response.headers["Location"] == f"http://localhost/api/v1/runs/{run['id']}"
    assert world.woken == [run["id"]]
    assert world.get(f"/api/v1/runs/{run['id']}").get_json() == run


def test_post_without_a_body_uses_the_workspace_defaults(world: World) -> None:
    response = world.post("/api/v1/runs")
    assert response.status_code == 202
    assert response.get_json()["horizon"] == 12  # the workspace's default horizon
    nulls = world.post("/api/v1/runs", json={"horizon": None, "workspace_id": None})
    assert nulls.status_code == 202
    assert nulls.get_json()["horizon"] == 12


def test_a_whole_number_written_as_a_float_is_a_whole_number(world: World) -> None:
    response = world.post("/api/v1/runs", json={"horizon": 6.0})
    assert response.status_code == 202
    assert response.get_json()["horizon"] == 6


def test_post_in_another_workspace_of_the_organisation(world: World) -> None:
    response = world.post("/api/v1/runs", json={"workspace_id": world.ids["second"]})
    assert response.status_code == 202
    assert response.get_json()["workspace_id"] == world.ids["second"]


def test_post_cannot_start_a_run_in_another_organisations_workspace(world: World) -> None:
    response = world.post("/api/v1/runs", json={"workspace_id": world.ids["other_ws"]})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert world.woken == []


def test_a_retried_request_with_the_same_idempotency_key_starts_one_run(any_world: World) -> None:
    headers = {"Idempotency-Key": "zap-run-7f3a"}
    first = any_world.post("/api/v1/runs", json={"horizon": 4}, headers=headers)
    again = any_world.post("/api/v1/runs", json={"horizon": 4}, headers=headers)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert any_world.woken == [first.get_json()["id"]]
    other = any_world.post("/api/v1/runs", headers={"Idempotency-Key": "zap-run-8000"})
    assert other.status_code == 202
    assert other.get_json()["id"] != first.get_json()["id"]


def test_concurrent_retries_with_one_key_still_start_one_run(world: World) -> None:
    headers = {**world.auth("write"), "Idempotency-Key": "burst"}

    def post(_: int) -> int:
        response = world.app.test_client().post("/api/v1/runs", headers=headers)
        assert response.status_code in (200, 202)
        return response.get_json()["id"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        created = set(pool.map(post, range(12)))
    assert len(created) == 1
    with world.database.session() as session:
        count = session.scalar(select(func.count()).where(ForecastRun.idempotency_key == "burst"))
    assert count == 1


def test_post_refuses_bad_bodies_and_starts_nothing(world: World) -> None:
    cases = [
        ({"json": {"horizon": 0}}, 400, "horizon"),
        ({"json": {"horizon": 521}}, 400, "horizon"),
        ({"json": {"horizon": "12"}}, 400, "horizon"),
        ({"json": {"horizon": True}}, 400, "horizon"),
        ({"json": {"horizon": 4.5}}, 400, "horizon"),
        ({"json": {"horizn": 4}}, 400, "horizn"),
        ({"json": [1, 2]}, 400, "JSON object"),
        ({"data": "{not json", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": b"\xff\xfe{}", "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": "[" * 50_000, "content_type": "application/json"}, 400, "not valid JSON"),
        ({"data": "horizon=4", "content_type": "application/x-www-form-urlencoded"}, 415, "json"),
    ]
    for kwargs, status, words in cases:
        response = world.post("/api/v1/runs", **kwargs)
        assert response.status_code == status, (kwargs, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert words in response.get_json()["detail"]
    assert world.woken == []


def test_post_refuses_a_body_over_the_size_limit(world: World) -> None:
    body = '{"horizon": 4, "pad": "' + "x" * 70_000 + '"}'
    response = world.post("/api/v1/runs", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 413
    assert world.woken == []


def test_post_refuses_a_bad_idempotency_key(world: World) -> None:
    response = world.post("/api/v1/runs", headers={"Idempotency-Key": "k" * 201})
    assert response.status_code == 400
    assert response.get_json()["invalid_params"][0]["name"] == "Idempotency-Key"


def test_unknown_and_foreign_runs_are_not_found(any_world: World) -> None:
    for run_id in (99_999, any_world.ids["r_other"]):
        response = any_world.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 404
        assert response.get_json()["detail"] == f"No forecast run with id {run_id}."
    # Ids beyond what the store can hold are not found either (not a 500).
    for path in ("/api/v1/runs/99999999999999999999", "/api/v1/runs/0", "/api/v1/runs/abc"):
        response = any_world.get(path)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_safety_stock_of_a_series_prefers_the_cross_validated_method(any_world: World) -> None:
    w = any_world.ids
    response = any_world.get(f"/api/v1/runs/{w['r2']}/safety-stock/{w['s1']}")
    assert response.status_code == 200
    stock = response.get_json()
    assert stock["method"] == "cv_sigma"
    assert stock["safety_stock"] == 5.25
    assert stock["reorder_point"] == 25.25
    assert stock["service_level"] == 0.95
    assert stock["lead_time_periods"] == 2.0
    assert stock["lead_time_days"] == 14
    assert stock["inputs"]["z"] == 1.645
    assert [alt["method"] for alt in stock["alternatives"]] == ["forecast_quantile"]
    assert stock["alternatives"][0]["safety_stock"] == 6.5
    only = any_world.get(f"/api/v1/runs/{w['r2']}/safety-stock/{w['s2']}").get_json()
    assert only["method"] == "forecast_quantile"
    assert only["alternatives"] == []


def test_safety_stock_errors(world: World) -> None:
    w = world.ids
    cases = [
        (f"/api/v1/runs/{w['r4']}/safety-stock/{w['s1']}", 409, "queued"),
        (f"/api/v1/runs/{w['r3']}/safety-stock/{w['s1']}", 409, "failed"),
        (f"/api/v1/runs/{w['r1']}/safety-stock/{w['s1']}", 404, "no safety stock"),
        (f"/api/v1/runs/{w['r2']}/safety-stock/{w['s3']}", 404, "no safety stock"),
        (f"/api/v1/runs/{w['r2']}/safety-stock/{w['s_other']}", 404, "No series"),
        (f"/api/v1/runs/{w['r_other']}/safety-stock/{w['s1']}", 404, "No forecast run"),
        (f"/api/v1/runs/99999/safety-stock/{w['s1']}", 404, "No forecast run"),
    ]
    for path, status, words in cases:
        response = world.get(path)
        assert response.status_code == status, (path, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert words in response.get_json()["detail"], path
