"""The settings page: one tab per subject, around one embedded server controller."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.runtime import Runtime
from ui.qt import QScrollArea, QSettings, QTabWidget, QVBoxLayout, QWidget, Signal
from ui.settings.bi import BiPanel
from ui.settings.keys import ApiKeysPanel
from ui.settings.oauth import OAuthPanel
from ui.settings.organisation import OrganisationPanel
from ui.settings.security import SecurityPanel
from ui.settings.server import ServerController, ServerPanel

log = logging.getLogger(__name__)


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


class SettingsPage(QWidget):
    """Embedded server, API keys, BI, OAuth apps, security and organisation.

    ``server_changed`` carries the running embedded server, or None once it
    stopped, for the status bar and the tray.
    """

    server_changed = Signal(object)

    def __init__(
        self,
        runtime: Runtime,
        settings: QSettings,
        *,
        on_run_created: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.workspace_id: int | None = None
        self.controller = ServerController(runtime, on_run_created=on_run_created)
        self.server = ServerPanel(runtime, self.controller, settings)
        self.keys = ApiKeysPanel(runtime)
        self.bi = BiPanel(runtime)
        self.oauth = OAuthPanel(runtime)
        self.security = SecurityPanel(runtime)
        self.organisation = OrganisationPanel(runtime)
        self.tabs = QTabWidget()
        for widget, title in (
            (self.server, "Embedded server"),
            (self.keys, "API keys"),
            (self.bi, "BI"),
            (self.oauth, "OAuth apps"),
            (self.security, "Security"),
            (self.organisation, "Organisation"),
        ):
            self.tabs.addTab(_scrolling(widget), title)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.controller.changed.connect(self._server_changed)

    def _server_changed(self, server: Any | None) -> None:
        self.bi.server_changed(server)
        self.oauth.server_changed(server)
        self.server_changed.emit(server)

    def show_tab(self, title: str) -> None:
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == title:
                self.tabs.setCurrentIndex(index)
                return

    def set_workspace(self, workspace_id: int | None) -> None:
        self.workspace_id = workspace_id
        self.server.set_workspace(workspace_id)
        self.organisation.set_workspace(workspace_id)

    def refresh(self) -> None:
        self.keys.refresh()
        self.security.refresh()
        self.organisation.refresh()
        self.server.refresh_webhooks()

    def shutdown(self) -> None:
        """Stop the embedded server, for quitting."""
        self.controller.stop_now()
