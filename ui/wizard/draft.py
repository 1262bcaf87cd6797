"""The connector the wizard adds or edits: what the operator typed, chose and learnt.

Pages change a :class:`Draft` on the GUI thread. Work that reaches the source
or the store starts from a :class:`Target`, a frozen copy of the draft taken
when the work starts, so that typing on meanwhile changes nothing under a
running probe (see :mod:`ui.wizard.calls`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.connectors.base import ConnectorPreset, ProbeResult
from app.connectors.errors import ConfigurationError
from app.connectors.fields import Field, FieldKind
from app.connectors.registry import get_preset

MANUAL: dict[str, Any] = {"kind": "manual"}


@dataclass(frozen=True)
class Stored:
    """What the store holds of the connector being edited; secrets by name only."""

    id: int
    preset: str
    name: str
    status: str
    status_message: str | None
    config: dict[str, Any]
    secret_names: frozenset[str]
    mapping: dict[str, Any] | None
    schedule: dict[str, Any] | None


@dataclass(frozen=True)
class Target:
    """A snapshot of the draft for one piece of background work.

    ``values`` are the settings to use: all of them for a new connector, the
    changed ones for a stored connector (laid over what it holds).
    """

    preset: str
    connector_id: int | None
    values: dict[str, Any]
    name: str = ""
    oauth_state: str | None = None
    oauth_choice: str | None = None
    mapping: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    workspace_id: int | None = None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass
class Draft:
    """The wizard's state: the source, its settings, mapping and schedule."""

    workspace_id: int | None = None
    preset: str | None = None
    stored: Stored | None = None
    name: str = ""
    # The form's settings and typed secrets, as the operator left them: an empty
    # secret means "keep the stored one", an empty setting "no value".
    values: dict[str, Any] = field(default_factory=dict)
    # Settings the wizard learnt rather than the operator typed (a pinned host key).
    learnt: dict[str, Any] = field(default_factory=dict)
    oauth_state: str | None = None
    oauth_choice: str | None = None
    oauth_account: str | None = None
    reconnected: bool = False
    probe: ProbeResult | None = None
    mapping: dict[str, Any] | None = None
    schedule: dict[str, Any] | None = None
    sync_after_save: bool = True

    @property
    def editing(self) -> bool:
        return self.stored is not None

    @property
    def connector_id(self) -> int | None:
        return self.stored.id if self.stored is not None else None

    def preset_class(self) -> type[ConnectorPreset] | None:
        return get_preset(self.preset) if self.preset else None

    def choose_preset(self, preset: str) -> None:
        """Start over with another source; what was typed for the previous one goes."""
        if preset == self.preset:
            return
        self.preset = preset
        self.values, self.learnt = {}, {}
        self.oauth_state = self.oauth_choice = self.oauth_account = None
        self.probe = None
        self.mapping = None

    def settings(self) -> dict[str, Any]:
        """What the source is read with: every setting for a new connector, else the changes."""
        preset = self.preset_class()
        if preset is None:
            return {}
        specs = {spec.name: spec for spec in preset.fields}
        if self.stored is None:
            typed = {k: v for k, v in self.values.items() if v not in (None, "")}
            return {**typed, **self.learnt}
        changes: dict[str, Any] = {}
        for name, value in self.values.items():
            spec = specs.get(name)
            if spec is None:
                continue
            if spec.secret:
                if value not in (None, ""):
                    changes[name] = value
            elif not same_value(spec, value, self.stored.config.get(name)):
                changes[name] = value
        for name, value in self.learnt.items():
            if value != self.stored.config.get(name):
                changes[name] = value
        return changes

    def validation_values(self) -> dict[str, Any]:
        """The settings as the preset would validate them; stored secrets stand in masked."""
        preset = self.preset_class()
        if preset is None:
            return {}
        declared = {spec.name for spec in preset.fields}
        base: dict[str, Any] = {}
        if self.stored is not None:
            base = {k: v for k, v in self.stored.config.items() if k in declared}
            base.update(dict.fromkeys(self.stored.secret_names & declared, "********"))
        typed = {k: v for k, v in self.values.items() if k in declared}
        secrets = self.stored.secret_names if self.stored is not None else frozenset()
        for name in list(typed):
            if typed[name] in (None, "") and name in secrets:
                del typed[name]  # an empty secret keeps the stored one
        return {**base, **typed, **self.learnt}

    def mapping_changed(self) -> bool:
        if self.mapping is None:
            return False
        return self.stored is None or self.mapping != self.stored.mapping

    def schedule_changed(self) -> bool:
        if self.schedule is None:
            return False
        return self.stored is None or (self.stored.schedule or MANUAL) != self.schedule

    def target(self) -> Target:
        if self.preset is None:
            raise ValueError("no source chosen yet")
        return Target(
            preset=self.preset,
            connector_id=self.connector_id,
            values=self.settings(),
            name=self.name,
            oauth_state=self.oauth_state if self.stored is None else None,
            oauth_choice=self.oauth_choice,
            mapping=self.mapping,
            schedule=self.schedule,
            workspace_id=self.workspace_id,
        )


def same_value(spec: Field, typed: Any, stored: Any) -> bool:
    """Whether a typed-in value says the same as the stored one (``"22"`` and ``22``)."""
    empty = (None, "")
    if typed in empty or stored in empty:
        return typed in empty and stored in empty
    if spec.kind is FieldKind.BOOLEAN:
        return bool(typed) == bool(stored)
    if spec.kind is FieldKind.NUMBER:
        try:
            return float(typed) == float(stored)
        except (TypeError, ValueError):
            return False
    return str(typed).strip() == str(stored).strip()


def config_problems(preset: type[ConnectorPreset], values: Mapping[str, Any]) -> dict[str, str]:
    """Per-field problems of ``values`` as the preset validates them; empty when valid."""
    try:
        preset.validate(values)
    except ConfigurationError as exc:
        return dict(exc.fields) or {"": str(exc)}
    return {}
