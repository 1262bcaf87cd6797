"""Settings → Embedded server: start and stop it, and the addresses it serves.

Binding the socket and stopping (which waits for requests in flight) happen on
a worker thread; the panel shows the state and the URLs to copy into Zapier,
Make, a BI tool or a Shopify app.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from app.config import Config
from app.runtime import Runtime
from app.services import connectors as connector_service
from app.services.urls import BaseUrls, base_urls, local_base_url
from app.services.webhooks import public_url_explanation, supports_webhooks, webhook_url
from ui.qt import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QObject,
    QPushButton,
    QSettings,
    QSpinBox,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.settings.common import CopyField, Tasks

log = logging.getLogger(__name__)


def check_bindable(host: str, port: int) -> None:
    """Raise OSError unless a server can listen on ``host:port``.

    Asked before Waitress is, because a Waitress server that fails to bind
    leaves its socket and its wake-up pipe open.
    """
    if port == 0:
        return
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        if os.name != "nt":
            # As Waitress binds: connections of an earlier server in TIME_WAIT are no obstacle.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)


class ServerController(QObject):
    """The desktop app's one embedded server: started and stopped off the GUI thread.

    ``changed`` carries the running server (with ``url``, ``host``, ``port``)
    or None once stopped; ``failed`` a message for the operator.
    """

    changed = Signal(object)
    failed = Signal(str)

    def __init__(
        self, runtime: Runtime, *, on_run_created: Callable[[int], None] | None = None
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.on_run_created = on_run_created
        self.server: Any | None = None
        self.app: Any | None = None
        self.busy = False
        self.tasks = Tasks(self, self._failed)

    @property
    def running(self) -> bool:
        return self.server is not None

    def start(self, host: str, port: int) -> None:
        """Bind ``host:port`` (0: any free port) and serve from a thread of its own."""
        if self.busy or self.server is not None:
            return
        self.busy = True
        runtime, on_run_created = self.runtime, self.on_run_created

        def make() -> tuple[Any, Any]:
            from embedded_api.app import create_app
            from embedded_api.server import EmbeddedServer

            flask_app = create_app(runtime, on_run_created=on_run_created)
            try:
                check_bindable(host, port)
                server = EmbeddedServer(flask_app, host, port)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise OSError(
                    f"Cannot listen on {host}:{port}: {reason}. Choose another port, or stop "
                    "the program that uses this one (perhaps `accupredix serve`)."
                ) from None
            server.start()
            return flask_app, server

        def started(result: tuple[Any, Any]) -> None:
            self.busy = False
            self.app, self.server = result
            log.info("embedded server started on %s", self.server.url)
            self.changed.emit(self.server)

        self.tasks.run(make, started, self._start_failed)

    def _start_failed(self, message: str) -> None:
        self.busy = False
        self.failed.emit(message)

    def stop(self) -> None:
        """Finish the requests in flight and close the socket; ``changed(None)`` follows."""
        server = self.server
        if self.busy or server is None:
            return
        self.busy = True

        def stopped(_: object) -> None:
            self.busy = False
            self.server, self.app = None, None
            log.info("embedded server stopped")
            self.changed.emit(None)

        self.tasks.run(server.stop, stopped, self._stop_failed)

    def _stop_failed(self, message: str) -> None:
        self.busy = False
        self.failed.emit(f"Could not stop the server: {message}")

    def stop_now(self) -> None:
        """Stop on this thread, for quitting: nothing is left listening behind the app."""
        server, self.server, self.app = self.server, None, None
        if server is not None:
            server.stop()
            self.changed.emit(None)

    def _failed(self, message: str) -> None:
        self.failed.emit(message)


def current_urls(config: Config, server: Any | None) -> BaseUrls:
    """The addresses clients use: the public URL, else where the server listens (or would)."""
    if server is not None:
        return base_urls(config, host=server.host, port=server.port)
    return base_urls(config)


def shopify_webhooks(runtime: Runtime, workspace_id: int | None) -> list[tuple[str, str | None]]:
    """(connector name, webhook URL or None without a public URL) of the workspace's Shopify
    connectors."""
    return [
        (row["name"], webhook_url(int(row["id"]), runtime.config))
        for row in connector_service.list_connectors(runtime.database, workspace_id)
        if supports_webhooks(str(row["preset"]))
    ]


def webhook_note(config: Config, server: Any | None) -> str | None:
    """Why Shopify cannot deliver here, naming the address a tunnel must forward to."""
    if server is None:
        return public_url_explanation(config)
    return public_url_explanation(dataclasses.replace(config, host=server.host, port=server.port))


class ServerPanel(QWidget):
    """Start/stop with host and port, the state, the public URL and the URLs to copy."""

    webhooks_loaded = Signal(list)

    def __init__(self, runtime: Runtime, controller: ServerController, settings: QSettings) -> None:
        super().__init__()
        self.runtime = runtime
        self.controller = controller
        self.settings = settings
        self.workspace_id: int | None = None
        self.tasks = Tasks(self, self._failed)
        box = self._build_server_box(runtime.config)
        urls = self._build_urls_box()
        self.webhooks_box = QGroupBox("Shopify webhooks")
        self.webhooks_form = QFormLayout(self.webhooks_box)
        self.webhook_fields: dict[str, CopyField] = {}
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Webhook note")

        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(urls)
        layout.addWidget(self.webhooks_box)
        layout.addWidget(self.note)
        layout.addStretch(1)

        controller.changed.connect(self._server_changed)
        controller.failed.connect(self._failed)
        self._server_changed(controller.server)

    def _build_server_box(self, config: Config) -> QGroupBox:
        self.state = QLabel("Stopped")
        self.state.setAccessibleName("Server state")
        self.state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.host = QLineEdit(str(self.settings.value("server/host", config.host)))
        self.host.setAccessibleName("Host")
        self.host.setToolTip(
            "127.0.0.1 serves this computer only; 0.0.0.0 serves the whole network."
        )
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.port.setValue(_as_port(self.settings.value("server/port"), config.port))
        self.port.setAccessibleName("Port")
        self.port.setSpecialValueText("any free port")
        self.toggle = QPushButton("Start server")
        self.toggle.clicked.connect(self.toggle_server)
        public = config.public_url or "not set (ACCUPREDIX_APP_PUBLIC_URL)"
        self.public = QLabel(public)
        self.public.setAccessibleName("Public URL")
        self.public.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Server message")

        box = QGroupBox("Embedded server")
        form = QFormLayout(box)
        form.addRow("State", self.state)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Public URL", self.public)
        buttons = QHBoxLayout()
        buttons.addWidget(self.toggle)
        buttons.addStretch(1)
        form.addRow(buttons)
        form.addRow(self.message)
        return box

    def _build_urls_box(self) -> QGroupBox:
        self.fields = {
            "api": CopyField("API base URL"),
            "openapi": CopyField("OpenAPI document"),
            "odata": CopyField("OData feed URL"),
            "health": CopyField("Health check"),
        }
        urls = QGroupBox("Addresses")
        urls_form = QFormLayout(urls)
        for key, label in (
            ("api", "API (Zapier, Make)"),
            ("openapi", "OpenAPI"),
            ("odata", "OData feed (BI)"),
            ("health", "Health check"),
        ):
            urls_form.addRow(label, self.fields[key])
        return urls

    # State

    def toggle_server(self) -> None:
        if self.controller.running:
            self.toggle.setEnabled(False)
            self.state.setText("Stopping…")
            self.settings.setValue("server/running", False)
            self.controller.stop()
            return
        host = self.host.text().strip()
        if not host:
            self._failed("Enter the address to listen on, such as 127.0.0.1.")
            return
        self.settings.setValue("server/host", host)
        self.settings.setValue("server/port", self.port.value())
        self.settings.setValue("server/running", True)
        self.toggle.setEnabled(False)
        self.state.setText("Starting…")
        self.message.setText("")
        self.controller.start(host, self.port.value())

    def restore(self) -> None:
        """Start the server if it was running when the app last closed."""
        if _as_bool(self.settings.value("server/running", False)) and not self.controller.running:
            self.toggle_server()

    def _server_changed(self, server: Any | None) -> None:
        running = server is not None
        self.toggle.setEnabled(True)
        self.toggle.setText("Stop server" if running else "Start server")
        self.host.setEnabled(not running)
        self.port.setEnabled(not running)
        if running:
            self.state.setText(f"Running on {server.url}")
        else:
            self.state.setText("Stopped")
        urls = current_urls(self.runtime.config, server)
        for key, field in self.fields.items():
            field.set_value(getattr(urls, key))
        suffix = "" if running or urls.public else " (once the server runs)"
        self.fields["api"].edit.setToolTip(f"Where automation tools call{suffix}")
        self.refresh_webhooks()

    def set_workspace(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self.refresh_webhooks()

    def refresh_webhooks(self) -> None:
        runtime, workspace, server = self.runtime, self.workspace_id, self.controller.server
        self.tasks.run(
            lambda: (
                shopify_webhooks(runtime, workspace),
                webhook_note(runtime.config, server),
            ),
            self._show_webhooks,
        )

    def _show_webhooks(self, loaded: tuple[list[tuple[str, str | None]], str | None]) -> None:
        connectors, note = loaded
        while self.webhooks_form.rowCount():
            self.webhooks_form.removeRow(0)
        self.webhook_fields = {}
        if not connectors:
            self.webhooks_form.addRow(QLabel("No Shopify connector in this workspace."))
        for name, url in connectors:
            if url is None:
                self.webhooks_form.addRow(name, QLabel("needs a public URL (see below)"))
                continue
            field = CopyField(f"Webhook URL of {name}", url)
            self.webhook_fields[name] = field
            self.webhooks_form.addRow(name, field)
        address = local_base_url(self.host.text().strip() or "127.0.0.1", self.port.value())
        self.note.setText(
            note
            or (
                "Shopify delivers to the public URL, which must forward to this server "
                f"({address})."
            )
        )
        self.webhooks_loaded.emit(connectors)

    def _failed(self, message: str) -> None:
        if not self.controller.running:
            self.settings.setValue("server/running", False)
        self.toggle.setEnabled(True)
        self.state.setText(
            f"Running on {self.controller.server.url}" if self.controller.running else "Stopped"
        )
        self.message.setText(message)


def _as_port(value: Any, default: int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return default
    return port if 0 <= port <= 65535 else default


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1", "yes")
    return bool(value)
