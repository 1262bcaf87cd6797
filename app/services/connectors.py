"""Connector use cases: presets, add, edit, test, preview, sync, delete."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.connectors.base import ConnectorPreset, ProbeResult, SourceConfig, SourceField
from app.connectors.registry import get_preset, presets
from app.mapping import MappingError, discover_fields, preview_rows, validate_mapping
from app.oauth.store import TokenStore
from app.services import secrets, webhooks
from app.services.errors import InvalidInput, NotFound
from app.services.organisations import default_workspace
from app.store.db import Database
from app.store.models import Connector, ConnectorStatus, Workspace
from app.sync.engine import source_config, sync_connector
from app.sync.schedules import ScheduleError, parse_schedule
from app.vault import Vault

log = logging.getLogger(__name__)

PREVIEW_LIMIT = 20


def describe_presets() -> list[dict[str, Any]]:
    """Every preset with its category and declared fields, for the wizard and the CLI."""
    return [
        {
            "id": cls.id,
            "name": cls.display_name,
            "category": cls.category.value,
            "description": cls.description,
            "fields": [spec.as_dict() for spec in cls.fields],
        }
        for cls in presets()
    ]


def _split(preset: type[ConnectorPreset], values: Mapping[str, Any]) -> tuple[dict, dict]:
    secret = preset.secret_fields()
    settings = {k: v for k, v in values.items() if k not in secret}
    secret_values = {k: str(v) for k, v in values.items() if k in secret}
    return settings, secret_values


def _checked_schedule(schedule: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not schedule:
        return None
    try:
        return parse_schedule(schedule).to_dict()
    except ScheduleError as exc:
        raise InvalidInput(str(exc)) from None


def _checked_mapping(preset: type[ConnectorPreset], mapping: Mapping[str, Any] | None) -> dict:
    spec = dict(mapping) if mapping is not None else preset.default_mapping()
    try:
        validate_mapping(spec)
    except MappingError as exc:
        raise InvalidInput(f"Invalid field mapping: {exc}") from None
    return spec


def add_connector(
    database: Database,
    vault: Vault,
    *,
    preset: str,
    name: str,
    values: Mapping[str, Any],
    mapping: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
    workspace_id: int | None = None,
) -> dict[str, Any]:
    """Create a connector; secrets are encrypted, the result shows them masked."""
    preset_cls = get_preset(preset)
    if not name.strip():
        raise InvalidInput("A connector needs a name.")
    typed = preset_cls.validate(values)
    spec = _checked_mapping(preset_cls, mapping)
    settings, secret_values = _split(preset_cls, typed)
    with database.session() as session:
        workspace = (
            default_workspace(session)
            if workspace_id is None
            else _workspace(session, workspace_id)
        )
        connector = Connector(
            workspace_id=workspace.id,
            preset=preset_cls.id,
            name=name.strip(),
            config=settings,
            field_mapping=spec,
            schedule=_checked_schedule(schedule),
        )
        session.add(connector)
        session.flush()
        secrets.set_secrets(vault, connector, secret_values)
        log.info("connector %s (%s) added", connector.id, preset_cls.id)
        created = secrets.public_connector(connector)
    # After the commit: registering calls the source, with the secrets stored.
    return webhooks.after_connector_saved(database, vault, created, credentials_changed=True)


def _workspace(session: Any, workspace_id: int) -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFound(f"No workspace with id {workspace_id}.")
    return workspace


def _get(session: Any, connector_id: int) -> Connector:
    connector = session.get(Connector, connector_id)
    if connector is None:
        raise NotFound(f"No connector with id {connector_id}.")
    return connector


def update_connector(
    database: Database,
    vault: Vault,
    connector_id: int,
    *,
    name: str | None = None,
    values: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    schedule: Mapping[str, Any] | None = None,
    clear_schedule: bool = False,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Change a connector. Secrets not given keep their stored value.

    Saving new settings or credentials clears ``needs_reconnect`` and ``error``:
    the next sync says whether they work.
    """
    with database.session() as session:
        connector = _get(session, connector_id)
        preset_cls = get_preset(connector.preset)
        if name is not None:
            if not name.strip():
                raise InvalidInput("A connector needs a name.")
            connector.name = name.strip()
        if values:
            stored = {**(connector.config or {}), **secrets.read_secrets(vault, connector)}
            typed = preset_cls.validate({**stored, **values})
            settings, secret_values = _split(preset_cls, typed)
            connector.config = settings
            changed = {k: v for k, v in secret_values.items() if k in values}
            secrets.set_secrets(vault, connector, changed)
            if connector.status in (ConnectorStatus.NEEDS_RECONNECT, ConnectorStatus.ERROR):
                connector.status = ConnectorStatus.NEW
                connector.status_message = None
        if mapping is not None:
            connector.field_mapping = _checked_mapping(preset_cls, mapping)
        if clear_schedule:
            connector.schedule = None
        elif schedule is not None:
            connector.schedule = _checked_schedule(schedule)
        if enabled is False:
            connector.status = ConnectorStatus.DISABLED
        elif enabled is True and connector.status is ConnectorStatus.DISABLED:
            connector.status = ConnectorStatus.NEW
        saved = secrets.public_connector(connector)
    return webhooks.after_connector_saved(database, vault, saved, credentials_changed=bool(values))


