"""Data files shipped with the application: icons, styles, default field mappings."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def resource(*parts: str) -> Traversable:
    """A file under ``resources/``, wherever the package was installed."""
    node = files(__name__)
    for part in parts:
        node = node / part
    return node
