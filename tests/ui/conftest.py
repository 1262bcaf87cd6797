"""Qt tests keep their window settings in a temporary folder, never the user's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.qt import QSettings


@pytest.fixture
def qsettings(tmp_path: Path) -> Iterator[QSettings]:
    """Settings in an INI file of the test's own."""
    settings = QSettings(str(tmp_path / "accupredix.ini"), QSettings.Format.IniFormat)
    yield settings
    settings.sync()


@pytest.fixture(autouse=True)
def user_settings_in_tmp(tmp_path: Path) -> None:
    # Anything that builds QSettings() with no file goes here instead of ~/.config.
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "user-settings")
    )
