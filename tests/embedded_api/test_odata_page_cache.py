"""Rendered OData pages: reused while the store is unchanged, never after a commit.

The store's commit marker is read from real SQLite and PostgreSQL stores; the
concurrency test runs the real Waitress server with readers racing a writer.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, update

from app.config import load_config
from app.runtime import Runtime
from app.store.db import Database
from app.store.models import Forecast, Organisation, Plan
from app.vault import Vault
from embedded_api.odata import views
from embedded_api.odata.page_cache import Page, PageCache
from embedded_api.server import EmbeddedServer
from embedded_api.store_version import StoreVersion
from tests.embedded_api.odata_support import World, basic, build_world, feed_app

PAGE = "/odata/Forecasts?$top=5&$select=Id,Yhat"


@pytest.fixture
def any_world(database: Database) -> World:
    return build_world(database)


@pytest.fixture
def world(sqlite_database: Database) -> World:
    return build_world(sqlite_database)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pages actually built (not answered from the cache), by query string."""
    built: list[str] = []
    build = views._build_page

    def counting(entity_set: Any) -> Page:
        built.append(views.request.query_string.decode())
        return build(entity_set)

    monkeypatch.setattr(views, "_build_page", counting)
    return built


def _page(body: bytes) -> Page:
    return Page(body, (("Content-Type", "application/json"),))


# ------------------------------------------------------------------ the cache


def test_a_page_is_kept_until_the_marker_changes() -> None:
    marker = [1]
    cache = PageCache(lambda: marker[0])
    page, version = cache.lookup("a")
    assert page is None
    cache.keep("a", version, _page(b"A1"))
    assert cache.lookup("a")[0] == _page(b"A1")
    marker[0] = 2
    page, version = cache.lookup("a")
    assert page is None
    assert cache.size == 0
    cache.keep("a", version, _page(b"A2"))
    assert cache.lookup("a")[0] == _page(b"A2")


def test_a_page_built_across_a_commit_is_not_kept() -> None:
    marker = [1]
    cache = PageCache(lambda: marker[0])
    _, version = cache.lookup("a")
    # Another request sees the store changed while this page was being built.
    marker[0] = 2
    cache.lookup("b")
    cache.keep("a", version, _page(b"maybe old"))
    assert cache.lookup("a")[0] is None


def test_pages_are_bounded_in_bytes_and_large_ones_pass_through() -> None:
    cache = PageCache(lambda: 1, max_bytes=100, max_page_bytes=40)
    version = cache.lookup("x")[1]
    for key in "abc":
        cache.keep(key, version, _page(key.encode() * 40))
    assert cache.size == 80
    assert cache.lookup("a")[0] is None  # the least recently used went first
    assert cache.lookup("c")[0] is not None
    cache.keep("big", version, _page(b"x" * 41))
    assert cache.lookup("big")[0] is None
    assert cache.size == 80


# ------------------------------------------------------------------ the marker


def test_the_marker_changes_with_a_commit_and_not_with_reads(database: Database) -> None:
    version = StoreVersion(database.engine)
    assert version.available
    first = version.current()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Forecast)) == 0
    assert version.current() == first
    # Another engine stands for another process writing to the store.
    writer = Database(database.url)
    try:
        with writer.session() as session:
            session.add(Organisation(name="Newcomer", plan=Plan.GROWTH))
        changed = version.current()
    finally:
        writer.dispose()
        version.close()
    assert changed != first


def test_an_unreadable_marker_turns_reuse_off_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = Database("postgresql+psycopg://bi:hunter2-secret@127.0.0.1:1/none")
    version = StoreVersion(broken.engine)
    caplog.set_level(logging.WARNING, logger="embedded_api.store_version")
    try:
        readings = [version.current() for _ in range(3)]
    finally:
        broken.dispose()
    assert len({id(reading) for reading in readings}) == 3
    assert readings[0] != readings[1]
    warnings = [r for r in caplog.records if r.name == "embedded_api.store_version"]
    assert len(warnings) == 1
    assert "hunter2" not in caplog.text


def test_an_in_memory_store_is_never_reused() -> None:
    memory = Database("sqlite://")
    try:
        version = StoreVersion(memory.engine)
        assert not version.available
        assert version.current() != version.current()
    finally:
        memory.dispose()


# ------------------------------------------------------------------ the feed


def test_the_feed_reuses_a_page_until_a_commit(any_world: World, builds: list[str]) -> None:
    first = any_world.get(PAGE)
    second = any_world.get(PAGE)
    assert first.status_code == second.status_code == 200
    assert second.data == first.data
    assert second.headers["Content-Type"] == first.headers["Content-Type"]
    assert second.headers["OData-Version"] == "4.0"
    assert len(builds) == 1

    top = first.get_json()["value"][0]
    with any_world.database.session() as session:
        session.execute(update(Forecast).where(Forecast.id == top["Id"]).values(yhat=123.25))
    third = any_world.get(PAGE)
    assert len(builds) == 2
    assert third.get_json()["value"][0] == {"Id": top["Id"], "Yhat": 123.25}


