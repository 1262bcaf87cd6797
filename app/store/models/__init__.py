"""Typed ORM models of every table, importable from one place."""

from app.store.models.access import ApiKey, OAuthState, WebhookEvent
from app.store.models.base import Base
from app.store.models.connectors import Connector, ConnectorStatus, SyncRun, SyncStatus
from app.store.models.demand import DemandLine, Series
from app.store.models.forecasting import (
    Alert,
    Forecast,
    ForecastRun,
    RunStatus,
    SafetyStock,
    TrendHistory,
)
from app.store.models.organisations import Frequency, Organisation, Plan, Workspace

__all__ = [
    "Alert",
    "ApiKey",
    "Base",
    "Connector",
    "ConnectorStatus",
    "DemandLine",
    "Forecast",
    "ForecastRun",
    "Frequency",
    "OAuthState",
    "Organisation",
    "Plan",
    "RunStatus",
    "SafetyStock",
    "Series",
    "SyncRun",
    "SyncStatus",
    "TrendHistory",
    "WebhookEvent",
    "Workspace",
]
