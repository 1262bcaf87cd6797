"""Hostile input over HTTP: fuzzed webhooks, `$filter`s and query strings, oversized bodies.

One `accupredix serve` on a seeded store (two organisations, runs, series,
forecasts, safety stock, alerts, synced demand lines, Shopify connectors)
takes generated requests over real HTTP. Whatever arrives, the answer is a
documented refusal in the route's error format or a success: never a 500,
never a traceback or SQL text, and nothing is recorded that was not signed.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import select

from app.services import connectors as connector_service
from app.store.db import Database
from app.store.models import WebhookEvent
from embedded_api.api_v1 import api
from tests.app.webhooks.support import APP_SECRET, SHOP
from tests.embedded_api.api_support import seed_world
from tests.fakes.rest_api import serve_rest_api
from tests.reliability.hostile_inputs import (
    ADVERSARIAL_FILTERS,
    OUT_OF_RANGE_FILTERS,
    Delivery,
    deliveries,
    filter_expression,
    query_value,
    shopify_signature,
)
from tests.reliability.stores import VAULT, add_rest_connector, add_shopify_connector
from tests.reliability.support import FIGURES, SCALE, Serve, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

EXAMPLES = 150 * SCALE
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
# Text that tells an outsider how the server is built: a stack trace, the SQL
# layer's messages, driver names. (Not SQL words: a refusal may quote the input.)
LEAK = re.compile(
    r"Traceback|File \"|sqlalchemy|sqlite3?\b|psycopg|OperationalError|ProgrammingError|"
    r"IntegrityError|\[SQL:|near \".*\": syntax error",
    re.IGNORECASE,
)
PROBLEM_JSON = "application/problem+json"
API_BODY_LIMIT = 64 * 1024
WEBHOOK_BODY_LIMIT = 1024 * 1024
SERVER_BODY_LIMIT = 8 * 1024 * 1024
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


@dataclass
class Target:
    """The running server, its store, and the names of what was seeded."""

    server: Serve
    database: Database
    keys: dict[str, str]
    ids: dict[str, int]
    session: requests.Session = field(default_factory=requests.Session)

    def send(
        self, method: str, path: str, key: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """One request; a 429 (the per-key rate limit) is waited out, as a client would."""
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {self.keys[key]}"
        for _ in range(10):
            response = self.session.request(
                method, self.server.url + path, headers=headers, timeout=60, **kwargs
            )
            FIGURES.add("requests served")
            if response.status_code != 429:
                return response
            time.sleep(float(response.headers.get("Retry-After", "1")))
        raise AssertionError(f"{method} {path}: still rate-limited after 10 tries")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data = tmp_path_factory.mktemp("hostile") / "data"
    data.mkdir()
    database = Database(f"sqlite:///{data / 'accupredix.db'}")
    database.upgrade()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACCUPREDIX_DATA_DIR", str(data))
        world = seed_world(database)
    ids = dict(world.ids)
    with serve_rest_api(30, pagination="link_header") as source:
        ids["rest"] = add_rest_connector(
            database, source, "orders", schedule=None, workspace_id=ids["second"]
        )
        connector_service.sync_now(database, VAULT, ids["rest"])
    ids["shop"] = add_shopify_connector(database)
    ids["disabled_shop"] = add_shopify_connector(database)
    connector_service.update_connector(database, VAULT, ids["disabled_shop"], enabled=False)
    server = Serve(data).start()
    target = Target(server, database, dict(world.keys), ids)
    try:
        yield target
    finally:
        target.session.close()
        stopped = server.stop()
        database.dispose()
    assert stopped == 0, server.output()


def assert_clean_refusal(response: requests.Response, what: str) -> None:
    """No server error (501, valid OData the feed does not do, is an answer) and no leak."""
    status = response.status_code
    assert status < 500 or status == 501, f"{what}: {status} {response.text[:300]}"
    assert not LEAK.search(response.text), f"{what}: {response.text[:300]}"


# --- webhooks ------------------------------------------------------------------------------


def webhook_path(target: Target, kind: str) -> str:
    connector = {
        "shop": target.ids["shop"],
        "disabled": target.ids["disabled_shop"],
        "rest": target.ids["rest"],
        "missing": 987_654,
        "zero": 0,
        "too-large": 2**31,
        "huge": 10**30,
    }[kind]
    return f"/webhooks/connectors/shopify/{connector}"


def test_the_webhook_route_records_signed_deliveries_only(target: Target) -> None:
    """Random bodies and headers, signed right or in the ways other tools got wrong."""
    recorded: dict[str, Delivery] = {}
    answers: Counter[tuple[str, int]] = Counter()
    kinds = ["shop", "shop", "shop", "disabled", "rest", "missing", "zero", "too-large", "huge"]

    @hypothesis.given(delivery=deliveries(APP_SECRET, SHOP, kinds))
    @SETTINGS
    def deliver(delivery: Delivery) -> None:
        path = webhook_path(target, delivery.target)
        response = target.send("POST", path, data=delivery.body, headers=delivery.headers)
        answers[(delivery.target, response.status_code)] += 1
        assert_clean_refusal(response, f"delivery to {delivery.target}")
        if delivery.target != "shop":
            # One answer for every connector that takes no deliveries: it names none.
            assert response.status_code == 404, response.text
            assert response.headers["Content-Type"] == PROBLEM_JSON
            return
        if not delivery.signed:
            assert response.status_code == 401, response.text
            assert response.headers["Content-Type"] == PROBLEM_JSON
            return
        assert response.status_code == 200, response.text
        outcome = response.json()["status"]
        assert outcome in ("recorded", "duplicate", "ignored"), outcome
        if outcome == "recorded":
            assert delivery.delivery_id not in recorded, "a delivery id recorded twice"
            recorded[delivery.delivery_id] = delivery

    deliver()
    assert answers[("shop", 200)] > 5, answers
    assert answers[("shop", 401)] > 5, answers

    # What is stored is exactly what was signed and recorded, each applied or
    # failed with a message for the operator, its body kept when it failed.
    def settled() -> list[WebhookEvent] | None:
        events = stored_events(target.database)
        return events if all(e.status != "received" for e in events) else None

    events = wait_for(settled, 60, "the applier to settle every recorded delivery")
    assert {e.delivery_id for e in events} == set(recorded)
    for event in events:
        assert event.connector_id == target.ids["shop"]
        if event.status == "failed":
            assert event.error, event.delivery_id
            assert bytes(event.body) == recorded[event.delivery_id].body
        else:
            assert event.status == "applied", event.status
    FIGURES.add("webhooks accepted", answers[("shop", 200)])
    assert target.server.process.poll() is None


def stored_events(database: Database) -> list[WebhookEvent]:
    with database.session() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


# --- OData $filter ----------------------------------------------------------------------------


def entity_properties(target: Target) -> dict[str, list[str]]:
    """Each entity set's property names, read from the served `$metadata`."""
    response = target.send("GET", "/odata/$metadata", "odata")
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    types = {
        element.get("Name"): [p.get("Name") for p in element.iter(f"{EDM}Property")]
        for element in root.iter(f"{EDM}EntityType")
    }
    return {
        entity_set.get("Name"): types[entity_set.get("EntityType").rsplit(".", 1)[-1]]
        for entity_set in root.iter(f"{EDM}EntitySet")
    }


