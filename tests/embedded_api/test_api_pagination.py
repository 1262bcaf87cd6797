"""Pages of every list: limit, cursor, the Link header, and cursors that do not fit."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import insert

from app.store.models import Alert, Series
from embedded_api.api_v1.pagination import encode_cursor
from tests.embedded_api import api_support
from tests.embedded_api.api_support import T0, World

world = api_support.world
any_world = api_support.any_world

LISTS = [
    "/api/v1/runs",
    "/api/v1/runs?status=complete",
    "/api/v1/alerts",
    "/api/v1/alerts?unread=true",
    "/api/v1/series",
    "/api/v1/series?trend_changed_since=2020-01-01",
    "/api/v1/connectors",
]


def walk(world: World, url: str) -> tuple[list[int], int]:
    """Follow Link headers from ``url``; returns every id seen and the number of pages."""
    seen: list[int] = []
    pages = 0
    while url:
        response = world.get(url)
        assert response.status_code == 200, response.get_json()
        pages += 1
        seen += [item["id"] for item in response.get_json()]
        link = response.headers.get("Link")
        if link is None:
            assert "X-Next-Cursor" not in response.headers
            break
        match = re.fullmatch(r'<http://localhost(/[^>]+)>; rel="next"', link)
        assert match, link
        url = match[1]
        assert f"cursor={response.headers['X-Next-Cursor']}" in url
    return seen, pages


@pytest.mark.parametrize("url", LISTS)
def test_pages_of_one_item_add_up_to_the_whole_list(world: World, url: str) -> None:
    whole = [item["id"] for item in world.get(url).get_json()]
    assert whole
    separator = "&" if "?" in url else "?"
    paged, pages = walk(world, f"{url}{separator}limit=1")
    assert paged == whole
    assert pages == len(whole)


def test_trend_changes_at_the_same_instant_page_without_loss(any_world: World) -> None:
    changed = T0 + dt.timedelta(days=10)
    with any_world.database.session() as session:
        session.execute(
            insert(Series),
            [
                {
                    "workspace_id": any_world.ids["main"],
                    "sku": f"TIE-{n}",
                    "location": "default",
                    "trend": "up",
                    "trend_changed_at": changed,
                }
                for n in range(7)
            ],
        )
    url = "/api/v1/series?trend_changed_since=2025-03-05T00:00:00Z"
    whole = [item["id"] for item in any_world.get(url).get_json()]
    assert len(whole) == 7
    assert whole == sorted(whole, reverse=True)
    paged, pages = walk(any_world, url + "&limit=3")
    assert paged == whole
    assert pages == 3


def test_a_long_list_pages_at_the_default_and_the_largest_limit(world: World) -> None:
    with world.database.session() as session:
        session.execute(
            insert(Alert),
            [
                {
                    "workspace_id": world.ids["main"],
                    "kind": "spike",
                    "severity": "info",
                    "message": f"alert {n}",
                    "details": {},
                    "read": False,
                    "created_at": T0,
                }
                for n in range(1200)
            ],
        )
    first = world.get("/api/v1/alerts")
    assert len(first.get_json()) == 50
    assert "Link" in first.headers
    paged, pages = walk(world, "/api/v1/alerts?limit=500")
    assert pages == 3
    assert len(paged) == len(set(paged)) == 1203


def test_the_next_link_keeps_the_filters(world: World) -> None:
    response = world.get("/api/v1/runs?status=complete&since=2020-01-01&limit=1")
    link = response.headers["Link"]
    assert "status=complete" in link
    assert "since=2020-01-01" in link
    assert "limit=1" in link


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "bm90IGpzb24",  # "not json"
        encode_cursor("alerts", [1]),  # another list's cursor
        encode_cursor("runs", ["1"]),
        encode_cursor("runs", [0]),
        encode_cursor("runs", [2**40]),
        encode_cursor("runs", [1, 2]),
        encode_cursor("series-by-change", ["not a time", 1]),
    ],
)
def test_cursors_that_do_not_fit_are_refused(world: World, cursor: str) -> None:
    for url in ("/api/v1/runs", "/api/v1/series?trend_changed_since=2020-01-01"):
        response = world.get(f"{url}{'&' if '?' in url else '?'}cursor={cursor}")
        assert response.status_code == 400, (url, cursor)
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["invalid_params"][0]["name"] == "cursor"
