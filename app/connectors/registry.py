"""Presets registered by id."""

from __future__ import annotations

from typing import TypeVar

from app.connectors.base import ConnectorPreset
from app.services.errors import NotFound

P = TypeVar("P", bound=type[ConnectorPreset])

_PRESETS: dict[str, type[ConnectorPreset]] = {}


def register(cls: P) -> P:
    """Class decorator: make a preset available under its ``id``."""
    if cls.id in _PRESETS and _PRESETS[cls.id] is not cls:
        raise ValueError(f"preset id {cls.id!r} registered twice")
    _PRESETS[cls.id] = cls
    return cls


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    import app.connectors.presets  # noqa: F401


def presets() -> list[type[ConnectorPreset]]:
    _load_builtin()
    return sorted(_PRESETS.values(), key=lambda cls: (cls.category.value, cls.display_name))


def get_preset(preset_id: str) -> type[ConnectorPreset]:
    _load_builtin()
    try:
        return _PRESETS[preset_id]
    except KeyError:
        known = ", ".join(sorted(_PRESETS))
        raise NotFound(f"Unknown connector preset {preset_id!r}; known presets: {known}.") from None
