"""The background thread that applies recorded webhook events, oldest first.

It drains the queue when it starts (events a crash left ``received``), when the
route rings (:mod:`app.webhooks.doorbell`) and every :data:`POLL_SECONDS`
(events recorded by another process on the store, and retries after a store
failure). An event whose source could not be asked waits a growing while
before its next try, without holding up the others. Several processes may run
one each: the claim in :func:`app.webhooks.apply.apply_event` lets exactly one
apply an event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from app.store.db import Database
from app.vault import Vault
from app.webhooks import doorbell
from app.webhooks.apply import Outcome, Reader, apply_event
from app.webhooks.events import fail_event, pending_event_ids
from app.webhooks.shopify_orders import ShopifyOrders

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0
BATCH = 100
# An event whose source could not be asked waits this long before its next
# try, doubling with each try (15 s, 30 s ... 4 min): a burst of deliveries,
# each ringing, must not spend its attempts in a few seconds.
WAIT_SECONDS = 15.0
WAIT_MAX_SECONDS = 240.0


def wake_appliers() -> None:
    """Tell the appliers running in this process that an event was recorded."""
    doorbell.ring()


class WebhookApplier:
    """Applies ``received`` webhook events on a thread of its own until stopped."""

    def __init__(
        self,
        database: Database,
        vault: Vault,
        *,
        poll_seconds: float = POLL_SECONDS,
        readers: dict[str, Reader] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.poll_seconds = poll_seconds
        self._clock = clock
        # Waiting events: the time of their next try, and their tries so far.
        self._waiting: dict[int, tuple[float, int]] = {}
        # The vault is for reading what a delivery leaves out (Shopify's location names).
        self.readers = readers or {"shopify": ShopifyOrders(database, vault)}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread, which first applies whatever is pending."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._wake.set()
        doorbell.listen(self)
        self._thread = threading.Thread(target=self._loop, name="webhook-applier", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for pending events now."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the event in hand; what is left is applied at the next start."""
        doorbell.leave(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def drain(self) -> dict[Outcome, int]:
        """Apply every pending event once, oldest first; counts by outcome.

        Events waiting for their source are passed over until their time comes.
        Stops early when the store fails (the rest waits for the next round) or
        when the applier is stopped.
        """
        counts = dict.fromkeys(Outcome, 0)
        after = 0
        pending: set[int] = set()
        while not self._stop.is_set():
            ids = pending_event_ids(self.database, after=after, limit=BATCH)
            if not ids:
                # Forget the waits of events that another process settled.
                self._waiting = {k: v for k, v in self._waiting.items() if k in pending}
                break
            pending.update(ids)
            for event_id in ids:
                if self._stop.is_set():
                    return counts
                after = event_id
                due, tries = self._waiting.get(event_id, (0.0, 0))
                if due > self._clock():
                    continue
                outcome = self._apply(event_id)
                counts[outcome] += 1
                if outcome is Outcome.WAITING:
                    delay = min(WAIT_SECONDS * 2**tries, WAIT_MAX_SECONDS)
                    self._waiting[event_id] = (self._clock() + delay, tries + 1)
                else:
                    self._waiting.pop(event_id, None)
                if outcome is Outcome.RETRY:
                    return counts
        return counts

    def _apply(self, event_id: int) -> Outcome:
        try:
            return apply_event(self.database, self.readers, event_id)
        except Exception:
            # A fault of ours, not of the delivery's: settle the event rather
            # than meet it again at every round; its body is kept for a retry.
            log.exception("webhook event %s: unexpected error while applying", event_id)
            try:
                fail_event(
                    self.database,
                    event_id,
                    "Unexpected error while applying this delivery; "
                    "the server log has the details.",
                )
            except SQLAlchemyError:
                return Outcome.RETRY
            return Outcome.FAILED

    def _loop(self) -> None:
        while not self._stop.is_set():
            # Cleared before draining: a ring during the drain means another round.
            self._wake.clear()
            try:
                self.drain()
            except Exception:
                log.exception("webhook applier: draining failed; retrying at the next poll")
            self._wake.wait(self.poll_seconds)
