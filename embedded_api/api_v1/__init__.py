"""The REST API ``/api/v1``: one module per resource, all declared on one :class:`Api`."""

from __future__ import annotations

from flask import Response, current_app

from embedded_api.api_v1 import alerts, connectors, runs, series
from embedded_api.api_v1.links import external_base
from embedded_api.api_v1.operations import Operation, Reply, api

__all__ = ["alerts", "api", "connectors", "runs", "series"]


@api.operation(
    Operation(
        "GET",
        "/openapi.json",
        "getOpenApiDocument",
        "Meta",
        "This API's OpenAPI 3.1 document",
        "Import it into Zapier, Make or any OpenAPI client. Needs no API key.",
        (Reply(200, "The document.", "OpenApiDocument"),),
        scope=None,
    )
)
def openapi_json() -> Response:
    from embedded_api.openapi import openapi_document

    return current_app.json.response(openapi_document(api, external_base()))
