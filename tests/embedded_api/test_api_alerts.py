"""``/api/v1/alerts``: the demand-alert trigger and marking alerts read."""

from __future__ import annotations

from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world
any_world = api_support.any_world


def ids(response) -> list[int]:
    return [item["id"] for item in response.get_json()]


def test_alerts_newest_first_with_their_series_and_no_other_organisation(any_world: World) -> None:
    w = any_world.ids
    response = any_world.get("/api/v1/alerts")
    assert response.status_code == 200
    assert ids(response) == [w["a_read"], w["a_drop"], w["a_spike"]]
    drop = response.get_json()[1]
    assert drop["sku"] == "SKU-2"
    assert drop["location"] == "north"
    assert drop["severity"] == "critical"
    assert drop["details"] == {"actual": 0.0}
    assert drop["created_at"] == "2025-03-01T13:00:00+00:00"
    shift = response.get_json()[0]
    assert shift["series_id"] is None
    assert shift["sku"] is None


def test_unread_and_since_filters(any_world: World) -> None:
    w = any_world.ids
    assert ids(any_world.get("/api/v1/alerts?unread=true")) == [w["a_drop"], w["a_spike"]]
    assert ids(any_world.get("/api/v1/alerts?unread=false")) == [w["a_read"]]
    since = "/api/v1/alerts?unread=true&since=2025-03-01T00:00:00%2B00:00"
    assert ids(any_world.get(since)) == [w["a_drop"]]


def test_mark_read_is_idempotent_and_keeps_the_first_read_time(any_world: World) -> None:
    alert_id = any_world.ids["a_drop"]
    first = any_world.post(f"/api/v1/alerts/{alert_id}/read")
    assert first.status_code == 200
    assert first.get_json()["read"] is True
    read_at = first.get_json()["read_at"]
    assert read_at is not None
    again = any_world.post(f"/api/v1/alerts/{alert_id}/read")
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.get_json()["read_at"] == read_at
    unread = any_world.get("/api/v1/alerts?unread=true")
    assert alert_id not in ids(unread)


def test_mark_read_of_unknown_or_foreign_alerts_is_not_found(world: World) -> None:
    for alert_id in (99_999, world.ids["a_other"]):
        response = world.post(f"/api/v1/alerts/{alert_id}/read")
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["detail"] == f"No alert with id {alert_id}."
    other = world.get("/api/v1/alerts", key="other")
    assert ids(other) == [world.ids["a_other"]]


def test_bad_filters_are_refused(world: World) -> None:
    for query, name in [
        ("unread=maybe", "unread"),
        ("since=yesterday", "since"),
        ("since=2025-13-01", "since"),
        ("since=0001-01-01T00:00:00%2B01:00", "since"),
    ]:
        response = world.get(f"/api/v1/alerts?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["invalid_params"][0]["name"] == name
