"""The OpenAPI 3.1 document of ``/api/v1``, built from the declared operations.

Routes, parameter parsing and this document come from the same declarations
(``embedded_api.api_v1.operations``), so they cannot disagree; a test checks
that every route of the application is described and every description routed.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import Any

import app as core
from embedded_api.api_v1.operations import PREFIX, Api, Operation, Reply
from embedded_api.api_v1.pagination import NEXT_CURSOR_HEADER
from embedded_api.api_v1.schemas import COMPONENTS
from embedded_api.problems import PROBLEM_JSON

DESCRIPTION = """\
The AccuPredix REST API: forecast runs, demand alerts, series with their forecasts and \
safety stock, and connectors, for automation tools such as Zapier and Make.

**Authentication.** Send an API key as `Authorization: Bearer <key>`. GET needs the `read` \
scope, POST the `write` scope (`accupredix api-key create --scope read,write`). The \
organisation must be on the Growth plan or higher. Each key may make 50 requests a second \
(bursts of 200); past that the answer is 429 with Retry-After.

**Lists** answer a JSON array, newest first unless the operation says otherwise; every item \
has a stable `id`. A page holds `limit` items (50 by default, at most 500). When more follow, \
the `Link` header holds the next page's URL (`rel="next"`) and `X-Next-Cursor` the cursor \
to pass as `cursor`.

**Times** are ISO 8601 with an offset. Filters such as `since` take ISO 8601 with or \
without an offset (without one the time is UTC), or a date. A parameter left empty \
(`since=`) counts as absent; an unknown parameter is refused with 400.

**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status` and \
`detail`; a 400 names each bad parameter in `invalid_params`.
"""

_ERROR_HEADERS = {
    401: ("WWW-Authenticate",),
    405: ("Allow",),
    429: ("Retry-After",),
    503: ("Retry-After",),
}
_HEADERS: dict[str, dict[str, Any]] = {
    "Link": {
        "description": 'The next page: `<url>; rel="next"`. Absent on the last page.',
        "schema": {"type": "string"},
    },
    NEXT_CURSOR_HEADER: {
        "description": "The cursor of the next page. Absent on the last page.",
        "schema": {"type": "string"},
    },
    "Location": {"description": "The run's URL.", "schema": {"type": "string", "format": "uri"}},
    "Idempotent-Replayed": {
        "description": "true: this run was created by an earlier request with the same key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string"},
    },
    "Allow": {"description": "The methods the path takes.", "schema": {"type": "string"}},
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": _ref("schemas", "Problem")}},
    }
    headers = _ERROR_HEADERS.get(status)
    if headers:
        response["headers"] = {name: _ref("headers", name) for name in headers}
    return response


def _reply(reply: Reply) -> dict[str, Any]:
    schema: dict[str, Any] = _ref("schemas", reply.schema)
    headers = list(reply.headers)
    if reply.page:
        schema = {"type": "array", "items": schema}
        headers += ["Link", NEXT_CURSOR_HEADER]
    response: dict[str, Any] = {
        "description": reply.description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = {name: _ref("headers", name) for name in headers}
    return response


def _operation(operation: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "description": operation.description,
    }
    if operation.scope is None:
        spec["security"] = []
    else:
        spec["description"] += f"\n\nNeeds an API key with the `{operation.scope}` scope."
    if operation.params:
        spec["parameters"] = [param.as_openapi() for param in operation.params]
    if operation.body is not None:
        spec["requestBody"] = {
            "required": False,
            "description": operation.body.description,
            "content": {"application/json": {"schema": _ref("schemas", operation.body.name)}},
        }
    responses = {str(reply.status): _reply(reply) for reply in operation.replies}
    for status in operation.error_statuses:
        responses[str(status)] = _ref("responses", f"Problem{status}")
    spec["responses"] = responses
    return spec


@functools.lru_cache(maxsize=8)
def _document(api: Api, server: str) -> dict[str, Any]:
    operations = api.operations
    paths: dict[str, dict[str, Any]] = {}
    statuses: set[int] = set()
    schemas = dict(COMPONENTS)
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
        statuses.update(operation.error_statuses)
        if operation.body is not None:
            schemas[operation.body.name] = operation.body.schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AccuPredix API",
            "version": core.__version__,
            "description": DESCRIPTION,
        },
        "servers": [{"url": server}],
        "security": [{"apiKey": []}],
        "tags": [{"name": tag} for tag in dict.fromkeys(op.tag for op in operations)],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An AccuPredix API key: Authorization: Bearer apx_...",
                }
            },
            "schemas": schemas,
            "responses": {
                f"Problem{status}": _problem_response(status) for status in sorted(statuses)
            },
            "headers": _HEADERS,
        },
    }


def openapi_document(api: Api, base_url: str) -> dict[str, Any]:
    """The document for clients that reach the server at ``base_url``."""
    return _document(api, base_url.rstrip("/") + PREFIX)
