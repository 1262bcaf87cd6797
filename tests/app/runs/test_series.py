"""Series building: periods, netting, cancellations, gaps, the running period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from app.runs.series import build_history, period_start
from app.store.db import Database
from app.store.models import Connector, DemandLine, Frequency, Organisation, Series, Workspace

AS_OF = dt.date(2026, 3, 18)  # a Wednesday


def seed(database: Database, lines: list[tuple]) -> int:
    with database.session() as session:
        workspace = Workspace(name="Main", organisation=Organisation(name="Acme"))
        session.add(workspace)
        session.flush()
        connector = Connector(workspace_id=workspace.id, preset="demo", name="c")
        session.add(connector)
        session.flush()
        for n, (day, sku, location, qty, status) in enumerate(lines):
            session.add(
                DemandLine(
                    connector_id=connector.id,
                    workspace_id=workspace.id,
                    order_id=str(n),
                    line_id="1",
                    order_date=day,
                    sku=sku,
                    location=location,
                    quantity=Decimal(qty),
                    status=status,
                )
            )
        return workspace.id


def history(database: Database, workspace_id: int, frequency: Frequency):
    with database.session() as session:
        built = build_history(session, workspace_id, frequency, AS_OF)
        names = dict(built.series)
    return built, names


def series_values(built, names, sku: str, location: str = "default") -> dict[str, float]:
    uid = next(uid for uid, key in names.items() if key == (sku, location))
    rows = built.frame[built.frame["unique_id"] == uid]
    return {ds.date().isoformat(): y for ds, y in zip(rows["ds"], rows["y"], strict=True)}


def test_weekly_netting_gaps_cancellations_and_running_week(database: Database) -> None:
    workspace_id = seed(
        database,
        [
            (dt.date(2026, 2, 2), "A", "default", "5", "fulfilled"),  # Mon, week of 02-02
            (dt.date(2026, 2, 8), "A", "default", "3", None),  # Sun, same week
            (dt.date(2026, 2, 8), "A", "default", "-2", "refunded"),  # a return nets out
            (dt.date(2026, 2, 4), "A", "default", "100", "cancelled"),  # left out
            # nothing in the week of 02-09: a gap
            (dt.date(2026, 2, 16), "A", "default", "4", "open"),
            (dt.date(2026, 3, 16), "A", "default", "50", "open"),  # the running week
            (dt.date(2026, 2, 23), "B", "north", "1.5", None),
        ],
    )
    built, names = history(database, workspace_id, Frequency.WEEKLY)
    assert series_values(built, names, "A") == {
        "2026-02-02": 6.0,
        "2026-02-09": 0.0,
        "2026-02-16": 4.0,
        "2026-02-23": 0.0,
        "2026-03-02": 0.0,
        "2026-03-09": 0.0,
    }
    assert series_values(built, names, "B", "north") == {
        "2026-02-23": 1.5,
        "2026-03-02": 0.0,
        "2026-03-09": 0.0,
    }
    assert built.last_period == dt.date(2026, 3, 9)
    with database.session() as session:
        assert session.query(Series).count() == 2


def test_monthly_and_daily_calendars(database: Database) -> None:
    workspace_id = seed(
        database,
        [
            (dt.date(2025, 12, 31), "A", "default", "1", None),
            (dt.date(2026, 1, 15), "A", "default", "2", None),
            (dt.date(2026, 3, 17), "A", "default", "9", None),  # the running month
        ],
    )
    monthly, names = history(database, workspace_id, Frequency.MONTHLY)
    assert series_values(monthly, names, "A") == {
        "2025-12-01": 1.0,
        "2026-01-01": 2.0,
        "2026-02-01": 0.0,
    }
    daily, names = history(database, workspace_id, Frequency.DAILY)
    values = series_values(daily, names, "A")
    assert len(values) == (AS_OF - dt.date(2025, 12, 31)).days
    assert values["2026-03-17"] == 9.0
    assert values["2026-01-15"] == 2.0
    assert sum(values.values()) == 12.0


def test_empty_workspace_gives_an_empty_frame(database: Database) -> None:
    workspace_id = seed(database, [])
    built, _ = history(database, workspace_id, Frequency.WEEKLY)
    assert built.frame.empty
    assert list(built.frame.columns) == ["unique_id", "ds", "y"]


@pytest.mark.parametrize(
    ("day", "frequency", "start"),
    [
        (dt.date(2026, 3, 15), Frequency.WEEKLY, dt.date(2026, 3, 9)),
        (dt.date(2026, 3, 16), Frequency.WEEKLY, dt.date(2026, 3, 16)),
        (dt.date(2026, 3, 15), Frequency.MONTHLY, dt.date(2026, 3, 1)),
        (dt.date(2026, 3, 15), Frequency.DAILY, dt.date(2026, 3, 15)),
    ],
)
def test_period_start(day, frequency, start) -> None:
    assert period_start(day, frequency) == start


def test_frame_is_ready_for_the_engine(database: Database) -> None:
    workspace_id = seed(database, [(dt.date(2026, 1, 5), "A", "default", "1", None)])
    built, _ = history(database, workspace_id, Frequency.WEEKLY)
    assert list(built.frame.columns) == ["unique_id", "ds", "y"]
    assert pd.api.types.is_datetime64_any_dtype(built.frame["ds"])
    assert built.frame["y"].dtype == float
