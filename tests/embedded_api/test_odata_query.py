"""$filter, $select, $orderby, $top, $skip, $count and keyset paging, in SQL on both stores.

Each filter's answer is checked against the same condition written in Python
over the rows as stored, with OData's rules for null (``null ne 'a'`` is true,
``null gt 1`` is false) and exact, case-sensitive text matching.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from sqlalchemy import event

from app.store.db import Database
from app.store.models import Alert, DemandLine, ForecastRun, Series
from tests.embedded_api.odata_support import T0, World, build_world, ids_of, rows_of

UTC = dt.UTC


@pytest.fixture
def world(database: Database) -> World:
    return build_world(database)


def _q(text: str) -> str:
    return quote(text, safe="$=,'()&:")


def _gt(value: Any, bound: Any) -> bool:
    return value is not None and value > bound


SERIES_CASES: list[tuple[str, Callable[[Series], bool]]] = [
    ("Sku eq 'A-1'", lambda s: s.sku == "A-1"),
    ("Sku ne 'A-1'", lambda s: s.sku != "A-1"),
    ("ProductName eq 'Desk Lamp'", lambda s: s.product_name == "Desk Lamp"),
    ("ProductName ne 'Desk Lamp'", lambda s: s.product_name != "Desk Lamp"),
    ("not (ProductName eq 'Desk Lamp')", lambda s: s.product_name != "Desk Lamp"),
    ("ProductName eq null", lambda s: s.product_name is None),
    ("null ne ProductName", lambda s: s.product_name is not None),
    ("LeadTimeDays gt 5", lambda s: _gt(s.lead_time_days, 5)),
    ("not (LeadTimeDays gt 5)", lambda s: not _gt(s.lead_time_days, 5)),
    ("LeadTimeDays le 5 or LeadTimeDays eq null", lambda s: not _gt(s.lead_time_days, 5)),
    (
        "ServiceLevel ge 0.85 and LeadTimeDays lt 15",
        lambda s: (
            s.service_level is not None
            and s.service_level >= 0.85
            and s.lead_time_days is not None
            and s.lead_time_days < 15
        ),
    ),
    ("Sku eq 'A-1' or Sku eq 'A-2'", lambda s: s.sku in ("A-1", "A-2")),
    ("Sku in ('A-1','A-2','nope')", lambda s: s.sku in ("A-1", "A-2")),
    ("contains(ProductName,'%')", lambda s: "%" in (s.product_name or "")),
    ("contains(Sku,'_')", lambda s: "_" in s.sku),
    ("contains(ProductName,'Lamp')", lambda s: "Lamp" in (s.product_name or "")),
    ("not contains(ProductName,'Lamp')", lambda s: "Lamp" not in (s.product_name or "")),
    ("contains(tolower(ProductName),'lamp')", lambda s: "lamp" in (s.product_name or "").lower()),
    ("startswith(Sku,'a')", lambda s: s.sku.startswith("a")),
    ("startswith(Sku,'A-1')", lambda s: s.sku.startswith("A-1")),
    ("endswith(Sku,'1')", lambda s: s.sku.endswith("1")),
    ("endswith(ProductName,'_a_Mug')", lambda s: (s.product_name or "").endswith("_a_Mug")),
    ("ProductName eq 'it''s_a_Mug'", lambda s: s.product_name == "it's_a_Mug"),
    ("toupper(Location) eq 'NORTH-DC'", lambda s: s.location == "north-dc"),
    ("length(Sku) eq 3", lambda s: len(s.sku) == 3),
    (
        "TrendChangedAt gt 2024-03-01T00:00:00Z",
        lambda s: _gt(s.trend_changed_at, T0.replace(minute=0)),
    ),
    (
        # 02:00 at +02:00 is midnight UTC: the offset must be honoured.
        "TrendChangedAt lt 2024-03-01T02:00:00+02:00",
        lambda s: (
            s.trend_changed_at is not None
            and s.trend_changed_at < dt.datetime(2024, 3, 1, tzinfo=UTC)
        ),
    ),
    ("year(TrendChangedAt) eq 2024", lambda s: s.trend_changed_at is not None),
    (
        "date(TrendChangedAt) eq 2024-02-29",
        lambda s: (
            s.trend_changed_at is not None and s.trend_changed_at.date() == dt.date(2024, 2, 29)
        ),
    ),
    (
        "month(TrendChangedAt) eq 3",
        lambda s: s.trend_changed_at is not None and s.trend_changed_at.month == 3,
    ),
    ("LeadTimeDays add 1 gt 10", lambda s: _gt(s.lead_time_days, 9)),
    ("LeadTimeDays mul 2 eq 16", lambda s: s.lead_time_days == 8),
    (
        "LeadTimeDays div 4 eq 3",
        lambda s: s.lead_time_days is not None and s.lead_time_days // 4 == 3,
    ),
    (
        "LeadTimeDays mod 2 eq 1",
        lambda s: s.lead_time_days is not None and s.lead_time_days % 2 == 1,
    ),
    ("-LeadTimeDays lt -15", lambda s: _gt(s.lead_time_days, 15)),
    ("LeadTimeDays gt 1.5", lambda s: _gt(s.lead_time_days, 1.5)),
    (
        "Trend eq 'up' and (Location eq 'north-dc' or ServiceLevel eq null)",
        lambda s: s.trend == "up" and (s.location == "north-dc" or s.service_level is None),
    ),
    ("true", lambda s: True),
]


@pytest.mark.parametrize(("expression", "expected"), SERIES_CASES, ids=[c[0] for c in SERIES_CASES])
def test_filters_on_series_match_the_rows(
    world: World, expression: str, expected: Callable[[Series], bool]
) -> None:
    visible = rows_of(world.database, Series, [world.ids["main"], world.ids["second"]])
    want = [s.id for s in visible if expected(s)]
    got = ids_of(world.values(f"/odata/Series?$filter={_q(expression)}"))
    assert got == want
    # Every case must select something and leave something out, or it proves little.
    if expression != "true":
        assert 0 < len(want) < len(visible), expression


DEMAND_CASES: list[tuple[str, Callable[[DemandLine], bool]]] = [
    (
        "OrderDate ge 2024-01-15 and OrderDate lt 2024-02-01",
        lambda d: dt.date(2024, 1, 15) <= d.order_date < dt.date(2024, 2, 1),
    ),
    ("Quantity lt 0", lambda d: d.quantity < 0),
    ("Quantity eq 2.5", lambda d: d.quantity == Decimal("2.5")),
    ("Quantity ge 5", lambda d: d.quantity >= 5),
    ("UnitPrice gt 30", lambda d: d.unit_price is not None and d.unit_price > 30),
    ("UnitPrice eq 25.3456", lambda d: d.unit_price == Decimal("25.3456")),
    ("month(OrderDate) eq 2", lambda d: d.order_date.month == 2),
    ("day(OrderDate) eq 5", lambda d: d.order_date.day == 5),
    ("Status eq 'refunded'", lambda d: d.status == "refunded"),
    (
        "SourceUpdatedAt ge 2024-03-01T10:30:00Z",
        lambda d: d.source_updated_at >= dt.datetime(2024, 3, 1, 10, 30, tzinfo=UTC),
    ),
]


@pytest.mark.parametrize(("expression", "expected"), DEMAND_CASES, ids=[c[0] for c in DEMAND_CASES])
def test_filters_on_demand_lines_match_the_rows(
    world: World, expression: str, expected: Callable[[DemandLine], bool]
) -> None:
    visible = rows_of(world.database, DemandLine, [world.ids["main"]])
    want = [d.id for d in visible if expected(d)]
    assert 0 < len(want) < len(visible), expression
    assert ids_of(world.values(f"/odata/DemandLines?$filter={_q(expression)}")) == want


def test_filters_on_enums_and_booleans(world: World) -> None:
    runs = rows_of(world.database, ForecastRun, [world.ids["main"]])
    complete = [r.id for r in runs if r.status.value == "complete"]
    assert ids_of(world.values("/odata/Runs?$filter=Status eq 'complete'")) == complete
    # A value the enum does not know is simply not there, not an error.
    assert world.values("/odata/Runs?$filter=Status eq 'sleeping'") == []
    alerts = rows_of(world.database, Alert, [world.ids["main"]])
    read = [a.id for a in alerts if a.read]
    unread = [a.id for a in alerts if not a.read]
    assert ids_of(world.values("/odata/Alerts?$filter=Read")) == read
    assert ids_of(world.values("/odata/Alerts?$filter=not Read")) == unread
    assert ids_of(world.values("/odata/Alerts?$filter=Read eq false")) == unread
    assert ids_of(world.values("/odata/Alerts?$filter=RunId eq null")) == [
        a.id for a in alerts if a.run_id is None
    ]


def test_every_set_is_scoped_to_the_callers_organisation(world: World) -> None:
    for name in ("Series", "Forecasts", "Runs", "Alerts", "SafetyStock", "DemandLines"):
        mine = world.values(f"/odata/{name}")
        theirs = world.values(f"/odata/{name}", key="other")
        assert mine, name
        assert theirs, name
        assert {r["WorkspaceId"] for r in mine} <= {world.ids["main"], world.ids["second"]}
        assert {r["WorkspaceId"] for r in theirs} == {world.ids["foreign"]}
    # The same SKU exists in both organisations; a filter never crosses over.
    assert {r["WorkspaceId"] for r in world.values("/odata/Series?$filter=Sku eq 'A-1'")} == {
        world.ids["main"]
    }


def test_select_returns_only_the_chosen_properties(world: World) -> None:
    response = world.get("/odata/Forecasts?$select=Sku,Yhat,PeriodStart&$top=2")
    body = response.get_json()
    assert body["@odata.context"].endswith("/odata/$metadata#Forecasts(Sku,PeriodStart,Yhat)")
    assert [list(row) for row in body["value"]] == [["Sku", "PeriodStart", "Yhat"]] * 2
    everything = world.get("/odata/Forecasts?$select=*&$top=1").get_json()
    assert everything["@odata.context"].endswith("#Forecasts")
    assert "Hi95" in everything["value"][0]


ORDERINGS: list[tuple[str, Callable[[list[Series]], list[Series]]]] = [
    ("Sku desc", lambda rows: sorted(rows, key=lambda s: s.sku, reverse=True)),
    (
        "LeadTimeDays",
        lambda rows: sorted(
            rows, key=lambda s: (s.lead_time_days is not None, s.lead_time_days or 0, s.id)
        ),
    ),
    (
        "ProductName desc,LeadTimeDays asc",
        lambda rows: sorted(
            sorted(rows, key=lambda s: (s.lead_time_days is not None, s.lead_time_days or 0, s.id)),
            key=lambda s: (s.product_name is not None, s.product_name or ""),
            reverse=True,
        ),
    ),
    (
        "TrendChangedAt desc,Id desc",
        lambda rows: sorted(
            rows,
            key=lambda s: (
                s.trend_changed_at is not None,
                s.trend_changed_at or T0,
                s.id,
            ),
            reverse=True,
        ),
    ),
    (
        "ServiceLevel,Location desc",
        lambda rows: sorted(
            sorted(rows, key=lambda s: (s.location, -s.id), reverse=True),
            key=lambda s: (s.service_level is not None, s.service_level or 0),
        ),
    ),
]


@pytest.mark.parametrize(("orderby", "expected"), ORDERINGS, ids=[o[0] for o in ORDERINGS])
def test_orderby_pages_through_every_row_once_in_order(
    world: World, orderby: str, expected: Callable[[list[Series]], list[Series]]
) -> None:
    visible = rows_of(world.database, Series, [world.ids["main"], world.ids["second"]])
    pages = world.follow(
        f"/odata/Series?$orderby={_q(orderby)}", headers={"Prefer": "odata.maxpagesize=4"}
    )
    assert len(pages) == -(-len(visible) // 4)
    assert [ids_of(p["value"]) for p in pages][:-1] == [ids_of(p["value"])[:4] for p in pages][:-1]
    got = [row["Id"] for page in pages for row in page["value"]]
    assert got == [s.id for s in expected(visible)]


def test_top_and_skip_carry_over_pages(world: World) -> None:
    visible = [
        s.id for s in rows_of(world.database, Series, [world.ids["main"], world.ids["second"]])
    ]
    pages = world.follow(
        "/odata/Series?$top=7&$skip=2&$count=true", headers={"Prefer": "odata.maxpagesize=3"}
    )
    assert [len(p["value"]) for p in pages] == [3, 3, 1]
    assert [row["Id"] for p in pages for row in p["value"]] == visible[2:9]
    # $count ignores $top and $skip, and is the same on every page.
    assert {p["@odata.count"] for p in pages} == {len(visible)}
    first_link = parse_qs(urlsplit(pages[0]["@odata.nextLink"]).query)
    assert first_link["$top"] == ["4"]
    assert "$skip" not in first_link
    assert "@odata.nextLink" not in pages[-1]
    # A page that ends exactly at $top has no link to an empty page.
    exact = world.follow("/odata/Series?$top=6", headers={"Prefer": "odata.maxpagesize=3"})
    assert [len(p["value"]) for p in exact] == [3, 3]
    assert world.get("/odata/Series?$top=0&$count=true").get_json()["value"] == []


def test_count_equals_rows_read_with_a_filter(world: World) -> None:
    path = "/odata/Forecasts?$count=true&$filter=" + _q("Yhat gt 10.1 and Sku ne 'A-2'")
    pages = world.follow(path, headers={"Prefer": "odata.maxpagesize=5"})
    rows = [row for page in pages for row in page["value"]]
    assert len(pages) > 2
    assert all(p["@odata.count"] == len(rows) for p in pages)
    plain = world.get("/odata/Forecasts/$count?$filter=" + _q("Yhat gt 10.1 and Sku ne 'A-2'"))
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/plain")
    assert plain.get_data(as_text=True) == str(len(rows))


def test_a_skiptoken_only_continues_its_own_query(world: World) -> None:
    first = world.get(
        "/odata/Series?$filter=" + _q("Location eq 'north-dc'"),
        headers={"Prefer": "odata.maxpagesize=2"},
    ).get_json()
    token = parse_qs(urlsplit(first["@odata.nextLink"]).query)["$skiptoken"][0]
    north, south = _q("Location eq 'north-dc'"), _q("Location eq 'south-store'")
    for path in (
        f"/odata/Series?$skiptoken={token}",
        f"/odata/Series?$filter={south}&$skiptoken={token}",
        f"/odata/Series?$filter={north}&$orderby=Sku&$skiptoken={token}",
        f"/odata/Runs?$skiptoken={token}",
        "/odata/Series?$skiptoken=not-a-token",
        "/odata/Series?$skiptoken=eyJ4IjoxfQ",
    ):
        response = world.get(path)
        assert response.status_code == 400, path
        error = response.get_json()["error"]
        assert error["target"] in ("$skiptoken", "$filter"), path
        assert "first page" in error["message"] or error["target"] == "$filter"


@pytest.fixture
def statements(world: World) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    engine = world.database.engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_filters_and_pages_run_in_sql(world: World, statements: list[tuple[str, Any]]) -> None:
    response = world.get(
        "/odata/DemandLines?$filter=" + _q("contains(Sku,'A-1') and Quantity gt 1"),
        headers={"Prefer": "odata.maxpagesize=2"},
    )
    assert response.status_code == 200
    assert len(response.get_json()["value"]) == 2
    ((query, _),) = [s for s in statements if "demand_lines" in s[0]]
    # The condition, the organisation's scope and the page limit are all in the SQL.
    assert "quantity >" in query
    assert ("instr(" in query) or ("strpos(" in query)
    assert "workspaces.organisation_id" in query
    assert "LIMIT" in query
    statements.clear()
    link = response.get_json()["@odata.nextLink"]
    assert world.get(link.removeprefix("http://localhost")).status_code == 200
    ((query, parameters),) = [s for s in statements if "demand_lines" in s[0]]
    # Later pages continue from the last key rather than counting rows off
    # (SQLite's dialect writes LIMIT ? OFFSET ? with an offset of 0).
    assert "OFFSET" not in query or parameters[-1] == 0
    assert "demand_lines.id >" in query


def test_long_lists_of_alternatives_as_bi_tools_send_them(world: World) -> None:
    visible = rows_of(world.database, Series, [world.ids["main"], world.ids["second"]])
    wanted = {"A-1", "A-2", "a_4"}
    picks = [f"Sku eq 'X-{i}'" for i in range(1500)] + [f"Sku eq '{s}'" for s in sorted(wanted)]
    got = ids_of(world.values("/odata/Series?$filter=" + _q(" or ".join(picks))))
    assert got == [s.id for s in visible if s.sku in wanted]
    # Alternatives that are not one property's values are taken up to the limit.
    mixed = " or ".join(f"(Sku eq 'A-{i}' and LeadTimeDays ge 3)" for i in range(450))
    got = ids_of(world.values("/odata/Series?$filter=" + _q(mixed)))
    assert got == [s.id for s in visible if s.sku.startswith("A-") and _gt(s.lead_time_days, 2)]
    too_many = " or ".join(f"(Sku eq 'A-{i}' and LeadTimeDays ge 3)" for i in range(501))
    response = world.get("/odata/Series?$filter=" + _q(too_many))
    assert response.status_code == 400
    assert "at most 500" in response.get_json()["error"]["message"]
    nested = "not " * 120 + "(Sku eq 'A-1')"
    response = world.get("/odata/Series?$filter=" + _q(nested))
    assert response.status_code == 400
    assert "nested" in response.get_json()["error"]["message"]
