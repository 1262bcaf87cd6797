"""A WSGI app served for real on 127.0.0.1 in a background thread.

``WsgiServer(app)`` picks a free port; ``stop()`` (or leaving the ``with``
block) shuts it down, waits for requests in progress and frees the port. Its
``stopping`` event lets a deliberately slow handler end early on shutdown.

``serve_responses(handler)`` is the small version for tests that script each
answer: ``handler(request)`` returns a werkzeug ``Response``; the context
manager yields the server, whose ``url`` is ``http://127.0.0.1:<port>`` and
whose ``requests`` lists what arrived (method, path, query, headers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _QuietHandler(WSGIRequestHandler):
    # One line per request would flood the test logs (and show query strings).
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class WsgiServer:
    """``app`` on ``http://127.0.0.1:<free port>`` until :meth:`stop`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.stopping = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> WsgiServer:
        server = make_server("127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler)
        # Join handler threads on close, so that nothing outlives the server.
        server.daemon_threads = False  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-wsgi-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self.stopping.set()
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> WsgiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Arrived:
    """A request as a scripted server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class ScriptedServer(WsgiServer):
    """Answers every request with ``handler(request)`` and remembers what arrived."""

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        super().__init__(self._app)
        self.handler = handler
        self.requests: list[Arrived] = []
        self._lock = threading.Lock()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            self.requests.append(
                Arrived(
                    request.method,
                    request.path,
                    dict(request.args.items()),
                    dict(request.headers.items()),
                )
            )
        return self.handler(request)(environ, start_response)


@contextmanager
def serve_responses(handler: Callable[[Request], Response]) -> Iterator[ScriptedServer]:
    server = ScriptedServer(handler)
    with server:
        yield server
