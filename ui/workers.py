"""Run core calls off the GUI thread and deliver the result back as a signal."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ui.qt import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class Task(QRunnable):
    """A callable run on the global thread pool; connect to ``signals`` before start."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:
            log.warning("background task failed", exc_info=True)
            self.signals.failed.emit(str(exc) or type(exc).__name__)
        else:
            self.signals.done.emit(result)


_long_pool: QThreadPool | None = None


def long_pool() -> QThreadPool:
    """The pool for work that can take minutes (syncs, probes of slow sources).

    Kept apart from the global pool so that a few long syncs never hold up the
    quick loads that keep the pages current.
    """
    global _long_pool  # noqa: PLW0603 - one pool per process, made on first use
    if _long_pool is None:
        _long_pool = QThreadPool()
        _long_pool.setMaxThreadCount(8)
    return _long_pool


def submit(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_failed: Callable[[str], None],
    *,
    long: bool = False,
) -> Task:
    """Run ``fn`` on a pool thread; its result or error message arrives on the GUI thread."""
    task = Task(fn)
    task.signals.done.connect(on_done)
    task.signals.failed.connect(on_failed)
    (long_pool() if long else QThreadPool.globalInstance()).start(task)
    return task
