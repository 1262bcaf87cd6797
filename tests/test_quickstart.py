"""The README's quick start: ``scripts/run`` on a machine without a display.

It runs the script as a user would (bash, the repo's .venv), so it covers the
venv/stamp logic, the demo seed and the headless fallback to ``serve --demo``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "scripts" / "run"
STAMPS = (ROOT / ".venv" / ".accupredix-run.stamp", ROOT / ".venv" / ".accupredix-test.stamp")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="bash script and POSIX signals"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def headless_env(data_dir: Path, port: int) -> dict[str, str]:
    """The caller's environment minus any display and any AccuPredix setting."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
        and not name.startswith("ACCUPREDIX_")
    }
    env.update(
        ACCUPREDIX_DATA_DIR=str(data_dir),
        ACCUPREDIX_HOST="127.0.0.1",
        ACCUPREDIX_PORT=str(port),
    )
    return env


def venv_is_current() -> bool:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return any(
        stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest for stamp in STAMPS
    )


def health(url: str) -> dict | None:
    """The /healthz body when it answers 200, else None."""
    # No proxy: a CI proxy setting must not route a loopback request away.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            if response.status != 200:
                return None
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def test_scripts_run_starts_the_headless_server_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "run.log"
    expect_no_install = venv_is_current()
    url = f"http://127.0.0.1:{port}/healthz"

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", str(RUN)],
            cwd=tmp_path,
            env=headless_env(tmp_path / "data", port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        body = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            body = health(url)
            if body is not None:
                break
            time.sleep(0.5)
        output = log_path.read_text(encoding="utf-8", errors="replace")
        assert process.poll() is None, f"scripts/run exited early:\n{output}"
        assert body is not None, f"no healthy /healthz within {START_TIMEOUT:.0f} s:\n{output}"
        assert body["status"] == "ok"
        assert "starting the headless server instead" in output
        if expect_no_install:
            assert "installing AccuPredix" not in output, "reinstalled despite a current stamp"

        # scripts/run execs the server, so this is what systemd or kill would signal.
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"server still running {STOP_TIMEOUT:.0f} s after SIGTERM")
        output = log_path.read_text(encoding="utf-8", errors="replace")
        assert code == 0, f"exit code {code} after SIGTERM:\n{output}"
        assert health(url) is None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
