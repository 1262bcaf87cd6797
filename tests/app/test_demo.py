"""Demo data: deterministic, shaped as planted, and seeded into a real store once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Float, func, select, type_coerce

from app.demo import KINDS, LOCATIONS, DemoData, DemoSummary, generate_demand, seed_demo
from app.store.db import Database
from app.store.models import (
    Connector,
    ConnectorStatus,
    DemandLine,
    Frequency,
    Organisation,
    Plan,
    Series,
    Workspace,
)
from app.store.types import utcnow

END = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_demand(7, end=END)


@pytest.fixture(scope="module")
def daily(demo: DemoData) -> np.ndarray:
    """Fulfilled units per (sku, location, day), rebuilt from the lines alone."""
    index = {profile.sku: i for i, profile in enumerate(demo.profiles)}
    days = (demo.end - demo.start).days + 1
    units = np.zeros((len(demo.profiles), len(LOCATIONS), days))
    for line in demo.lines:
        if line.status == "fulfilled":
            day = (line.order_date - demo.start).days
            units[index[line.sku], LOCATIONS.index(line.location), day] += float(line.quantity)
    return units


def _of_kind(demo: DemoData, kind: str) -> list[int]:
    return [i for i, profile in enumerate(demo.profiles) if profile.kind == kind]


def _dates(demo: DemoData) -> list[dt.date]:
    return [demo.start + dt.timedelta(days=d) for d in range((demo.end - demo.start).days + 1)]


# Generator


def test_same_seed_gives_the_same_lines_and_another_seed_does_not() -> None:
    first = generate_demand(3, days=60, skus=15, end=END)
    again = generate_demand(3, days=60, skus=15, end=END)
    other = generate_demand(4, days=60, skus=15, end=END)
    assert first == again
    assert first.lines != other.lines
    assert first.profiles != other.profiles


def test_end_defaults_to_yesterday_utc() -> None:
    before = utcnow().date()
    data = generate_demand(days=7, skus=2)
    after = utcnow().date()
    assert data.end in {before - dt.timedelta(days=1), after - dt.timedelta(days=1)}
    assert data.start == data.end - dt.timedelta(days=6)


def test_too_short_a_history_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 7 days"):
        generate_demand(days=6)


def test_two_years_of_about_200_skus_in_two_locations(demo: DemoData) -> None:
    assert demo.end == END
    assert demo.start == END - dt.timedelta(days=729)
    assert [p.sku for p in demo.profiles] == [f"SKU-{i:04d}" for i in range(1, 201)]
    assert len({p.product_name for p in demo.profiles}) == 200
    assert len(demo.series()) == 400
    assert {location for _, location, _ in demo.series()} == set(LOCATIONS)
    assert 150_000 <= len(demo) <= 300_000
    assert {p.kind for p in demo.profiles} == set(KINDS)
    assert all(demo.start <= line.order_date <= demo.end for line in demo)


def test_orders_group_lines_of_one_day_place_and_customer(demo: DemoData) -> None:
    orders: dict[str, list] = defaultdict(list)
    for line in demo:
        orders[line.order_id].append(line)
    sizes = [len(lines) for lines in orders.values()]
    assert max(sizes) >= 4
    assert 1.5 <= np.mean(sizes) <= 4
    for lines in orders.values():
        assert len({(x.order_date, x.location, x.channel, x.customer_id) for x in lines}) == 1
        assert sorted(int(x.line_id) for x in lines) == list(range(1, len(lines) + 1))
        assert len({x.sku for x in lines}) == len(lines)


def test_returns_are_negative_refunded_lines_after_a_sale(demo: DemoData) -> None:
    refunds = [line for line in demo if line.status == "refunded"]
    assert 0.001 <= len(refunds) / len(demo) <= 0.01
    assert all(line.quantity < 0 for line in refunds)
    assert all(line.quantity > 0 for line in demo if line.status != "refunded")
    first_sale = {}
    for line in demo:
        if line.status == "fulfilled":
            first_sale.setdefault((line.sku, line.location), line.order_date)
    for line in refunds:
        assert first_sale[line.sku, line.location] < line.order_date


def test_some_orders_are_cancelled(demo: DemoData) -> None:
    statuses = Counter(line.status for line in demo)
    assert set(statuses) == {"fulfilled", "cancelled", "refunded"}
    assert 50 <= statuses["cancelled"] <= 0.01 * len(demo)


def test_a_fifth_to_a_quarter_of_items_are_intermittent(demo: DemoData, daily: np.ndarray) -> None:
    slow = _of_kind(demo, "intermittent")
    assert 0.2 <= len(slow) / len(demo.profiles) <= 0.25
    zero_share = (daily == 0).mean(axis=2)
    assert (zero_share[slow] >= 0.75).all()
    regular = [i for i in range(len(demo.profiles)) if i not in slow]
    assert zero_share[regular].mean() < 0.15
    # Lumpy: when a slow item sells, it often sells more than one unit.
    sold = daily[slow][daily[slow] > 0]
    assert sold.mean() > 2


def test_trends_show_year_over_year(demo: DemoData, daily: np.ndarray) -> None:
    # Whole years on both sides, so yearly seasonality cancels out.
    per_sku = daily.sum(axis=1)
    ratio = per_sku[:, -365:].sum(axis=1) / per_sku[:, :365].sum(axis=1)
    assert (ratio[_of_kind(demo, "trend_up")] > 1.2).all()
    assert (ratio[_of_kind(demo, "trend_down")] < 1 / 1.2).all()
    assert (np.abs(np.log(ratio[_of_kind(demo, "smooth")])) < np.log(1.15)).all()


def _slopes_before_and_after(weekly: np.ndarray, change_week: float) -> tuple[float, float]:
    """Yearly log-slopes either side of a known turn, with yearly seasonality fitted away."""
    t = (np.arange(len(weekly)) + 0.5) / (365.25 / 7)
    c = change_week / (365.25 / 7)
    design = np.column_stack(
        [
            np.ones_like(t),
            t,
            np.maximum(t - c, 0),
            np.sin(2 * np.pi * t),
            np.cos(2 * np.pi * t),
            np.sin(4 * np.pi * t),
            np.cos(4 * np.pi * t),
        ]
    )
    beta = np.linalg.lstsq(design, np.log1p(weekly), rcond=None)[0]
    return beta[1], beta[1] + beta[2]


def test_turning_trends_change_direction_at_the_planted_date(
    demo: DemoData, daily: np.ndarray
) -> None:
    turning = _of_kind(demo, "trend_change")
    assert len(turning) >= 20
    days = daily.shape[2]
    for i in turning:
        profile = demo.profiles[i]
        assert profile.change_date is not None
        assert np.sign(profile.growth) == -np.sign(profile.growth_after)
        weekly = daily[i].sum(axis=0)[days % 7 :].reshape(-1, 7).sum(axis=1)
        change_week = ((profile.change_date - demo.start).days - days % 7) / 7
        before, after = _slopes_before_and_after(weekly, change_week)
        assert np.sign(before) == np.sign(profile.growth), profile.sku
        assert np.sign(after) == np.sign(profile.growth_after), profile.sku
        assert abs(before) > 0.15, profile.sku
        assert abs(after) > 0.15, profile.sku


def test_weekday_profile_is_visible_in_each_location(demo: DemoData, daily: np.ndarray) -> None:
    weekday = np.array([d.weekday() for d in _dates(demo)])
    web, store = daily.sum(axis=0)
    web_by_day = np.array([web[weekday == d].mean() for d in range(7)])
    store_by_day = np.array([store[weekday == d].mean() for d in range(7)])
    assert web_by_day.argmax() == 0  # Monday
    assert web_by_day[0] > 1.3 * web_by_day[5]
    assert store_by_day.argmax() == 5  # Saturday
    assert store_by_day[5] > 1.6 * store_by_day[0]


def test_seasonal_items_peak_where_planted(demo: DemoData, daily: np.ndarray) -> None:
    doy = np.array([d.timetuple().tm_yday for d in _dates(demo)])
    seasonal = [i for i in _of_kind(demo, "smooth") if demo.profiles[i].yearly_amplitude >= 0.25]
    assert len(seasonal) >= 10
    for i in seasonal:
        peak = demo.profiles[i].yearly_peak_day
        distance = np.abs((doy - peak + 182) % 365 - 182)
        units = daily[i].sum(axis=0)
        assert units[distance <= 30].mean() > 1.25 * units[distance >= 152].mean(), i
    # The shared pre-Christmas lift shows in the whole catalogue.
    total = daily.sum(axis=(0, 1))
    december = np.array([d.month == 12 for d in _dates(demo)])
    october = np.array([d.month == 10 for d in _dates(demo)])
    assert total[december].mean() > 1.05 * total[october].mean()


def test_promotions_lift_demand(demo: DemoData, daily: np.ndarray) -> None:
    promoted = _of_kind(demo, "promo")
    assert promoted
    for i in promoted:
        profile = demo.profiles[i]
        assert len(profile.promotions) >= 3
        units = daily[i].sum(axis=0)
        during = np.zeros(units.size, dtype=bool)
        before = np.zeros(units.size, dtype=bool)
        for promotion in profile.promotions:
            a = (promotion.start - demo.start).days
            b = (promotion.end - demo.start).days + 1
            during[a:b] = True
            before[max(0, a - 28) : a] = True
        # Days are noisy; pooled over its promotions, each item's lift is clear.
        before &= ~during
        assert units[during].mean() > 1.6 * units[before].mean(), profile.sku
    # Promotion days sell at the discounted price.
    sku = demo.profiles[promoted[0]].sku
    prices = {line.unit_price for line in demo if line.sku == sku and line.status == "fulfilled"}
    assert len(prices) == 2


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(7, 120),
    skus=st.integers(1, 12),
)
def test_lines_are_canonical_for_any_seed_and_size(seed: int, days: int, skus: int) -> None:
    data = generate_demand(seed, days=days, skus=skus, end=END)
    keys = {(line.channel, line.order_id, line.line_id) for line in data}
    assert len(keys) == len(data)
    assert len(data.profiles) == skus
    for line in data:
        assert data.start <= line.order_date <= END
        assert line.quantity != 0
        assert line.quantity == int(line.quantity)
        assert line.unit_price > 0
        assert line.currency == "EUR"
        assert (line.location, line.channel) in {("north-dc", "web"), ("south-store", "store")}
        assert line.status in {"fulfilled", "cancelled", "refunded"}
        assert line.source_updated_at.tzinfo is dt.UTC
        assert line.source_updated_at.date() == line.order_date


# Seeding


def _stored_totals(database: Database, workspace_id: int) -> list[tuple[int, str, int, float]]:
    with database.session() as session:
        rows = session.execute(
            select(
                DemandLine.connector_id,
                DemandLine.channel,
                func.count(),
                # As float: SQLite has no decimals, and reading one as Decimal warns.
                func.sum(type_coerce(DemandLine.quantity, Float)),
            )
            .where(DemandLine.workspace_id == workspace_id)
            .group_by(DemandLine.connector_id, DemandLine.channel)
            .order_by(DemandLine.connector_id)
        ).all()
    return [tuple(row) for row in rows]


def _stored_series(database: Database, workspace_id: int) -> list[tuple[str, str, str]]:
    with database.session() as session:
        rows = session.execute(
            select(Series.sku, Series.location, Series.product_name)
            .where(Series.workspace_id == workspace_id)
            .order_by(Series.sku, Series.location)
        ).all()
    return [tuple(row) for row in rows]


def _assert_store_matches(database: Database, summary: DemoSummary, data: DemoData) -> None:
    web, store = summary.connectors
    stored = _stored_totals(database, summary.workspace_id)
    assert [(connector, channel) for connector, channel, _, _ in stored] == [
        (web, "web"),
        (store, "store"),
    ]
    for _, channel, count, units in stored:
        lines = [line for line in data if line.channel == channel]
        assert count == len(lines)
        assert units == pytest.approx(sum(float(line.quantity) for line in lines))
    assert _stored_series(database, summary.workspace_id) == data.series()


def test_seed_creates_the_demo_store_matching_the_generator(
    sqlite_database: Database, demo: DemoData
) -> None:
    summary = seed_demo(sqlite_database, end=END)
    assert summary.seeded
    assert summary.lines == len(demo)
    assert summary.series == len(demo.series()) == 400
    with sqlite_database.session() as session:
        organisation = session.get(Organisation, summary.organisation_id)
        assert organisation is not None
        assert (organisation.name, organisation.plan) == ("Demo Organisation", Plan.GROWTH)
        workspace = session.get(Workspace, summary.workspace_id)
        assert workspace is not None
        assert workspace.organisation_id == organisation.id
        assert (workspace.name, workspace.frequency) == ("Main", Frequency.WEEKLY)
        connectors = session.scalars(select(Connector).order_by(Connector.id)).all()
        assert tuple(c.id for c in connectors) == summary.connectors
        assert [c.preset for c in connectors] == ["demo", "demo"]
        assert [c.config["channel"] for c in connectors] == ["web", "store"]
        assert all(c.cursor == {"complete": True} for c in connectors)
        for connector in connectors:
            assert connector.workspace_id == workspace.id
            assert connector.status == ConnectorStatus.HEALTHY
            assert connector.last_synced_at is not None
            assert connector.secrets == {}
    _assert_store_matches(sqlite_database, summary, demo)


def test_seeding_twice_changes_nothing(database: Database) -> None:
    first = seed_demo(database, seed=5, end=END, days=60, skus=10)
    second = seed_demo(database, seed=6, end=END, days=60, skus=10)
    assert first.seeded
    assert not second.seeded
    assert dataclasses.replace(second, seeded=True) == first
    _assert_store_matches(database, first, generate_demand(5, end=END, days=60, skus=10))
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Organisation)) == 1
        assert session.scalar(select(func.count()).select_from(Connector)) == 2
        assert session.scalar(select(func.count()).select_from(DemandLine)) == first.lines
