"""Scheduled syncs as the desktop app and ``accupredix serve`` run them."""

from __future__ import annotations

import threading

from app.runtime import Runtime
from app.sync.engine import SyncResult, sync_connector
from app.sync.scheduler import SyncScheduler


class BackgroundSyncs:
    """The sync scheduler of one process, with a stop that cancels syncs in flight.

    A sync cancelled on the way out stops at a page boundary; the next one
    resumes from the cursor its last committed page stored.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._cancel = threading.Event()
        self.scheduler = SyncScheduler(runtime.database, self._run_sync)

    def _run_sync(self, connector_id: int) -> SyncResult:
        return sync_connector(
            self.runtime.database,
            self.runtime.vault,
            connector_id,
            trigger="schedule",
            cancel=self._cancel,
        )

    def start(self) -> None:
        self._cancel.clear()
        self.scheduler.start()

    def stop(self) -> None:
        self._cancel.set()
        self.scheduler.stop(wait=True)
