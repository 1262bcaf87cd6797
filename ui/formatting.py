"""Times and durations in the words an operator reads at a glance."""

from __future__ import annotations

import datetime as dt


def when(moment: dt.datetime) -> str:
    """A timestamp in the machine's local time, to the minute."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{int(seconds // 86400)} d"


def ago(moment: dt.datetime, now: dt.datetime) -> str:
    """``5 min ago``; ``just now`` under ten seconds."""
    seconds = (now - moment).total_seconds()
    if seconds < 10:
        return "just now"
    return f"{_span(seconds)} ago"


def until(moment: dt.datetime, now: dt.datetime) -> str:
    """``in 12 min``; ``due now`` once the time has come."""
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "due now"
    return f"in {_span(seconds)}"
