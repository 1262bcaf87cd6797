"""Rendered forecasts reused until a run completes: the cache and the endpoint with it."""

from __future__ import annotations

import datetime as dt
import functools

import pytest

from app.services.series import results_generation
from app.store.models import Forecast, ForecastRun, RunStatus
from embedded_api.api_v1.result_cache import ResultCache, after_commits
from tests.embedded_api import api_support
from tests.embedded_api.api_support import T0, World

world = api_support.world
any_world = api_support.any_world


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def counting(body: bytes, calls: list[bytes]):
    def build() -> bytes:
        calls.append(body)
        return body

    return build


def test_an_answer_is_built_once_per_generation(clock: Clock) -> None:
    generation = [1]
    asked: list[int] = []

    def current() -> int:
        asked.append(generation[0])
        return generation[0]

    cache = ResultCache(current, check_every=1.0, clock=clock)
    calls: list[bytes] = []
    assert cache.get("a", counting(b"A1", calls)) == b"A1"
    assert cache.get("a", counting(b"A2", calls)) == b"A1"
    assert calls == [b"A1"]
    assert asked == [1]  # checked once, not on every request

    generation[0] = 2
    clock.now += 0.5
    assert cache.get("a", counting(b"A3", calls)) == b"A1"  # not checked again yet
    clock.now += 0.5
    assert cache.get("a", counting(b"A4", calls)) == b"A4"  # new generation: rebuilt
    assert asked == [1, 2]


def test_answers_expire_and_the_oldest_go_first(clock: Clock) -> None:
    cache = ResultCache(lambda: 1, check_every=1e9, max_age=10.0, max_entries=2, clock=clock)
    calls: list[bytes] = []
    cache.get("a", counting(b"a", calls))
    cache.get("b", counting(b"b", calls))
    cache.get("a", counting(b"a", calls))  # a is now the most recent
    cache.get("c", counting(b"c", calls))  # evicts b
    cache.get("a", counting(b"a", calls))
    cache.get("b", counting(b"b", calls))
    assert calls == [b"a", b"b", b"c", b"b"]
    clock.now += 10.0
    cache.get("a", counting(b"a", calls))
    assert calls[-1] == b"a"
    assert len(calls) == 5


def test_an_answer_built_across_a_generation_change_is_not_kept(clock: Clock) -> None:
    generation = [1]
    cache = ResultCache(lambda: generation[0], check_every=0.0, clock=clock)
    calls: list[bytes] = []

    def racing() -> bytes:
        # A run completes while this answer is built from the older results.
        generation[0] = 2
        cache.get("other", counting(b"x", calls))
        return b"old"

    assert cache.get("a", racing) == b"old"
    assert cache.get("a", counting(b"new", calls)) == b"new"


def test_errors_are_not_cached(clock: Clock) -> None:
    cache = ResultCache(lambda: 1, clock=clock)

    def failing() -> bytes:
        raise LookupError("no such series")

    with pytest.raises(LookupError):
        cache.get("a", failing)
    assert cache.get("a", lambda: b"ok") == b"ok"


def test_the_generation_is_asked_again_only_after_a_commit() -> None:
    marker, generation, asked = [1], [10], []

    def ask() -> int:
        asked.append(generation[0])
        return generation[0]

    current = after_commits(lambda: marker[0], ask)
    assert [current(), current(), current()] == [10, 10, 10]
    assert asked == [10]
    generation[0] = 11
    assert current() == 10  # nothing committed: the store is not asked
    marker[0] = 2
    assert current() == 11
    assert asked == [10, 11]


@pytest.mark.parametrize("cache", ["the application's", "ungated"])
def test_the_latest_forecast_follows_a_run_that_completes(any_world: World, cache: str) -> None:
    assert any_world.app is not None
    if cache == "ungated":
        # The generation asked on every request, whatever was committed.
        any_world.app.config["RESULT_CACHE"] = ResultCache(
            functools.partial(results_generation, any_world.database), check_every=0
        )
    url = f"/api/v1/series/{any_world.ids['s1']}/forecast"
    assert any_world.get(url).get_json()["run_id"] == any_world.ids["r2"]
    assert any_world.get(url).get_json()["run_id"] == any_world.ids["r2"]
    with any_world.database.session() as session:
        run = ForecastRun(
            workspace_id=any_world.ids["main"],
            status=RunStatus.COMPLETE,
            horizon=1,
            created_at=T0 + dt.timedelta(days=5),
            completed_at=T0 + dt.timedelta(days=5, hours=1),
        )
        session.add(run)
        session.flush()
        session.add(
            Forecast(
                run_id=run.id,
                series_id=any_world.ids["s1"],
                period_start=dt.date(2025, 3, 10),
                yhat=30.0,
                lo80=28.0,
                hi80=32.0,
                lo95=26.0,
                hi95=34.0,
                model="AutoTheta",
            )
        )
        newest = run.id
    forecast = any_world.get(url).get_json()
    assert forecast["run_id"] == newest
    assert forecast["model"] == "AutoTheta"
    # A named run's answer is unchanged by it.
    named = any_world.get(f"{url}?run_id={any_world.ids['r1']}").get_json()
    assert named["run_id"] == any_world.ids["r1"]


def test_each_organisation_gets_its_own_answer(world: World) -> None:
    url = f"/api/v1/series/{world.ids['s1']}/forecast"
    assert world.get(url).status_code == 200
    theirs = world.get(url, key="other")
    assert theirs.status_code == 404
