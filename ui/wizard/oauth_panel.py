"""The Connect button: sign in with the provider in the browser and follow it from here.

The sign-in starts on a worker thread (it writes the authorisation's state to
the store), the system browser opens the provider's page, and the status is
polled off the GUI thread until the embedded server's callback finishes it.
A new connector's sign-in may reach several accounts (Xero organisations):
the operator picks one. A Reconnect stores the new tokens as soon as the
callback arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.oauth.clients import client_for, variable_names
from app.oauth.flow import COMPLETE, FAILED, PENDING, Authorization, ConnectStatus
from app.oauth.providers import get_provider
from app.runtime import Runtime
from app.services import oauth as oauth_service
from ui.qt import (
    QComboBox,
    QDesktopServices,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTimer,
    QUrl,
    QVBoxLayout,
    Signal,
)
from ui.wizard.base import WizardPage, wrapping_label
from ui.wizard.draft import Draft
from ui.wizard.failures import Failure

log = logging.getLogger(__name__)

POLL_MS = 1_000


def open_in_browser(url: str) -> bool:
    """Open ``url`` in the system browser; False when none could be started."""
    return QDesktopServices.openUrl(QUrl(url))


def connect_available(runtime: Runtime, provider: str) -> bool:
    """Whether the provider's client credentials are configured, which Connect needs."""
    return client_for(provider, runtime.config) is not None