def list_connectors(database: Database, workspace_id: int | None = None) -> list[dict[str, Any]]:
    with database.session() as session:
        query = select(Connector).order_by(Connector.id)
        if workspace_id is not None:
            query = query.where(Connector.workspace_id == workspace_id)
        return [secrets.public_connector(c) for c in session.scalars(query)]


def get_connector(database: Database, connector_id: int) -> dict[str, Any]:
    with database.session() as session:
        return secrets.public_connector(_get(session, connector_id))


def delete_connector(database: Database, connector_id: int) -> None:
    """Remove the connector with its demand lines and sync history."""
    with database.session() as session:
        session.delete(_get(session, connector_id))
    log.info("connector %s deleted", connector_id)


def _unsaved_config(
    preset: str, values: Mapping[str, Any]
) -> tuple[type[ConnectorPreset], SourceConfig]:
    preset_cls = get_preset(preset)
    return preset_cls, SourceConfig(values=preset_cls.validate(values))


def _saved_config(
    database: Database, vault: Vault, connector_id: int
) -> tuple[type[ConnectorPreset], SourceConfig, dict[str, Any] | None]:
    with database.session() as session:
        connector = _get(session, connector_id)
        preset_cls = get_preset(connector.preset)
        config = source_config(database, vault, connector)
        # A probe or preview writes nothing but renewed OAuth tokens: a refresh
        # spends the refresh token, so its replacement must be kept.
        config.save_secrets = TokenStore(database, vault, connector_id)
        config.save_settings = None
        return preset_cls, config, connector.field_mapping


def _resolve(
    database: Database,
    vault: Vault,
    connector_id: int | None,
    preset: str | None,
    values: Mapping[str, Any] | None,
) -> tuple[type[ConnectorPreset], SourceConfig, dict[str, Any] | None]:
    if connector_id is not None:
        return _saved_config(database, vault, connector_id)
    if preset is None:
        raise InvalidInput("Name a saved connector or a preset with its settings.")
    preset_cls, config = _unsaved_config(preset, values or {})
    return preset_cls, config, None


def probe_connection(
    database: Database,
    vault: Vault,
    *,
    connector_id: int | None = None,
    preset: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> ProbeResult:
    """Probe a saved connector, or an unsaved configuration; nothing is saved.

    Raises:
        ConnectorError: the source refused or failed, with the operator's message.
    """
    preset_cls, config, _ = _resolve(database, vault, connector_id, preset, values)
    return preset_cls().probe(config)


def describe_fields(
    database: Database,
    vault: Vault,
    *,
    connector_id: int | None = None,
    preset: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> list[SourceField]:
    """The source's own field list with types (custom fields included); nothing is saved."""
    preset_cls, config, _ = _resolve(database, vault, connector_id, preset, values)
    return preset_cls().describe_fields(config)


@dataclass(frozen=True)
class Preview:
    """Sample rows in canonical columns, the cells that failed, and the source fields."""

    rows: list[dict[str, Any]]
    errors: list[dict[str, str]]
    fields: list[Any] = field(default_factory=list)
    records: int = 0


def preview(
    database: Database,
    vault: Vault,
    *,
    connector_id: int | None = None,
    preset: str | None = None,
    values: Mapping[str, Any] | None = None,
    mapping: Mapping[str, Any] | None = None,
    limit: int = PREVIEW_LIMIT,
) -> Preview:
    """Fetch a few records and map them; nothing is saved."""
    preset_cls, config, stored_mapping = _resolve(database, vault, connector_id, preset, values)
    spec = _checked_mapping(preset_cls, mapping if mapping is not None else stored_mapping)
    records = preset_cls().sample(config, limit)
    mapped = preview_rows(validate_mapping(spec), records, limit)
    return Preview(
        rows=[row.values for row in mapped],
        errors=[row.errors for row in mapped],
        fields=discover_fields(records),
        records=len(records),
    )


# Syncing is the engine's own use case; the CLI, the API and the desktop app
# reach it here with the rest of the connector use cases.
sync_now = sync_connector
