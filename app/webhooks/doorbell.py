"""How the route tells this process's appliers that an event was recorded.

The route and the applier meet only in the process, not in code: the server
(``accupredix serve`` or the desktop app) starts the applier with its other
background work, and the route rings every applier running here. Appliers of
other processes on the same store find the event at their next poll.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol


class Wakeable(Protocol):
    def wake(self) -> None: ...


_listening: weakref.WeakSet[Wakeable] = weakref.WeakSet()
_lock = threading.Lock()


def listen(applier: Wakeable) -> None:
    """Have ``applier`` woken by :func:`ring` until :func:`leave`."""
    with _lock:
        _listening.add(applier)


def leave(applier: Wakeable) -> None:
    with _lock:
        _listening.discard(applier)


def ring() -> None:
    """Wake every listening applier of this process (none listening: nothing happens)."""
    with _lock:
        listening = list(_listening)
    for applier in listening:
        applier.wake()
