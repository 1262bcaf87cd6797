"""The core calls the wizard makes on worker threads: load, probe, discover, preview, save.

Each takes a :class:`~ui.wizard.draft.Target` (a frozen copy of the draft)
and runs off the GUI thread through :func:`ui.wizard.failures.attempt`.

A probe or preview of a connector being edited reads its stored settings and
secrets and lays the changed fields over them; a refreshed OAuth token is
saved as a sync would save it. A new connector signed in with Connect is
probed with its grant, which the OAuth flow only hands out by claiming it:
:func:`_peek_grant` claims it and puts it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.connectors.base import ConnectorPreset, ProbeResult, SourceConfig, SourceField
from app.connectors.errors import ConnectorError
from app.connectors.registry import get_preset
from app.mapping import FieldInfo, discover_fields, preview_rows, validate_mapping
from app.mapping import suggest_mapping as suggest
from app.oauth import flow
from app.oauth.store import TokenStore
from app.redaction import register_secret
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services import oauth as oauth_service
from app.services.errors import ServiceError
from app.store.models import Connector
from app.sync.engine import source_config
from ui.wizard.draft import Draft, Stored, Target
from ui.wizard.failures import Failure, classify

PREVIEW_LIMIT = connector_service.PREVIEW_LIMIT


def load(runtime: Runtime, connector_id: int) -> Stored:
    """The stored connector to edit; secrets by name only."""
    with runtime.database.session() as session:
        connector = session.get(Connector, connector_id)
        if connector is None:
            raise ServiceError(f"No connector with id {connector_id}; it may have been deleted.")
        return Stored(
            id=connector.id,
            preset=connector.preset,
            name=connector.name,
            status=connector.status.value,
            status_message=connector.status_message,
            config=dict(connector.config or {}),
            secret_names=frozenset(connector.secrets or {}),
            mapping=connector.field_mapping,
            schedule=connector.schedule,
        )


class _PutBack(Exception):
    """Ends a grant's claim block so that the flow puts the grant back."""


def _peek_grant(runtime: Runtime, state: str, choice: str | None) -> dict[str, Any]:
    # The flow hands a grant out only by claiming it, and restores it when the
    # claim's block raises: this reads it and leaves it for the save.
    seen: dict[str, Any] = {}
    try:
        with flow.claimed_grant(runtime.database, runtime.vault, state, choice=choice) as grant:
            for value in grant.secrets.values():
                register_secret(value)
            seen = {**grant.settings, **grant.secrets}
            raise _PutBack
    except _PutBack:
        pass
    return seen


def _config(runtime: Runtime, target: Target) -> tuple[type[ConnectorPreset], SourceConfig]:
    """The preset and the configuration to read the source with; nothing is saved.

    A stored connector keeps renewed OAuth tokens (a refresh spends the old
    one); nothing else is written.
    """
    preset = get_preset(target.preset)
    if target.connector_id is None:
        values = dict(target.values)
        if target.oauth_state:
            values.update(_peek_grant(runtime, target.oauth_state, target.oauth_choice))
        return preset, SourceConfig(values=preset.validate(values), cancel=target.cancel)
    with runtime.database.session() as session:
        connector = session.get(Connector, target.connector_id)
        if connector is None:
            raise ServiceError(f"No connector with id {target.connector_id}.")
        config = source_config(runtime.database, runtime.vault, connector, target.cancel)
    config.save_secrets = TokenStore(runtime.database, runtime.vault, target.connector_id)
    config.save_settings = None
    if target.values:
        config.values = preset.validate({**config.values, **target.values})
    return preset, config


def probe(runtime: Runtime, target: Target) -> ProbeResult:
    """Check the connection with the source's lightest call; nothing is saved."""
    preset, config = _config(runtime, target)
    config.check_cancelled()
    return preset().probe(config)


