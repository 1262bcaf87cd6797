"""A page is read along the key's index, not by sorting the organisation's rows.

SQLite without statistics would rather read every row of the caller's
workspaces through the workspace index and sort them, for every page; the
feed's scope condition steers it to the key. Checked on the plans of the
statements a request really runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from app.store.db import Database
from tests.embedded_api.odata_support import World, build_world


@pytest.fixture
def world(sqlite_database: Database) -> World:
    return build_world(sqlite_database)


def _plans(world: World, path: str) -> list[str]:
    """The query plan of each page query that answering ``path`` ran."""
    executed: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "ORDER BY" in statement:
            executed.append((statement, parameters))

    engine = world.database.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert world.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert executed, "no page query ran"
    plans = []
    with engine.connect() as connection:
        for statement, parameters in executed:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append(" | ".join(row[-1] for row in rows))
    return plans


@pytest.mark.parametrize(
    ("path", "walked"),
    [
        ("/odata/Forecasts?$top=5", "SCAN forecasts"),
        ("/odata/SafetyStock?$top=5", "SCAN safety_stock"),
        ("/odata/DemandLines?$top=5", "SCAN demand_lines"),
        ("/odata/Series?$top=5", "SCAN series"),
        ("/odata/Alerts?$top=5", "SCAN alerts"),
        ("/odata/Runs?$top=5", "SCAN forecast_runs"),
    ],
)
def test_pages_walk_the_key_and_sort_nothing(world: World, path: str, walked: str) -> None:
    (plan,) = _plans(world, path)
    assert plan.startswith(walked), plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_continued_page_starts_at_its_place_in_the_key(world: World) -> None:
    first = world.get("/odata/Forecasts?$select=Id", headers={"Prefer": "odata.maxpagesize=5"})
    link = first.get_json()["@odata.nextLink"]
    (plan,) = _plans(world, link.removeprefix("http://localhost"))
    assert plan.startswith("SEARCH forecasts USING INTEGER PRIMARY KEY (rowid>?)"), plan
    assert "TEMP B-TREE" not in plan, plan