def check_odata_answer(response: requests.Response, what: str) -> None:
    assert_clean_refusal(response, what)
    if response.status_code == 200:
        assert isinstance(response.json()["value"], list)
        return
    # A refusal is OData JSON that says what to change, never another shape.
    assert response.status_code in (400, 501), f"{what}: {response.status_code} {response.text}"
    assert response.headers["Content-Type"].startswith("application/json"), what
    error = response.json()["error"]
    assert error["code"], what
    assert error["message"], what


def test_odata_filters_are_answered_or_refused_never_broken(target: Target) -> None:
    properties = entity_properties(target)
    assert {"Series", "Forecasts", "DemandLines"} <= set(properties)
    statuses: Counter[int] = Counter()

    @st.composite
    def queries(draw: st.DrawFn) -> tuple[str, str]:
        entity_set = draw(st.sampled_from(sorted(properties)))
        return entity_set, draw(filter_expression(properties[entity_set]))

    @hypothesis.given(query=queries())
    @SETTINGS
    def ask(query: tuple[str, str]) -> None:
        entity_set, expression = query
        response = target.send(
            "GET", f"/odata/{entity_set}", "odata", params={"$filter": expression, "$top": "5"}
        )
        statuses[response.status_code] += 1
        check_odata_answer(response, f"{entity_set} $filter={expression[:200]!r}")

    ask()
    assert statuses[200] > 0, statuses
    assert statuses[400] > 0, statuses


