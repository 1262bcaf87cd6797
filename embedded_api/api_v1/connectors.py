"""``/connectors``: configured data sources and their status, secrets masked."""

from __future__ import annotations

from flask import Response, current_app

from app.services import connectors as connector_service
from app.services import series as series_service
from app.services.errors import NotFound
from embedded_api.api_v1 import params
from embedded_api.api_v1.operations import Operation, Reply, api, principal
from embedded_api.api_v1.pagination import ID, decode_cursor, page_response, split_page


def _own_workspaces() -> frozenset[int]:
    return series_service.organisation_workspace_ids(
        current_app.config["RUNTIME"].database, principal().organisation_id
    )


@api.operation(
    Operation(
        "GET",
        "/connectors",
        "listConnectors",
        "Connectors",
        "List connectors",
        "Connectors in the order they were added, with their status; secrets as ********.",
        (Reply(200, "A page of connectors.", "Connector", page=True),),
        params=(params.LIMIT, params.CURSOR),
    )
)
def list_connectors(limit: int, cursor: str | None) -> Response:
    position = decode_cursor(cursor, "connectors", (ID,))
    workspaces = _own_workspaces()
    # A site has a handful of connectors: the service lists them all, the page is cut here.
    rows = [
        item
        for item in connector_service.list_connectors(current_app.config["RUNTIME"].database)
        if item["workspace_id"] in workspaces and (position is None or item["id"] > position[0])
    ]
    page, next_position = split_page(rows[: limit + 1], limit, lambda item: (item["id"],))
    return page_response(page, "connectors", next_position)


@api.operation(
    Operation(
        "GET",
        "/connectors/{connector_id}",
        "getConnector",
        "Connectors",
        "Show a connector",
        "One connector with its status; secrets as ********.",
        (Reply(200, "The connector.", "Connector"),),
        params=(params.path_id("connector_id", "The connector's id."),),
    )
)
def get_connector(connector_id: int) -> Response:
    connector = connector_service.get_connector(
        current_app.config["RUNTIME"].database, connector_id
    )
    if connector["workspace_id"] not in _own_workspaces():
        raise NotFound(f"No connector with id {connector_id}.")
    return current_app.json.response(connector)
