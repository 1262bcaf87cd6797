"""Settings → OAuth apps: which providers' Connect buttons work, and what to register.

Client credentials come from the environment (``ACCUPREDIX_OAUTH_<PROVIDER>_
CLIENT_ID`` and ``_CLIENT_SECRET``), read at start; this panel says which are
set, never shows a secret, and gives the redirect URI each provider's app must
list. Storing them from here would need a table of their own and
``app.oauth.clients.client_for`` to read it.
"""

from __future__ import annotations

from typing import Any

from app.oauth.clients import client_for, variable_names
from app.oauth.providers import PROVIDERS
from app.runtime import Runtime
from app.services.oauth import redirect_uri
from ui.qt import QFormLayout, QGroupBox, QLabel, Qt, QVBoxLayout, QWidget
from ui.settings.common import CopyField


def client_id_hint(client_id: str) -> str:
    """Enough of a client id to recognise it (ids are not secret, but long)."""
    return client_id if len(client_id) <= 12 else f"{client_id[:6]}…{client_id[-4:]}"


class OAuthPanel(QWidget):
    """One box per provider: configured or not, and the redirect URI to register."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        intro = QLabel(
            "Connect buttons sign in with the provider through your own app registration. "
            "Its client id and secret are read from environment variables when AccuPredix "
            "starts, so that they stay out of the store and out of backups; set them "
            "where the app or the service starts and restart it."
        )
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        self.status: dict[str, QLabel] = {}
        self.redirects: dict[str, CopyField] = {}
        for provider in PROVIDERS.values():
            box = QGroupBox(provider.display_name)
            form = QFormLayout(box)
            status = QLabel()
            status.setWordWrap(True)
            status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            status.setAccessibleName(f"{provider.display_name} app")
            redirect = CopyField(f"{provider.display_name} redirect URI")
            form.addRow("App", status)
            form.addRow("Redirect URI", redirect)
            self.status[provider.id] = status
            self.redirects[provider.id] = redirect
            layout.addWidget(box)
        layout.addStretch(1)
        self.server_changed(None)

    def server_changed(self, server: Any | None) -> None:
        """Fill in each provider's state; the redirect URI follows where the server listens."""
        config = self.runtime.config
        host = server.host if server is not None else None
        port = server.port if server is not None else None
        for provider_id, label in self.status.items():
            client = client_for(provider_id, config)
            if client is None:
                label.setText(f"Not configured: set {variable_names(provider_id)}.")
            else:
                label.setText(
                    f"Configured from the environment (client id {client_id_hint(client.client_id)}"
                    ", secret ********)."
                )
            self.redirects[provider_id].set_value(
                redirect_uri(config, provider_id, host=host, port=port)
            )
