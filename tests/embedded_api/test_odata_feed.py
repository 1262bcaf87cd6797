"""The feed as a BI tool meets it: service document, $metadata, JSON shape, auth and errors."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from app.config import load_config
from app.runtime import Runtime
from app.store.db import Database
from app.vault import Vault
from embedded_api.odata import views
from embedded_api.odata.entities import ENTITY_SETS, Edm
from embedded_api.odata.serialize import PageWriter
from tests.embedded_api.odata_support import World, basic, build_world, feed_app

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
SETS = ["Series", "Forecasts", "Runs", "Alerts", "SafetyStock", "DemandLines"]


@pytest.fixture
def world(sqlite_database: Database) -> World:
    return build_world(sqlite_database)


def error_of(response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["OData-Version"] == "4.0"
    body = response.get_json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    return body["error"]


def test_service_document_lists_every_set(world: World) -> None:
    for path in ("/odata/", "/odata"):
        response = world.get(path)
        assert response.status_code == 200
        assert response.headers["OData-Version"] == "4.0"
        assert response.headers["Content-Type"].startswith(
            "application/json;odata.metadata=minimal"
        )
        body = response.get_json()
        assert body["@odata.context"] == "http://localhost/odata/$metadata"
        assert [(s["name"], s["kind"], s["url"]) for s in body["value"]] == [
            (name, "EntitySet", name) for name in SETS
        ]


def test_metadata_declares_keys_types_and_navigation(world: World) -> None:
    response = world.get("/odata/$metadata", headers={"Accept": "application/json"})
    assert response.status_code == 200
    # Power BI reads $metadata as XML only, whatever it put in Accept.
    assert response.headers["Content-Type"].startswith("application/xml")
    assert response.headers["OData-Version"] == "4.0"
    root = ET.fromstring(response.data)
    assert root.tag == f"{EDMX}Edmx"
    assert root.get("Version") == "4.0"
    (schema,) = root.iter(f"{EDM}Schema")
    assert schema.get("Namespace") == "AccuPredix"
    types = {t.get("Name"): t for t in schema.iter(f"{EDM}EntityType")}
    (container,) = schema.iter(f"{EDM}EntityContainer")
    sets = {s.get("Name"): s for s in container.iter(f"{EDM}EntitySet")}
    assert list(sets) == SETS
    for name, entity_set in sets.items():
        declared = ENTITY_SETS[name]
        entity_type = types[entity_set.get("EntityType").removeprefix("AccuPredix.")]
        assert [ref.get("Name") for ref in entity_type.iter(f"{EDM}PropertyRef")] == ["Id"]
        properties = {p.get("Name"): p for p in entity_type.iter(f"{EDM}Property")}
        assert list(properties) == [p.name for p in declared.properties]
        assert properties["Id"].get("Nullable") == "false"
        assert {p.get("Type") for p in properties.values()} <= {e.value for e in Edm}
        for nav in entity_type.iter(f"{EDM}NavigationProperty"):
            (constraint,) = nav.iter(f"{EDM}ReferentialConstraint")
            assert constraint.get("Property") in properties
            assert nav.get("Type").removeprefix("AccuPredix.") in types
            bindings = {b.get("Path"): b.get("Target") for b in entity_set}
            assert bindings[nav.get("Name")] in sets
    forecast = {p.get("Name"): p for p in types["Forecast"].iter(f"{EDM}Property")}
    assert forecast["PeriodStart"].get("Type") == "Edm.Date"
    assert forecast["Yhat"].get("Type") == "Edm.Double"
    line = {p.get("Name"): p for p in types["DemandLine"].iter(f"{EDM}Property")}
    assert (line["Quantity"].get("Type"), line["Quantity"].get("Scale")) == ("Edm.Decimal", "4")
    assert line["UnitPrice"].get("Nullable") is None  # nullable is the default
    assert line["SourceUpdatedAt"].get("Type") == "Edm.DateTimeOffset"


def test_rows_are_odata_json(world: World) -> None:
    response = world.get("/odata/DemandLines?$top=1&$filter=Quantity lt 0")
    row = response.get_json()["value"][0]
    assert row["OrderDate"] == "2024-01-01"
    assert row["Quantity"] == -1.5
    assert row["UnitPrice"] is None
    assert row["SourceUpdatedAt"] == "2024-03-01T00:30:00Z"
    assert b'"Quantity":-1.5000' in response.data  # decimals written exactly
    run = world.get(f"/odata/Runs({world.ids['run']})").get_json()
    assert run["@odata.context"] == "http://localhost/odata/$metadata#Runs/$entity"
    assert (run["Status"], run["CompletedAt"]) == ("complete", "2024-03-01T00:32:00Z")
    # IEEE754Compatible clients get Int64 and Decimal as strings.
    compatible = world.get(
        "/odata/DemandLines?$top=1&$filter=Quantity lt 0",
        headers={"Accept": "application/json;odata.metadata=minimal;IEEE754Compatible=true"},
    )
    assert "IEEE754Compatible=true" in compatible.headers["Content-Type"]
    assert compatible.get_json()["value"][0]["Quantity"] == "-1.5000"


def test_doubles_that_json_cannot_hold_are_strings() -> None:
    writer = PageWriter([ENTITY_SETS["Forecasts"].property("Yhat")], "sqlite")
    rows = [(v,) for v in (math.nan, math.inf, -math.inf, 0.1, None)]
    assert writer.collection({}, rows) == (
        b'{"value":[{"Yhat":"NaN"},{"Yhat":"INF"},{"Yhat":"-INF"},{"Yhat":0.1},{"Yhat":null}]}'
    )
    # A column of finite values is written as it is.
    assert writer.collection({}, [(0.1,), (2.5,)]) == b'{"value":[{"Yhat":0.1},{"Yhat":2.5}]}'


def test_decimals_are_exact_and_int64_strings_when_asked() -> None:
    lines = ENTITY_SETS["DemandLines"]
    props = [lines.property("Quantity"), lines.property("UnitPrice")]
    values = [
        (Decimal("-1.5000"), None),
        (Decimal("NaN"), Decimal("Infinity")),
        (Decimal("12345678901234.0001"), Decimal("-Infinity")),
    ]
    assert PageWriter(props, "postgresql").collection({}, values) == (
        b'{"value":[{"Quantity":-1.5000,"UnitPrice":null},'
        b'{"Quantity":"NaN","UnitPrice":"INF"},'
        b'{"Quantity":12345678901234.0001,"UnitPrice":"-INF"}]}'
    )
    compatible = PageWriter(props, "postgresql", ieee754_compatible=True)
    assert compatible.collection({"@odata.count": 1}, values[:1]) == (
        b'{"@odata.count":1,"value":[{"Quantity":"-1.5000","UnitPrice":null}]}'
    )


def test_sqlite_driver_values_are_written_as_sqlalchemy_would_read_them() -> None:
    lines, alerts = ENTITY_SETS["DemandLines"], ENTITY_SETS["Alerts"]
    props = [
        lines.property("Quantity"),
        lines.property("OrderDate"),
        lines.property("SourceUpdatedAt"),
        alerts.property("Read"),
    ]
    # SQLite's own forms: a whole decimal as an integer, dates as text, flags as 0/1.
    rows = [(5, "2024-01-01", "2024-03-01 00:30:00.000000", 1), (-1.5, "2024-01-02", None, 0)]
    assert PageWriter(props, "sqlite").collection({}, rows) == (
        b'{"value":[{"Quantity":5.0000,"OrderDate":"2024-01-01",'
        b'"SourceUpdatedAt":"2024-03-01T00:30:00Z","Read":true},'
        b'{"Quantity":-1.5000,"OrderDate":"2024-01-02","SourceUpdatedAt":null,"Read":false}]}'
    )


def test_absolute_urls_use_the_public_url(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(sqlite_database)
    monkeypatch.setenv("ACCUPREDIX_APP_PUBLIC_URL", "https://forecast.example.com/accupredix")
    runtime = Runtime(config=load_config(), database=sqlite_database, vault=Vault(bytes(32)))
    world.app = feed_app(runtime)
    root = "https://forecast.example.com/accupredix/odata/"
    assert world.get("/odata/").get_json()["@odata.context"] == f"{root}$metadata"
    page = world.get("/odata/Series", headers={"Prefer": "odata.maxpagesize=5"}).get_json()
    assert page["@odata.context"] == f"{root}$metadata#Series"
    assert page["@odata.nextLink"].startswith(f"{root}Series?$skiptoken=")


@pytest.mark.parametrize(
    "how", ["bearer", "basic", "basic-empty-user", "query"], ids=lambda how: how
)
def test_the_feed_takes_the_key_as_bi_tools_send_it(world: World, how: str) -> None:
    key = world.keys["odata"]
    headers, path = {}, "/odata/Series?$top=1"
    if how == "bearer":
        headers = {"Authorization": f"Bearer {key}"}
    elif how == "basic":
        headers = basic(key, "any user name")
    elif how == "basic-empty-user":
        headers = basic(key, "")
    else:
        path += f"&api_key={key}"
    response = world.client.get(path, headers=headers)
    assert response.status_code == 200
    assert len(response.get_json()["value"]) == 1


def test_without_a_key_the_feed_asks_for_basic_credentials(world: World) -> None:
    for path in ("/odata/", "/odata/$metadata", "/odata/Series"):
        response = world.client.get(path)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="AccuPredix"')
        assert "API key" in error_of(response)["message"]
    response = world.client.get("/odata/Series", headers=basic("apx_wrong_key"))
    assert response.status_code == 401
    assert "not valid" in error_of(response)["message"]


def test_keys_without_the_scope_or_the_plan_are_refused(world: World) -> None:
    response = world.get("/odata/Series", key="read")
    assert response.status_code == 403
    assert "odata" in error_of(response)["message"]
    response = world.get("/odata/Series", key="starter")
    assert response.status_code == 403
    assert "Growth" in error_of(response)["message"]


def test_the_api_key_parameter_carries_over_to_next_links(world: World) -> None:
    key = world.keys["odata"]
    first = world.client.get(
        f"/odata/Series?api_key={key}&$filter=Location eq 'north-dc'",
        headers={"Prefer": "odata.maxpagesize=2"},
    )
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=2"
    link = first.get_json()["@odata.nextLink"]
    query = parse_qs(urlsplit(link).query)
    assert query["api_key"] == [key]
    assert query["$filter"] == ["Location eq 'north-dc'"]
    # Followed verbatim, with no credentials but those in the link.
    follow = world.client.get(
        link.removeprefix("http://localhost"), headers={"Prefer": "odata.maxpagesize=2"}
    )
    assert follow.status_code == 200
    assert len(follow.get_json()["value"]) == 2


@pytest.mark.parametrize(
    ("path", "status", "target", "words"),
    [
        ("/odata/Series?$expand=LastRun", 501, "$expand", "join on its key"),
        ("/odata/Series?$search=lamp", 501, "$search", "contains"),
        ("/odata/Series?$apply=groupby((Sku))", 501, "$apply", "aggregat"),
        ("/odata/Series?@p=1", 501, "@p", "alias"),
        ("/odata/Series?$Filter=Sku eq 'A'", 400, "$Filter", "Did you mean $filter"),
        ("/odata/Series?$top=1&$top=2", 400, "$top", "only once"),
        ("/odata/Series?$top=-1", 400, "$top", "whole number"),
        ("/odata/Series?$skip=x", 400, "$skip", "whole number"),
        ("/odata/Series?$skip=123456789012345678901", 400, "$skip", "too large"),
        ("/odata/Series?$count=yes", 400, "$count", "true or false"),
        ("/odata/Series?$select=Nope", 400, "$select", "no property 'Nope'"),
        ("/odata/Series?$select=sku", 400, "$select", "Did you mean Sku"),
        ("/odata/Series?$select=LastRun/Status", 501, "$select", "property names only"),
        ("/odata/Series?$orderby=Sku sideways", 501, "$orderby", "asc or desc"),
        ("/odata/Series?$orderby=Sku,Sku", 400, "$orderby", "twice"),
        ("/odata/Series?$format=atom", 406, "$format", "JSON"),
        ("/odata/Series?$filter=", 400, "$filter", "empty"),
        ("/odata/Series?$filter=Sku eq", 400, "$filter", "position"),
        ("/odata/Series?$filter=Sku eq 'A", 400, "$filter", "cannot be read"),
        ("/odata/Series?$filter=Sku in ('A')", 400, "$filter", "('A',)"),
        ("/odata/Series?$filter=sku eq 'A'", 400, "$filter", "Did you mean Sku"),
        ("/odata/Series?$filter=Sku eq 5", 400, "$filter", "cannot be compared"),
        ("/odata/Series?$filter=Sku", 400, "$filter", "true/false condition"),
        ("/odata/Series?$filter=LeadTimeDays gt null", 400, "$filter", "eq or ne"),
        ("/odata/Series?$filter=Sku add 1 eq 2", 400, "$filter", "arithmetic needs numbers"),
        ("/odata/Series?$filter=foo(Sku)", 400, "$filter", "unknown function"),
        ("/odata/Series?$filter=round(ServiceLevel) eq 1", 501, "$filter", "supported:"),
        ("/odata/Series?$filter=concat(Sku,'x') eq 'A'", 501, "$filter", "concat"),
        ("/odata/Series?$filter=LastRun/Status eq 'complete'", 501, "$filter", "navigation"),
        ("/odata/Series?$filter=LastRun eq null", 501, "$filter", "LastRunId"),
        (
            "/odata/Series?$filter=TrendChangedAt gt 2024-03-01",
            400,
            "$filter",
            "date() on the date-time",
        ),
        (
            "/odata/Series?$filter=TrendChangedAt gt 2024-03-01T00:00:00",
            400,
            "$filter",
            "needs a time zone",
        ),
        ("/odata/DemandLines?$filter=OrderDate eq 2024-02-30", 400, "$filter", "not a valid"),
    ],
)
def test_unsupported_and_malformed_requests_are_refused_clearly(
    world: World, path: str, status: int, target: str, words: str
) -> None:
    response = world.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    error = error_of(response)
    assert error.get("target") == target
    assert words.lower() in error["message"].lower()


def test_json_format_is_accepted(world: World) -> None:
    for value in ("json", "application/json", "application/json;odata.metadata=minimal"):
        response = world.get(f"/odata/Series?$top=1&$format={value}")
        assert response.status_code == 200, value
    assert world.get("/odata/$metadata?$format=json").status_code == 406


def test_entities_by_key_and_navigation(world: World) -> None:
    forecast = world.get("/odata/Forecasts?$top=1").get_json()["value"][0]
    series = world.get(f"/odata/Forecasts({forecast['Id']})/Series").get_json()
    assert series["@odata.context"] == "http://localhost/odata/$metadata#Series/$entity"
    assert series["Id"] == forecast["SeriesId"]
    assert series["Sku"] == forecast["Sku"]
    run = world.get(f"/odata/Forecasts(Id={forecast['Id']})/Run?$select=Status").get_json()
    assert run == {
        "@odata.context": "http://localhost/odata/$metadata#Runs(Status)/$entity",
        "Status": "complete",
    }
    no_run = world.get("/odata/Series(1)/LastRun")
    assert no_run.status_code == 204
    assert no_run.data == b""
    # Another organisation's rows do not exist for this key.
    missing = world.get(f"/odata/Series({world.ids['foreign_series']})")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "NotFound"
    assert (
        world.get(f"/odata/Series({world.ids['foreign_series']})", key="other").status_code == 200
    )
    assert world.get("/odata/Series(x)").status_code == 400
    assert "Series(Id=1)" in error_of(world.get("/odata/Series(Sku=1)"))["message"]
    assert world.get("/odata/Series(1)/Sku").status_code == 501
    assert world.get("/odata/Series(1)/Nope").status_code == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/odata/Nope", 404),
        ("/odata/series", 404),
        ("/odata/$batch", 501),
        ("/odata/Series/Nope", 404),
    ],
)
def test_unknown_resources_answer_in_odata_form(world: World, path: str, status: int) -> None:
    response = world.get(path)
    assert response.status_code == status
    error_of(response)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_feed_is_read_only(world: World, method: str) -> None:
    response = getattr(world.client, method)(
        "/odata/Series(1)", headers=basic(world.keys["odata"]), json={"Sku": "X"}
    )
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert "read-only" in error_of(response)["message"]


def test_unexpected_errors_hide_internals(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("driver said: password=hunter2 at db.internal")

    monkeypatch.setattr(views, "_rows", explode)
    response = world.get("/odata/Series")
    assert response.status_code == 500
    error = error_of(response)
    assert "hunter2" not in response.get_data(as_text=True)
    assert "server log" in error["message"]
    assert any(r.levelname == "ERROR" for r in caplog.records)


def test_tableau_style_pull_without_select_or_expand(world: World) -> None:
    pages = world.follow("/odata/Forecasts", headers={"Prefer": "odata.maxpagesize=10"})
    rows = [row for page in pages for row in page["value"]]
    count = world.get("/odata/Forecasts/$count").get_data(as_text=True)
    assert len(pages) > 1
    assert len(rows) == int(count) == len({row["Id"] for row in rows})
    assert all(page["@odata.context"].endswith("$metadata#Forecasts") for page in pages)