@pytest.mark.parametrize("expression", ADVERSARIAL_FILTERS, ids=lambda e: e[:40])
def test_adversarial_filters_are_refused_cleanly(target: Target, expression: str) -> None:
    response = target.send(
        "GET", "/odata/Series", "odata", params={"$filter": expression, "$top": "5"}
    )
    check_odata_answer(response, expression[:200])


def test_integers_no_column_holds_are_refused_not_failed(target: Target) -> None:
    """A literal past 64 bits is a client's mistake: a 400 that says so, not a 500."""
    answers = {}
    for expression in OUT_OF_RANGE_FILTERS:
        entity_set = "Alerts" if expression.startswith("Id") else "Series"
        response = target.send(
            "GET", f"/odata/{entity_set}", "odata", params={"$filter": expression}
        )
        answers[expression] = response.status_code
    assert answers == dict.fromkeys(OUT_OF_RANGE_FILTERS, 400)


def test_a_quote_in_a_filter_is_data_not_sql(target: Target) -> None:
    """A literal that would close a SQL string finds no row rather than every row."""
    everything = target.send("GET", "/odata/Series", "odata").json()["value"]
    assert everything, "the seeded organisation has series"
    for expression in ("Sku eq 'x'' or ''1''=''1'", "Sku eq 'SKU-1'' --'"):
        response = target.send("GET", "/odata/Series", "odata", params={"$filter": expression})
        assert response.status_code == 200, response.text
        assert response.json()["value"] == []


# --- REST query parameters --------------------------------------------------------------------

READ_OPERATIONS = [op for op in api.operations if op.method == "GET"]


def path_for(template: str, ids: dict[str, int], choice: str) -> str:
    seeded = {"run_id": ids["r2"], "series_id": ids["s1"], "alert_id": ids["a_drop"]}
    seeded["connector_id"] = ids["rest"]
    hostile = {"zero": 0, "huge": 10**25, "max": 2**31 - 1}
    others = {"run_id": ids["r_other"], "series_id": ids["s_other"], "connector_id": ids["c_other"]}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if choice == "seeded":
            return str(seeded.get(name, 1))
        if choice == "other-org":
            return str(others.get(name, ids["a_other"]))
        return str(hostile[choice])

    return re.sub(r"\{(\w+)\}", fill, template)