def test_a_page_is_kept_for_what_it_was_asked_with(world: World, builds: list[str]) -> None:
    def twice(path: str, key: str = "odata", **kwargs: Any) -> Any:
        first, second = (world.get(path, key, **kwargs) for _ in range(2))
        assert first.status_code == 200, first.get_data(as_text=True)
        assert (second.data, dict(second.headers)) == (first.data, dict(first.headers))
        return first

    ours = twice("/odata/Series?$select=Id,Sku")
    theirs = twice("/odata/Series?$select=Id,Sku", key="other")
    assert {r["Sku"] for r in theirs.get_json()["value"]} == {"A-1"}
    assert len(ours.get_json()["value"]) == 22

    plain = twice("/odata/DemandLines?$top=2&$select=Id,Quantity")
    strings = twice(
        "/odata/DemandLines?$top=2&$select=Id,Quantity",
        headers={"Accept": "application/json;IEEE754Compatible=true"},
    )
    assert isinstance(plain.get_json()["value"][0]["Quantity"], float)
    assert isinstance(strings.get_json()["value"][0]["Quantity"], str)
    assert "IEEE754Compatible=true" in strings.headers["Content-Type"]

    small = twice("/odata/Series", headers={"Prefer": "odata.maxpagesize=3"})
    assert small.headers["Preference-Applied"] == "odata.maxpagesize=3"
    assert len(small.get_json()["value"]) == 3

    elsewhere = world.client.get(
        "/odata/Series?$select=Id,Sku",
        headers=basic(world.keys["odata"]),
        base_url="https://bi.example.com",
    )
    assert elsewhere.get_json()["@odata.context"].startswith("https://bi.example.com/odata/")
    assert len(builds) == 6


def test_errors_are_not_kept(world: World, builds: list[str]) -> None:
    for _ in range(2):
        assert world.get("/odata/Forecasts?$filter=Nope eq 1").status_code == 400
    assert len(builds) == 2


def test_a_feed_without_the_cache_builds_every_page(world: World, builds: list[str]) -> None:
    assert world.app is not None
    world.app.config[views.PAGE_CACHE] = None
    assert world.get(PAGE).data == world.get(PAGE).data
    assert len(builds) == 2


# ------------------------------------------------------------------ under load


@pytest.fixture
def served(database: Database) -> Iterator[tuple[World, str]]:
    world = build_world(database)
    runtime = Runtime(config=load_config(), database=database, vault=Vault(bytes(32)))
    server = EmbeddedServer(feed_app(runtime), "127.0.0.1", 0, threads=4)
    server.start()
    try:
        yield world, server.url
    finally:
        server.stop()


def test_readers_never_get_a_page_older_than_the_last_commit(
    served: tuple[World, str],
) -> None:
    world, url = served
    latest = f"{url}/odata/Forecasts?$orderby=Id desc&$top=1&$select=Id"
    series_id = world.values("/odata/Series?$top=1&$select=Id")[0]["Id"]
    committed = [world.values("/odata/Forecasts?$orderby=Id desc&$top=1")[0]["Id"]]
    stop = threading.Event()
    stale: list[tuple[int, int]] = []
    failures: list[str] = []
    answered = [0]

    def read() -> None:
        with requests.Session() as session:
            session.auth = ("powerbi", world.keys["odata"])
            while not stop.is_set():
                floor = committed[0]
                response = session.get(latest, timeout=30)
                if response.status_code != 200:
                    failures.append(response.text)
                    return
                seen = response.json()["value"][0]["Id"]
                answered[0] += 1
                if seen < floor:
                    stale.append((seen, floor))

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    # A writer of its own, as the run worker or another process would be.
    writer = Database(world.database.url)
    try:
        for week in range(30):
            with writer.session() as session:
                forecast = Forecast(
                    run_id=world.ids["run"],
                    series_id=series_id,
                    period_start=dt.date(2030, 1, 7) + dt.timedelta(weeks=week),
                    yhat=1.0,
                    lo80=0.0,
                    hi80=2.0,
                    lo95=0.0,
                    hi95=3.0,
                    model="Naive",
                )
                session.add(forecast)
                session.flush()
                new_id = forecast.id
            committed[0] = new_id
            # The readers answer a few times (and keep the page) before the next commit.
            deadline = time.monotonic() + 30
            wanted = answered[0] + 8
            while answered[0] < wanted and not failures and time.monotonic() < deadline:
                stop.wait(0.001)
            assert not failures, failures[0]
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
        writer.dispose()
    assert answered[0] >= 30 * 8
    assert stale == []
    assert world.values("/odata/Forecasts?$orderby=Id desc&$top=1")[0]["Id"] == committed[0]
