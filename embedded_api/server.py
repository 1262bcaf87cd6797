"""Waitress runner: serve in the foreground or in a background thread, stop cleanly."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import waitress
from flask import Flask
from waitress import wasyncore

log = logging.getLogger(__name__)


class EmbeddedServer:
    """One Waitress server bound to ``host:port`` (port 0 picks a free one)."""

    def __init__(self, app: Flask, host: str, port: int, *, threads: int = 8) -> None:
        self._server = waitress.create_server(
            app, host=host, port=port, threads=threads, ident="AccuPredix"
        )
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
        log.info("serving on %s", self.url)
        try:
            self._server.run()
        finally:
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
