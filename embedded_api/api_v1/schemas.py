"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of what ``/api/v1`` answers."""

from __future__ import annotations

from typing import Any

from app.store.models import ConnectorStatus, RunStatus

TIMESTAMP = {"type": "string", "format": "date-time"}
OPTIONAL_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
ID = {"type": "integer", "minimum": 1}
OPTIONAL_ID = {"type": ["integer", "null"], "minimum": 1}
TEXT = {"type": "string"}
OPTIONAL_TEXT = {"type": ["string", "null"]}
NUMBER = {"type": "number"}
OPTIONAL_NUMBER = {"type": ["number", "null"]}


def _object(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A closed object: every property required (nullable ones say so), no others."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _described(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {**schema, "description": description}


RUN = _object(
    "A forecast run. It goes queued → running → complete or failed.",
    {
        "id": ID,
        "workspace_id": ID,
        "status": {"type": "string", "enum": [s.value for s in RunStatus]},
        "trigger": _described(TEXT, "What started it: manual, api, schedule."),
        "horizon": _described({"type": "integer"}, "Periods forecast ahead."),
        "frequency": _described(TEXT, "daily, weekly or monthly."),
        "series_total": {"type": "integer"},
        "series_done": {"type": "integer"},
        "error": _described(OPTIONAL_TEXT, "Why a failed run failed."),
        "created_at": TIMESTAMP,
        "started_at": OPTIONAL_TIMESTAMP,
        "completed_at": _described(OPTIONAL_TIMESTAMP, "When it completed or failed."),
        "duration_seconds": OPTIONAL_NUMBER,
    },
)

ALERT = _object(
    "A demand alert raised by a forecast run.",
    {
        "id": ID,
        "workspace_id": ID,
        "run_id": OPTIONAL_ID,
        "series_id": OPTIONAL_ID,
        "sku": OPTIONAL_TEXT,
        "location": OPTIONAL_TEXT,
        "kind": _described(TEXT, "spike, drop, forecast_shift or silent."),
        "severity": _described(TEXT, "info, warning or critical."),
        "message": _described(TEXT, "What happened, in plain words."),
        "details": {"type": "object", "description": "The figures behind the alert."},
        "read": {"type": "boolean"},
        "read_at": OPTIONAL_TIMESTAMP,
        "created_at": TIMESTAMP,
    },
)

SERIES = _object(
    "A demand series: one SKU at one location of a workspace.",
    {
        "id": ID,
        "workspace_id": ID,
        "sku": TEXT,
        "location": TEXT,
        "product_name": OPTIONAL_TEXT,
        "demand_class": _described(
            OPTIONAL_TEXT, "smooth, erratic, intermittent or lumpy; null before the first run."
        ),
        "trend": _described(OPTIONAL_TEXT, "up, flat or down; null before the first run."),
        "trend_changed_at": _described(
            OPTIONAL_TIMESTAMP, "When a run last found the trend changed."
        ),
        "trend_change_id": _described(
            OPTIONAL_TEXT,
            "Unique per trend change: deduplicate on it for an automation that should fire on "
            "every change of the same series (id stays the series').",
        ),
        "service_level": _described(
            OPTIONAL_NUMBER, "Override of the workspace's service level, or null."
        ),
        "lead_time_days": _described(
            {"type": ["integer", "null"]}, "Override of the workspace's lead time, or null."
        ),
        "last_run_id": OPTIONAL_ID,
    },
)

FORECAST_PERIOD = _object(
    "One forecast period with its 80% and 95% prediction intervals.",
    {
        "period_start": {"type": "string", "format": "date"},
        "point": NUMBER,
        "lo80": NUMBER,
        "hi80": NUMBER,
        "lo95": NUMBER,
        "hi95": NUMBER,
    },
)

FORECAST = _object(
    "A series' forecast from one complete run.",
    {
        "series_id": ID,
        "run_id": ID,
        "sku": TEXT,
        "location": TEXT,
        "frequency": TEXT,
        "model": _described(TEXT, "The model the run chose for this series."),
        "generated_at": OPTIONAL_TIMESTAMP,
        "periods": {"type": "array", "items": {"$ref": "#/components/schemas/ForecastPeriod"}},
    },
)

_STOCK_FIGURES = {
    "method": _described(
        TEXT,
        "cv_sigma (z·σ·√L with σ from cross-validation errors) or forecast_quantile "
        "(the service-level quantile of lead-time demand from the forecast intervals).",
    ),
    "safety_stock": NUMBER,
    "reorder_point": _described(NUMBER, "Lead-time demand plus safety stock."),
    "lead_time_demand": NUMBER,
    "service_level": _described(NUMBER, "Cycle service level, e.g. 0.95."),
    "lead_time_periods": NUMBER,
    "lead_time_days": {"type": ["integer", "null"]},
    "inputs": {"type": "object", "description": "The figures the method used."},
}

SAFETY_STOCK_FIGURES = _object("Safety stock by one method.", _STOCK_FIGURES)

SAFETY_STOCK = _object(
    "A series' safety stock and reorder point from one complete run, by the preferred "
    "method, with the other methods' figures in alternatives.",
    {
        "run_id": ID,
        "series_id": ID,
        "sku": TEXT,
        "location": TEXT,
        "frequency": TEXT,
        **_STOCK_FIGURES,
        "alternatives": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/SafetyStockFigures"},
        },
    },
)

CONNECTOR = _object(
    "A configured data source. Secret settings are shown as ********.",
    {
        "id": ID,
        "workspace_id": ID,
        "preset": TEXT,
        "name": TEXT,
        "config": {"type": "object"},
        "status": {"type": "string", "enum": [s.value for s in ConnectorStatus]},
        "status_message": OPTIONAL_TEXT,
        "schedule": {"type": ["object", "null"]},
        "last_synced_at": OPTIONAL_TIMESTAMP,
    },
)

PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem: every error has this shape.",
    "properties": {
        "type": TEXT,
        "title": TEXT,
        "status": {"type": "integer"},
        "detail": TEXT,
        "invalid_params": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": TEXT, "reason": TEXT},
                "required": ["name", "reason"],
            },
        },
    },
    "required": ["type", "title", "status"],
}

OPENAPI_DOCUMENT = {"type": "object", "description": "This OpenAPI 3.1 document."}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Run": RUN,
    "Alert": ALERT,
    "Series": SERIES,
    "Forecast": FORECAST,
    "ForecastPeriod": FORECAST_PERIOD,
    "SafetyStock": SAFETY_STOCK,
    "SafetyStockFigures": SAFETY_STOCK_FIGURES,
    "Connector": CONNECTOR,
    "Problem": PROBLEM,
    "OpenApiDocument": OPENAPI_DOCUMENT,
}
