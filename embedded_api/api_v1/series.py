"""``/series``: list and show demand series, and a series' forecast."""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app

from app.services import series as series_service
from embedded_api.api_v1 import params
from embedded_api.api_v1.operations import Operation, Reply, api, principal
from embedded_api.api_v1.pagination import (
    ID,
    TIMESTAMP,
    decode_cursor,
    page_response,
    split_page,
)
from embedded_api.api_v1.result_cache import ResultCache

SERIES_ID = params.path_id("series_id", "The series' id.")


@api.operation(
    Operation(
        "GET",
        "/series",
        "listSeries",
        "Series",
        "List demand series",
        "Newest first. With trend_changed_since it is the Zapier trigger 'trend changed': the "
        "series whose trend changed after that time, latest change first.",
        (Reply(200, "A page of series.", "Series", page=True),),
        params=(
            params.timestamp("trend_changed_since", "Only series whose trend changed after this."),
            params.text("sku", "Only this SKU (exact match)."),
            params.text("location", "Only this location (exact match)."),
            params.LIMIT,
            params.CURSOR,
        ),
    )
)
def list_series(
    trend_changed_since: dt.datetime | None,
    sku: str | None,
    location: str | None,
    limit: int,
    cursor: str | None,
) -> Response:
    by_change = trend_changed_since is not None
    kind, shape = ("series-by-change", (TIMESTAMP, ID)) if by_change else ("series", (ID,))
    rows = series_service.list_series(
        current_app.config["RUNTIME"].database,
        organisation_id=principal().organisation_id,
        trend_changed_since=trend_changed_since,
        sku=sku,
        location=location,
        limit=limit + 1,
        after=decode_cursor(cursor, kind, shape),
    )
    page, next_position = split_page(
        rows, limit, lambda item: series_service.series_key(item, by_change)
    )
    return page_response(page, kind, next_position)


@api.operation(
    Operation(
        "GET",
        "/series/{series_id}",
        "getSeries",
        "Series",
        "Show a demand series",
        "One series with its current trend.",
        (Reply(200, "The series.", "Series"),),
        params=(SERIES_ID,),
    )
)
def get_series(series_id: int) -> Response:
    item = series_service.get_series(
        current_app.config["RUNTIME"].database,
        series_id,
        organisation_id=principal().organisation_id,
    )
    return current_app.json.response(item)


@api.operation(
    Operation(
        "GET",
        "/series/{series_id}/forecast",
        "getSeriesForecast",
        "Series",
        "A series' forecast",
        "Zapier action 'series forecast': per period the point forecast with its 80% and 95% "
        "bounds, and the model used, from run_id or else from the latest complete run that "
        "forecast the series. 409 when run_id names a run that is not complete.",
        (Reply(200, "The forecast.", "Forecast"),),
        params=(
            SERIES_ID,
            params.integer("run_id", "The run to read; the latest complete run when left out."),
        ),
        errors=(409,),
    )
)
def get_series_forecast(series_id: int, run_id: int | None) -> Response:
    organisation_id = principal().organisation_id

    def render() -> bytes:
        forecast = series_service.series_forecast(
            current_app.config["RUNTIME"].database,
            series_id,
            run_id=run_id,
            organisation_id=organisation_id,
        )
        return current_app.json.dumps(forecast, separators=(",", ":")).encode()

    cache: ResultCache | None = current_app.config.get("RESULT_CACHE")
    body = render() if cache is None else cache.get((organisation_id, series_id, run_id), render)
    return Response(body, mimetype="application/json")