@dataclass(frozen=True)
class SourceChoice:
    """A source field the mapping can read: from sample records, the source's own list, or both."""

    path: str
    example: Any = None
    type: str | None = None
    label: str | None = None
    custom: bool = False
    share: float | None = None

    def caption(self) -> str:
        """``lines[].sku (custom, decimal)`` as the field picker lists it."""
        notes = [note for note in ("custom" if self.custom else None, self.type) if note]
        return f"{self.path} ({', '.join(notes)})" if notes else self.path


@dataclass(frozen=True)
class Discovery:
    """What the mapping page starts from."""

    fields: list[SourceChoice]
    default_mapping: dict[str, Any]
    suggestion: dict[str, Any]
    records: int
    failure: Failure | None = None


def merge_fields(seen: list[FieldInfo], declared: list[SourceField]) -> list[SourceChoice]:
    """Sample fields in the order seen, with the source's types; declared-only fields after."""
    by_path = {spec.path: spec for spec in declared}
    out = []
    for info in seen:
        spec = by_path.pop(info.path, None)
        out.append(
            SourceChoice(
                info.path,
                info.example,
                spec.type if spec else None,
                spec.label if spec else None,
                spec.custom if spec else False,
                info.share,
            )
        )
    out.extend(
        SourceChoice(spec.path, None, spec.type, spec.label, spec.custom)
        for spec in by_path.values()
    )
    return out


def discover(runtime: Runtime, target: Target) -> Discovery:
    """Sample records, the source's declared fields, the preset's mapping and a suggestion.

    A source that cannot be sampled still gives the preset's mapping, with the
    failure, so the operator can map by typing paths.
    """
    default = get_preset(target.preset).default_mapping()
    try:
        preset, config = _config(runtime, target)
        records = preset().sample(config, PREVIEW_LIMIT)
        declared = preset().describe_fields(config)
    except (ConnectorError, ServiceError) as exc:
        return Discovery([], default, {}, 0, classify(exc))
    seen = discover_fields(records)
    return Discovery(merge_fields(seen, declared), default, suggest(seen), len(records))


def preview(runtime: Runtime, target: Target) -> connector_service.Preview:
    """Sample rows in canonical columns with the draft's mapping; nothing is saved."""
    preset, config = _config(runtime, target)
    mapping = validate_mapping(target.mapping or preset.default_mapping())
    records = preset().sample(config, PREVIEW_LIMIT)
    mapped = preview_rows(mapping, records, PREVIEW_LIMIT)
    return connector_service.Preview(
        rows=[row.values for row in mapped],
        errors=[row.errors for row in mapped],
        fields=discover_fields(records),
        records=len(records),
    )


# -- saving -------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveRequest:
    """What Finish saves: the target and which of the mapping and schedule changed."""

    target: Target
    mapping_changed: bool
    schedule_changed: bool


def save_request(draft: Draft) -> SaveRequest:
    return SaveRequest(draft.target(), draft.mapping_changed(), draft.schedule_changed())


def save(runtime: Runtime, request: SaveRequest) -> int:
    """Add or update the connector (secrets encrypted); returns its id."""
    target = request.target
    mapping = target.mapping if request.mapping_changed else None
    schedule = target.schedule if request.schedule_changed else None
    if target.connector_id is not None:
        connector_service.update_connector(
            runtime.database,
            runtime.vault,
            target.connector_id,
            name=target.name,
            values=target.values or None,
            mapping=mapping,
            schedule=schedule,
        )
        return target.connector_id
    if target.oauth_state:
        created = oauth_service.add_connected(
            runtime.database,
            runtime.vault,
            target.oauth_state,
            name=target.name,
            values=target.values,
            choice=target.oauth_choice,
            mapping=mapping,
            schedule=schedule,
            workspace_id=target.workspace_id,
        )
    else:
        created = connector_service.add_connector(
            runtime.database,
            runtime.vault,
            preset=target.preset,
            name=target.name,
            values=target.values,
            mapping=mapping,
            schedule=schedule,
            workspace_id=target.workspace_id,
        )
    return int(created["id"])
