"""The reliability suite's figures: printed after the run; any row lost fails the session."""

from __future__ import annotations

import pytest

from tests.reliability.support import FIGURES

# The figures every report shows, in this order, even when a test did not count them.
SHOWN = ("lines synced", "webhooks accepted", "requests served", "faults injected", "rows lost")
ROWS_LOST = "rows lost"


def figure_lines() -> list[str]:
    """The figures as a two-column table, the standard ones first."""
    names = [*SHOWN, *sorted(set(FIGURES.counts) - set(SHOWN))]
    width = max(len(name) for name in names)
    return [f"{name:<{width}}  {FIGURES.counts.get(name, 0):>12,}" for name in names]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if FIGURES.counts.get(ROWS_LOST, 0) > 0 and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.counts:
        return  # no reliability test ran
    terminalreporter.section("reliability figures")
    for line in figure_lines():
        terminalreporter.write_line(line)
    lost = FIGURES.counts.get(ROWS_LOST, 0)
    if lost:
        terminalreporter.write_line(
            f"FAILED: {lost:,} source rows were lost; every source row must reach the store.",
            red=True,
            bold=True,
        )
