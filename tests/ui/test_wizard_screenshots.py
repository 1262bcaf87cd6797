"""``accupredix gui --screenshot DIR`` renders every page and wizard step with demo data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ui.qt import QImage

PAGES = (
    "main_window.png",
    "connectors.png",
    "page-runs.png",
    "page-series.png",
    "page-alerts.png",
    "page-settings.png",
    "wizard-1-source.png",
    "wizard-2-credentials.png",
    "wizard-3-test.png",
    "wizard-4-mapping.png",
    "wizard-5-preview.png",
    "wizard-6-schedule.png",
    "wizard-7-finish.png",
)
REPOSITORY = Path(__file__).resolve().parents[2]


def accupredix(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-c", "from app.cli.main import main; main()", *args],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_screenshot_mode_renders_every_page_from_demo_data_and_leaves_the_store_alone(
    isolated_env: Path, tmp_path: Path
) -> None:
    out = tmp_path / "shots"
    result = accupredix("gui", "--screenshot", str(out))
    assert result.returncode == 0, result.stderr[-3000:]

    for name in PAGES:
        image = QImage(str(out / name))
        assert not image.isNull(), name
        assert image.width() >= 800, name
        assert image.height() >= 600, name
        assert (out / name).stat().st_size < 400_000, f"{name} is small enough for the README"
    assert sorted(path.name for path in out.iterdir()) == sorted(PAGES)

    listed = accupredix("connector", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no connectors", "the demo data went to a store of its own"
