"""The OpenAPI document: valid 3.1, describing exactly the routes the application has."""

from __future__ import annotations

import json
import re

import jsonschema_rs
import pytest
import schemathesis
from schemathesis.core.failures import Failure, FailureGroup

from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world

# The /api/v1 rows of the HTTP table in the design, which clients are promised.
CONTRACT = {
    ("GET", "/runs"),
    ("POST", "/runs"),
    ("GET", "/runs/{run_id}"),
    ("GET", "/alerts"),
    ("POST", "/alerts/{alert_id}/read"),
    ("GET", "/series"),
    ("GET", "/series/{series_id}"),
    ("GET", "/series/{series_id}/forecast"),
    ("GET", "/runs/{run_id}/safety-stock/{series_id}"),
    ("GET", "/connectors"),
    ("GET", "/connectors/{connector_id}"),
    ("GET", "/openapi.json"),
}
# A value each query parameter takes, by its schema.
VALID = {"integer": "1", "boolean": "true", "date-time": "2025-01-31T09:30:00+01:00"}


@pytest.fixture
def document(world: World) -> dict:
    response = world.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, spec)
        for path, item in document["paths"].items()
        for method, spec in item.items()
    ]


def test_the_document_is_valid_openapi_3_1(world: World, document: dict) -> None:
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(
            {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
        ), name


def test_every_reference_resolves(document: dict) -> None:
    text = json.dumps(document)
    for kind, name in re.findall(r'"#/components/(\w+)/([\w-]+)"', text):
        assert name in document["components"][kind], (kind, name)


def test_the_document_describes_exactly_the_routes_the_app_serves(
    world: World, document: dict
) -> None:
    assert world.app is not None
    routed = set()
    for rule in world.app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        routed.update((method, path) for method in rule.methods - {"HEAD", "OPTIONS"})
    documented = {(method, path) for method, path, _ in operations(document)}
    assert documented == routed
    assert documented == CONTRACT


def test_every_operation_is_described_with_its_errors(document: dict) -> None:
    ids = set()
    for method, path, spec in operations(document):
        ids.add(spec["operationId"])
        assert spec["summary"]
        assert spec["description"]
        responses = spec["responses"]
        assert any(code.startswith("2") for code in responses), (method, path)
        if spec.get("security") == []:
            continue
        assert {"401", "403", "429"} <= set(responses), (method, path)
        params = [p for p in spec.get("parameters", []) if p["in"] != "path"]
        if params or spec.get("requestBody"):
            assert "400" in responses
        if "{" in path:
            assert "404" in responses
        for code, response in responses.items():
            if code.startswith(("4", "5")):
                problem = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                assert list(problem["content"]) == ["application/problem+json"]
    assert len(ids) == len(operations(document))


def test_every_list_documents_its_pagination(document: dict) -> None:
    for method, path, spec in operations(document):
        if method != "GET" or "{" in path or path == "/openapi.json":
            continue
        names = {p["name"] for p in spec["parameters"]}
        assert {"limit", "cursor"} <= names, path
        ok = spec["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["type"] == "array"
        assert set(ok["headers"]) == {"Link", "X-Next-Cursor"}


def test_every_documented_query_parameter_is_accepted(world: World, document: dict) -> None:
    for method, path, spec in operations(document):
        for param in spec.get("parameters", []):
            if param["in"] != "query":
                continue
            schema = param["schema"]
            value = schema.get("enum", [None])[0] or VALID.get(
                schema.get("format", schema["type"]), "x"
            )
            if param["name"] == "cursor":
                continue  # opaque: only the server makes them (see the pagination tests)
            url = "/api/v1" + path.format(run_id=1, series_id=1, alert_id=1, connector_id=1)
            response = world.client.open(
                f"{url}?{param['name']}={value}", method=method, headers=world.auth("both")
            )
            assert response.status_code != 400, (method, path, param["name"], response.get_json())


def test_the_conformance_check_catches_a_response_that_drifts(world: World) -> None:
    url = f"/api/v1/runs/{world.ids['r2']}"
    drifted = world.client.get(url, headers=world.auth())
    run = drifted.get_json()
    del run["status"]
    drifted.set_data(json.dumps(run))
    with pytest.raises((Failure, FailureGroup)):
        world.conforms(drifted, "GET", url)
    undocumented = world.client.get(url, headers=world.auth())
    undocumented.status_code = 418
    with pytest.raises(AssertionError, match="not documented"):
        world.conforms(undocumented, "GET", url)