def test_query_parameters_beyond_the_schema_get_documented_answers(target: Target) -> None:
    """Huge numbers, unicode, NUL bytes, repeated and unknown parameters on every GET."""
    statuses: Counter[int] = Counter()

    @st.composite
    def get_requests(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
        operation = draw(st.sampled_from(READ_OPERATIONS))
        declared = [p.name for p in operation.params if p.location == "query"]
        names = st.one_of(
            st.sampled_from(declared) if declared else st.nothing(),
            st.sampled_from(["limit", "cursor", "since", "x", "LIMIT", "limit[]", "\u00e9", ""]),
        )
        params = draw(st.lists(st.tuples(names, query_value()), max_size=4))
        choice = draw(st.sampled_from(["seeded", "seeded", "other-org", "zero", "huge", "max"]))
        return "/api/v1" + path_for(operation.path, target.ids, choice), params

    @hypothesis.given(request=get_requests())
    @SETTINGS
    def ask(request: tuple[str, list[tuple[str, str]]]) -> None:
        path, params = request
        response = target.send("GET", path, "both", params=params)
        statuses[response.status_code] += 1
        what = f"GET {path} {params!r}"[:300]
        assert_clean_refusal(response, what)
        assert response.status_code in (200, 400, 404, 409), f"{what}: {response.status_code}"
        if response.status_code != 200:
            assert response.headers["Content-Type"] == PROBLEM_JSON, what
            assert response.json()["detail"], what

    ask()
    assert statuses[200] > 0, statuses
    assert statuses[400] > 0, statuses


def without_cursor(case: schemathesis.Case) -> schemathesis.Case:
    """A valid cursor is opaque: only the server makes one, so a generated one is dropped."""
    if case.query:
        case.query.pop("cursor", None)
    return case


def without_empty_values(case: schemathesis.Case) -> bool:
    return all(value not in ("", None) for value in (case.query or {}).values())


SEEDED_PATH_IDS = {"run_id": "r2", "series_id": "s1", "alert_id": "a_drop", "connector_id": "rest"}


def test_schemathesis_over_http_finds_every_answer_documented(target: Target) -> None:
    """The served document, fuzzed through Waitress as a client would, not the WSGI app."""
    schema = schemathesis.openapi.from_url(target.server.url + "/api/v1/openapi.json")
    schema.config.generation.update(with_security_parameters=False)
    headers = {"Authorization": f"Bearer {target.keys['both']}"}
    for operation_path, methods in schema.raw_schema["paths"].items():
        for method in methods:
            operation = schema[operation_path][method.upper()]
            seeded = {
                name: target.ids[SEEDED_PATH_IDS[name]]
                for name in SEEDED_PATH_IDS
                if "{" + name + "}" in operation_path
            }
            strategies = [
                operation.as_strategy(GenerationMode.POSITIVE).map(without_cursor),
                # The API documents an empty value as an absent one, not as invalid.
                operation.as_strategy(GenerationMode.NEGATIVE).filter(without_empty_values),
            ]
            if seeded:
                strategies.append(
                    operation.as_strategy(GenerationMode.POSITIVE, path_parameters=seeded).map(
                        without_cursor
                    )
                )

            @hypothesis.given(case=st.one_of(strategies))
            @hypothesis.settings(SETTINGS, max_examples=25 * SCALE)
            def exercise(case: schemathesis.Case) -> None:
                response = case.call(headers=headers, timeout=60)
                FIGURES.add("requests served")
                if response.status_code == 429:
                    time.sleep(float(response.headers.get("Retry-After", "1")))
                case.validate_response(response)

            exercise()


@pytest.mark.parametrize(
    "query",
    [
        "limit=1&limit=2",
        "limit=%00",
        "since=%00",
        "limit=99999999999999999999999999",
        "since=9999-12-31T23:59:59-14:00",
        "status=%C3%A9",
        "cursor=" + "A" * 600,
        "%FF%FE=1",
        "&".join(f"x{n}=1" for n in range(2000)),
    ],
    ids=lambda q: q[:30],
)
def test_malformed_query_strings_are_refused_in_plain_words(target: Target, query: str) -> None:
    response = target.send("GET", f"/api/v1/runs?{query}", "both")
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == PROBLEM_JSON
    assert_clean_refusal(response, query)
    assert "Invalid request parameters" in response.json()["detail"]


# --- oversized bodies -------------------------------------------------------------------------


def post_routes(target: Target) -> dict[str, tuple[str, str | None, int]]:
    """Every route that takes a POST: its path, the key it needs and its body limit."""
    routes = {
        f"POST /api/v1{op.path}": (
            "/api/v1" + path_for(op.path, target.ids, "seeded"),
            "both",
            API_BODY_LIMIT,
        )
        for op in api.operations
        if op.method == "POST"
    }
    routes["POST /webhooks/connectors/shopify/{id}"] = (
        webhook_path(target, "shop"),
        None,
        WEBHOOK_BODY_LIMIT,
    )
    return routes


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked: no Content-Length to refuse it by."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


@pytest.mark.parametrize("how", ["declared", "chunked"])
def test_every_post_route_refuses_an_oversized_body(target: Target, how: str) -> None:
    refused = {}
    for route, (path, key, limit) in post_routes(target).items():
        size = limit + 1024
        body = b" " * size if how == "declared" else chunks(size)
        headers = {"Content-Type": "application/json"}
        if key is None:
            headers["X-Shopify-Hmac-Sha256"] = shopify_signature(APP_SECRET, b" " * size)
        response = target.send("POST", path, key, data=body, headers=headers)
        assert_clean_refusal(response, route)
        refused[route] = (response.status_code, response.headers.get("Content-Type"))
    assert refused == dict.fromkeys(refused, (413, PROBLEM_JSON))


def test_a_body_past_the_servers_backstop_is_refused_before_it_is_read(target: Target) -> None:
    """Past 8 MB Waitress itself answers 413, whatever the route, and stays up."""
    for path, key in [
        ("/api/v1/runs", "both"),
        (webhook_path(target, "shop"), None),
        ("/odata/Series", "odata"),
        ("/healthz", None),
    ]:
        response = target.send("POST", path, key, data=b" " * (SERVER_BODY_LIMIT + 1))
        assert response.status_code == 413, path
        assert_clean_refusal(response, path)
    assert target.server.healthy()


def test_the_odata_feed_refuses_writes_whatever_their_size(target: Target) -> None:
    for size in (10, API_BODY_LIMIT + 1):
        response = target.send("POST", "/odata/Series", "odata", data=b"{" * size)
        assert response.status_code in (405, 413), response.text
        assert set(response.json()) == {"error"}
        assert_clean_refusal(response, f"POST /odata/Series with {size} bytes")