class ConnectPanel(QGroupBox):
    """Connect (or Reconnect) with an OAuth provider; ``changed`` follows each step.

    ``page`` runs the background work, so its results are dropped with the
    page's; ``shop`` reads the shop domain typed in the form (Shopify).
    """

    changed = Signal()

    def __init__(
        self,
        page: WizardPage,
        draft: Draft,
        provider: str,
        *,
        shop: Callable[[], str | None],
        server: Any | None = None,
    ) -> None:
        self.spec = get_provider(provider)
        super().__init__(f"Sign in with {self.spec.display_name}")
        self.page = page
        self.runtime = page.runtime
        self.draft = draft
        self.shop = shop
        self.server = server
        self.status: ConnectStatus | None = None
        self._polling = False
        self._state = ""
        self.available = connect_available(self.runtime, provider)

        self.button = QPushButton(f"Connect with {self.spec.display_name}…")
        self.button.setAccessibleName(f"Connect with {self.spec.display_name}")
        self.button.clicked.connect(self.start)
        self.state_label = wrapping_label(selectable=True)
        self.state_label.setAccessibleName("Sign-in status")
        self.choice = QComboBox()
        self.choice.setAccessibleName("Account to read")
        self.choice.currentIndexChanged.connect(self._chosen)
        self.choice_label = QLabel("Account:")
        self.choice_label.setBuddy(self.choice)
        choice_row = QFormLayout()
        choice_row.addRow(self.choice_label, self.choice)
        self.callback_note = wrapping_label(selectable=True)

        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.state_label)
        layout.addLayout(choice_row)
        layout.addWidget(self.callback_note)
        self._show_choices([])

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        if self.available:
            self.callback_note.setText(
                f"The browser returns to {self._redirect_uri()}; that address must be "
                f"registered with the {self.spec.display_name} app and reachable from "
                "this computer (the embedded server must be running)."
            )
            self.state_label.setText(
                "Connect opens the sign-in page in your browser; the fields below can stay empty."
            )
        else:
            self.button.setEnabled(False)
            self.state_label.setText(
                f"Connect is not set up on this installation: set {variable_names(provider)} "
                "and restart AccuPredix, or enter the credentials below."
            )
            self.callback_note.setVisible(False)

    def _where(self) -> dict[str, Any]:
        host = getattr(self.server, "host", None)
        port = getattr(self.server, "port", None)
        return {"host": host, "port": port}

    def _redirect_uri(self) -> str:
        return oauth_service.redirect_uri(self.runtime.config, self.spec.id, **self._where())

    # The sign-in

    @property
    def connected(self) -> bool:
        """Whether the sign-in finished (and, with several accounts, one was picked)."""
        if self.status is None or self.status.status != COMPLETE:
            return False
        return not self.status.choices or self.draft.oauth_choice is not None

    @property
    def waiting(self) -> bool:
        return self._polling

    def start(self) -> None:
        """Begin a sign-in (a Reconnect when editing) and open the browser."""
        if not self.available:
            return
        runtime, draft, where = self.runtime, self.draft, self._where()
        shop = (self.shop() or None) if self.spec.per_shop else None
        self.stop()
        self.status = None
        self.draft.oauth_state = self.draft.oauth_choice = self.draft.oauth_account = None
        self._show_choices([])
        self.button.setEnabled(False)
        self.state_label.setText(f"Starting the {self.spec.display_name} sign-in…")
        if draft.connector_id is not None:
            connector_id = draft.connector_id

            def begin() -> Authorization:
                return oauth_service.start_reconnect(
                    runtime.database,
                    runtime.vault,
                    runtime.config,
                    connector_id,
                    shop=shop,
                    **where,
                )
        else:
            preset = draft.preset

            def begin() -> Authorization:
                return oauth_service.start_connect(
                    runtime.database,
                    runtime.vault,
                    runtime.config,
                    self.spec.id,
                    preset=preset,
                    shop=shop,
                    **where,
                )

        self.page.run(begin, self._started, self._start_failed)
        self.changed.emit()

    def _started(self, authorization: Authorization) -> None:
        log.info("%s sign-in started from the wizard", self.spec.id)
        self.draft.oauth_state = authorization.state if self.draft.connector_id is None else None
        self._state = authorization.state
        opened = open_in_browser(authorization.url)
        if opened:
            self.state_label.setText(
                f"Sign in to {self.spec.display_name} in the browser window that opened, "
                "and allow access. This page follows along."
            )
        else:
            self.state_label.setText(
                "No browser could be opened. Open this address in a browser to sign in:\n"
                f"{authorization.url}"
            )
        self.button.setText("Start again")
        self.button.setEnabled(True)
        self._polling = True
        self._timer.start()
        self.changed.emit()

    def _start_failed(self, failure: Failure) -> None:
        self.button.setEnabled(True)
        self.state_label.setText(f"The sign-in could not start: {failure.message}")
        self.changed.emit()

    def _poll(self) -> None:
        if self.page.busy:
            return  # the last look has not come back yet
        runtime, state = self.runtime, self._state
        self.page.run(lambda: oauth_service.poll(runtime.database, state), self._polled, self._lost)

    def _polled(self, status: ConnectStatus) -> None:
        if status.status == PENDING:
            return
        self.stop()
        self.status = status
        if status.status == FAILED:
            self.draft.oauth_state = None
            self.state_label.setText(f"The sign-in did not succeed: {status.error}")
        elif status.connector_id is not None:
            self.draft.reconnected = True
            self.state_label.setText(
                f"Reconnected to {self.spec.display_name} as {status.account}. The new "
                "sign-in is saved; the mapping, schedule and history are unchanged."
            )
        else:
            self.draft.oauth_account = status.account
            self.state_label.setText(f"Connected to {self.spec.display_name} as {status.account}.")
            self._show_choices(status.choices)
        self.changed.emit()

    def _lost(self, failure: Failure) -> None:
        self.stop()
        self.state_label.setText(f"The sign-in cannot be followed: {failure.message}")
        self.changed.emit()

    def _show_choices(self, choices: list[dict[str, str]]) -> None:
        self.choice.blockSignals(True)
        self.choice.clear()
        if choices:
            self.choice.addItem("Choose the account to read…", None)
            for choice in choices:
                self.choice.addItem(f"{choice['name']} ({choice['id']})", choice["id"])
        self.choice.blockSignals(False)
        self.choice.setVisible(bool(choices))
        self.choice_label.setVisible(bool(choices))

    def _chosen(self, _index: int) -> None:
        self.draft.oauth_choice = self.choice.currentData()
        self.draft.probe = None
        self.changed.emit()

    def stop(self) -> None:
        """Stop following the sign-in (the wizard closes, or it ended)."""
        self._timer.stop()
        self._polling = False
