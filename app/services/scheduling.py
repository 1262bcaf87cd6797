"""Background work of a running instance: scheduled syncs and queued forecast runs."""

from __future__ import annotations

import logging
import threading

from app.runs.worker import RunWorker
from app.runtime import Runtime
from app.services.runs import create_run
from app.sync.engine import SyncResult, sync_connector
from app.sync.scheduler import SyncScheduler
from app.webhooks.worker import WebhookApplier

log = logging.getLogger(__name__)


class BackgroundWork:
    """The sync scheduler, run worker and webhook applier of one process, run together.

    Stopping cancels syncs in flight: a cancelled sync stops at a page boundary
    and the next one resumes from the cursor its last committed page stored.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._cancel = threading.Event()
        self.runs = RunWorker(runtime.database, cluster=runtime.config.forecast_cluster)
        self.scheduler = SyncScheduler(
            runtime.database, self._run_sync, run_forecast=self._run_forecast
        )
        # Applies webhook deliveries the embedded server records (woken by its route).
        self.webhooks = WebhookApplier(runtime.database, runtime.vault)

    def _run_sync(self, connector_id: int) -> SyncResult:
        return sync_connector(
            self.runtime.database,
            self.runtime.vault,
            connector_id,
            trigger="schedule",
            cancel=self._cancel,
        )

    def _run_forecast(self, workspace_id: int) -> None:
        run, _ = create_run(self.runtime.database, workspace_id=workspace_id, trigger="schedule")
        log.info("queued forecast run %s after a scheduled sync", run["id"])
        self.runs.wake()

    def start(self) -> None:
        self._cancel.clear()
        self.runs.start()
        self.scheduler.start()
        self.webhooks.start()

    def stop(self) -> None:
        self._cancel.set()
        self.scheduler.stop(wait=True)
        self.webhooks.stop()
        self.runs.stop()
