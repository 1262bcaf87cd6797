"""``/api/v1/connectors``: status and settings, with secrets masked."""

from __future__ import annotations

from tests.embedded_api import api_support
from tests.embedded_api.api_support import CONNECTOR_SECRET, World

world = api_support.world


def test_connectors_show_status_and_mask_secrets(world: World) -> None:
    response = world.get("/api/v1/connectors")
    assert response.status_code == 200
    assert CONNECTOR_SECRET not in response.get_data(as_text=True)
    (connector,) = response.get_json()
    assert connector["id"] == world.ids["connector"]
    assert connector["status"] == "healthy"
    assert connector["config"] == {"base_url": "https://shop.example.com/api", "token": "********"}


def test_one_connector(world: World) -> None:
    response = world.get(f"/api/v1/connectors/{world.ids['connector']}")
    assert response.status_code == 200
    assert response.get_json()["config"]["token"] == "********"
    assert CONNECTOR_SECRET not in response.get_data(as_text=True)


def test_unknown_and_foreign_connectors_are_not_found(world: World) -> None:
    for connector_id in (world.ids["c_other"], 99_999):
        response = world.get(f"/api/v1/connectors/{connector_id}")
        assert response.status_code == 404
        assert response.get_json()["detail"] == f"No connector with id {connector_id}."


def test_each_organisation_sees_its_own_connectors(world: World) -> None:
    theirs = world.get("/api/v1/connectors", key="other").get_json()
    assert [c["id"] for c in theirs] == [world.ids["c_other"]]
