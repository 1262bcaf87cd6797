"""Fixtures of the OAuth tests: the test presets in the registry, a clean rotation memory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.connectors import registry
from app.oauth.tokens import forget_rotations
from tests.app.oauth.presets import PRESETS


@pytest.fixture(autouse=True)
def oauth_presets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test presets, registered for this test only."""
    registry.get_preset("custom_rest")  # the built-in presets first
    for cls in PRESETS:
        monkeypatch.setitem(registry._PRESETS, cls.id, cls)


@pytest.fixture(autouse=True)
def fresh_rotations() -> Iterator[None]:
    """Each test starts with no memory of refresh tokens spent by earlier ones."""
    forget_rotations()
    yield
    forget_rotations()
