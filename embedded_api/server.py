"""Waitress runner: serve in the foreground or in a background thread, stop cleanly.

Settings for a busy server, each measured with ``bench/api.py``:

- while it serves, the interpreter hands the GIL over every millisecond instead
  of every 5 ms (``sys.setswitchinterval``, process-wide), so that a request
  whose answer is ready does not wait behind a thread building a large one;
- Waitress's "Task queue depth" warning, which it writes for every request
  that waits for a thread, is let through once a minute with a count;
- request bodies larger than ``MAX_REQUEST_BODY_BYTES`` are refused by Waitress
  before it buffers them (its default is 1 GB, spooled to disk).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

import waitress
from flask import Flask
from waitress import wasyncore

log = logging.getLogger(__name__)

SWITCH_INTERVAL_SECONDS = 0.001
# A backstop far above what any route takes (API bodies 64 KB, webhook
# deliveries 1 MB); below it the routes answer an oversized body with problem+json.
MAX_REQUEST_BODY_BYTES = 8 * 1024 * 1024
QUEUE_WARNING_EVERY_SECONDS = 60.0


class OncePerInterval(logging.Filter):
    """Lets one record through per interval and counts the ones it held back."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last = -float("inf")
        self._held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = self._clock()
        with self._lock:
            if now - self._last < self.interval:
                self._held += 1
                return False
            held, self._held, self._last = self._held, 0, now
        if held:
            record.msg = f"{record.msg} (and {held} more such warnings since the last one)"
        return True


def quiet_queue_warnings(interval: float = QUEUE_WARNING_EVERY_SECONDS) -> None:
    """Let Waitress's per-request "Task queue depth" warning through once per ``interval``."""
    queue_logger = logging.getLogger("waitress.queue")
    if not any(isinstance(f, OncePerInterval) for f in queue_logger.filters):
        queue_logger.addFilter(OncePerInterval(interval))


class EmbeddedServer:
    """One Waitress server bound to ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        app: Flask,
        host: str,
        port: int,
        *,
        threads: int = 8,
        switch_interval: float = SWITCH_INTERVAL_SECONDS,
    ) -> None:
        self.switch_interval = switch_interval
        self._server = waitress.create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="AccuPredix",
            max_request_body_size=MAX_REQUEST_BODY_BYTES,
        )
        quiet_queue_warnings()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` is called (from any thread or a signal handler)."""
        previous_interval = sys.getswitchinterval()
        sys.setswitchinterval(self.switch_interval)
        log.info("serving on %s", self.url)
        try:
            self._server.run()
        finally:
            sys.setswitchinterval(previous_interval)
            self._stopped.set()
            log.info("server stopped")

    def start(self) -> None:
        """Serve from a daemon thread, for the desktop app and tests."""
        self._thread = threading.Thread(target=self.serve_forever, name="waitress", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish requests in flight, close the sockets and end the loop."""
        if self._stopped.is_set():
            return
        # Closing must happen on the loop's own thread; the trigger runs it there.
        self._server.trigger.pull_trigger(self._shutdown)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _shutdown(self) -> None:
        self._server.task_dispatcher.shutdown(timeout=5)
        socket_map = getattr(self._server, "_map", None) or getattr(self._server, "map", {})
        wasyncore.close_all(socket_map, ignore_all=True)

    def stop_on_signals(self) -> None:
        """Stop gracefully on SIGTERM and SIGINT (main thread only)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s, stopping", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
