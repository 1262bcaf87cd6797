"""Schemathesis against the served OpenAPI document: no 500, nothing outside the schema.

Each operation gets a bounded number of generated requests: valid ones,
invalid ones (negative mode: wrong types, out-of-range values, extra members)
and valid ones aimed at the seeded rows, so that successful answers are checked
as well as errors. Every request carries a key with all scopes; every response
goes through schemathesis' checks (status documented, content type, schema,
headers, no server error). Generation is deterministic so that CI answers the
same every time.

Schemathesis' own pytest decorators are not used: their fixture-based loader
reaches into pytest internals that pytest 9 no longer has.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from embedded_api.api_v1 import api
from tests.embedded_api import api_support
from tests.embedded_api.api_support import World

world = api_support.world

EXAMPLES_PER_OPERATION = 75

OPERATIONS = [(op.method, op.path) for op in api.operations]
# Path parameters that name seeded rows (see api_support), by parameter.
SEEDED = {"run_id": "r2", "series_id": "s1", "alert_id": "a_drop", "connector_id": "connector"}


def without_cursor(case: schemathesis.Case) -> schemathesis.Case:
    """A cursor is opaque: only the server makes valid ones, so a made-up one is refused.

    Valid cursors are exercised by the pagination tests; made-up ones stay in
    the negative cases, where a 400 is the expected answer.
    """
    if case.query:
        case.query.pop("cursor", None)
    return case


def without_empty_values(case: schemathesis.Case) -> bool:
    """Whether no query value is empty: the API documents an empty value as an absent one."""
    return all(value not in ("", None) for value in (case.query or {}).values())


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_generated_requests_get_documented_answers(world: World, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", world.app)
    # The key is ours (below); generated Authorization values would be replaced by it.
    schema.config.generation.update(with_security_parameters=False)
    operation = schema[path][method]
    seeded = {
        name: world.ids[SEEDED[name]] for name in SEEDED if "{" + name + "}" in operation.path
    }
    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE).map(without_cursor),
        operation.as_strategy(GenerationMode.NEGATIVE).filter(without_empty_values),
    ]
    if seeded:
        positive = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=seeded)
        strategies.append(positive.map(without_cursor))
    headers = world.auth("both")

    @hypothesis.given(case=st.one_of(strategies))
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def exercise(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers)

    exercise()
