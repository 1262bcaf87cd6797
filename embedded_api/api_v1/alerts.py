"""``/alerts``: list demand alerts and mark them read."""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app

from app.services import alerts as alert_service
from embedded_api.api_v1 import params
from embedded_api.api_v1.operations import Operation, Reply, api, principal
from embedded_api.api_v1.pagination import ID, decode_cursor, page_response, split_page


@api.operation(
    Operation(
        "GET",
        "/alerts",
        "listAlerts",
        "Alerts",
        "List demand alerts, newest first",
        "Zapier trigger 'demand alert': unread=true, newest first, each with a stable id. "
        "`since` compares the time the alert was raised.",
        (Reply(200, "A page of alerts, newest first.", "Alert", page=True),),
        params=(
            params.boolean("unread", "true: unread alerts only; false: read alerts only."),
            params.timestamp("since", "Only alerts raised after this time."),
            params.LIMIT,
            params.CURSOR,
        ),
    )
)
def list_alerts(
    unread: bool | None, since: dt.datetime | None, limit: int, cursor: str | None
) -> Response:
    position = decode_cursor(cursor, "alerts", (ID,))
    rows = alert_service.list_alerts(
        current_app.config["RUNTIME"].database,
        organisation_id=principal().organisation_id,
        unread=unread,
        since=since,
        limit=limit + 1,
        before_id=position[0] if position else None,
    )
    page, next_position = split_page(rows, limit, lambda alert: (alert["id"],))
    return page_response(page, "alerts", next_position)


@api.operation(
    Operation(
        "POST",
        "/alerts/{alert_id}/read",
        "markAlertRead",
        "Alerts",
        "Mark a demand alert read",
        "Idempotent: marking a read alert again answers the same, and keeps the first read time.",
        (Reply(200, "The alert, read.", "Alert"),),
        scope="write",
        params=(params.path_id("alert_id", "The alert's id."),),
    )
)
def mark_alert_read(alert_id: int) -> Response:
    alert = alert_service.mark_read(
        current_app.config["RUNTIME"].database,
        alert_id,
        organisation_id=principal().organisation_id,
    )
    return current_app.json.response(alert)
