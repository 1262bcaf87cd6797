"""``/api/v1/series``: the trend-changed trigger, one series, and a series' forecast."""

from __future__ import annotations

from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world
any_world = api_support.any_world


def ids(response) -> list[int]:
    return [item["id"] for item in response.get_json()]


def test_series_newest_first_and_filtered_by_sku_and_location(any_world: World) -> None:
    w = any_world.ids
    assert ids(any_world.get("/api/v1/series")) == [w["s3"], w["s2"], w["s1"]]
    assert ids(any_world.get("/api/v1/series?sku=SKU-2")) == [w["s2"]]
    assert ids(any_world.get("/api/v1/series?location=north")) == [w["s2"]]
    assert ids(any_world.get("/api/v1/series?sku=SKU-2&location=default")) == []
    assert ids(any_world.get("/api/v1/series?sku=SECRET-SKU")) == []


def test_trend_changed_trigger_lists_latest_change_first(any_world: World) -> None:
    w = any_world.ids
    response = any_world.get("/api/v1/series?trend_changed_since=2025-03-01T00:00:00Z")
    assert ids(response) == [w["s2"], w["s1"]]
    latest = response.get_json()[0]
    assert latest["trend"] == "down"
    assert latest["trend_changed_at"] == "2025-03-03T12:00:00+00:00"
    assert latest["trend_change_id"] == f"{w['s2']}@2025-03-03T12:00:00+00:00"
    later = any_world.get("/api/v1/series?trend_changed_since=2025-03-02T12:00:00Z")
    assert ids(later) == [w["s2"]]


def test_one_series(world: World) -> None:
    series = world.get(f"/api/v1/series/{world.ids['s2']}").get_json()
    assert series["sku"] == "SKU-2"
    assert series["service_level"] == 0.98
    assert series["lead_time_days"] == 7
    assert series["last_run_id"] == world.ids["r2"]
    for series_id in (world.ids["s_other"], 99_999):
        response = world.get(f"/api/v1/series/{series_id}")
        assert response.status_code == 404
        assert response.get_json()["detail"] == f"No series with id {series_id}."


def test_forecast_of_the_latest_complete_run(any_world: World) -> None:
    w = any_world.ids
    response = any_world.get(f"/api/v1/series/{w['s1']}/forecast")
    assert response.status_code == 200
    forecast = response.get_json()
    assert forecast["run_id"] == w["r2"]
    assert forecast["model"] == "AutoARIMA"
    assert forecast["generated_at"] == "2025-03-01T13:00:00+00:00"
    assert forecast["periods"][0] == {
        "period_start": "2025-03-03",
        "point": 12.0,
        "lo80": 10.0,
        "hi80": 14.0,
        "lo95": 8.0,
        "hi95": 16.0,
    }
    assert [p["period_start"] for p in forecast["periods"]] == [
        "2025-03-03",
        "2025-03-10",
        "2025-03-17",
    ]


def test_forecast_of_a_named_run(world: World) -> None:
    w = world.ids
    forecast = world.get(f"/api/v1/series/{w['s1']}/forecast?run_id={w['r1']}").get_json()
    assert forecast["run_id"] == w["r1"]
    assert forecast["model"] == "AutoETS"
    assert forecast["periods"][0]["point"] == 10.0


def test_forecast_errors(world: World) -> None:
    w = world.ids
    s1 = f"/api/v1/series/{w['s1']}/forecast"
    cases = [
        (f"{s1}?run_id={w['r4']}", 409, "queued"),
        (f"{s1}?run_id={w['r3']}", 409, "failed"),
        (f"{s1}?run_id={w['r_other']}", 404, "No forecast run"),
        (f"{s1}?run_id=99999", 404, "No forecast run"),
        (f"/api/v1/series/{w['s2']}/forecast?run_id={w['r1']}", 404, "did not forecast"),
        (f"/api/v1/series/{w['s3']}/forecast", 404, "no forecast yet"),
        (f"/api/v1/series/{w['s_other']}/forecast", 404, "No series"),
        (f"{s1}?run_id=abc", 400, "whole number"),
        (f"{s1}?run_id=99999999999999", 400, "whole number"),
    ]
    for path, status, words in cases:
        response = world.get(path)
        assert response.status_code == status, (path, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert words in response.get_json()["detail"], path


def test_text_filters_refuse_control_characters_and_overlong_values(any_world: World) -> None:
    for query in ("sku=a%00b", "location=" + "x" * 201):
        response = any_world.get(f"/api/v1/series?{query}")
        assert response.status_code == 400, query
