"""The credentials page: the connector's name and the preset's settings form.

A preset that signs in with OAuth also gets the Connect button. When editing,
the form starts from the stored settings, stored secrets show as ``********``
and only what is typed replaces them. Validation runs on every edit (it is
the preset's own, so the wizard and the CLI never disagree).
"""

from __future__ import annotations

import html
from typing import Any

from app.runtime import Runtime
from ui.qt import (
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from ui.wizard.base import WizardPage, error_label, show_error, wrapping_label
from ui.wizard.draft import Draft, config_problems
from ui.wizard.failures import Failure
from ui.wizard.field_form import FieldForm
from ui.wizard.oauth_panel import ConnectPanel

REQUIRED = "is required"


class CredentialsPage(WizardPage):
    """Name, Connect and the generated settings form; complete when the settings validate."""

    def __init__(self, runtime: Runtime, draft: Draft, *, server: Any | None = None) -> None:
        super().__init__(
            runtime,
            draft,
            "Credentials",
            "How AccuPredix reaches the source and signs in. Nothing is saved until Finish.",
        )
        self.server = server
        self.reconnecting = False
        self.form: FieldForm | None = None
        self.panel: ConnectPanel | None = None
        self.problems: dict[str, str] = {}
        self._built_for: tuple[str | None, int | None] | None = None
        self._auto_connect_done = False
        self._default_name = ""

        self.banner = wrapping_label(selectable=True)
        self.banner.setAccessibleName("Connector state")
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        self.banner.setVisible(False)
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Connector name")
        self.name_edit.setToolTip("How the connector is listed; you can rename it later.")
        self.name_edit.textChanged.connect(self._changed)
        self.name_error = error_label()
        name_label = QLabel("Connector &name *:")
        name_label.setBuddy(self.name_edit)
        name_box = QWidget()
        name_column = QVBoxLayout(name_box)
        name_column.setContentsMargins(0, 0, 0, 0)
        name_column.addWidget(self.name_edit)
        name_column.addWidget(self.name_error)
        top = QFormLayout()
        top.addRow(name_label, name_box)

        self.connect_slot = QVBoxLayout()
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        # Tab goes from field to field; the scroll area follows the focus by itself.
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.summary = wrapping_label()
        self.summary.setAccessibleName("What is missing")
        note = QLabel("* required")
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(top)
        layout.addLayout(self.connect_slot)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(note)
        layout.addWidget(self.summary)

    # Building

    def initializePage(self) -> None:  # noqa: N802
        self.build()

    def build(self) -> None:
        """(Re)build the form for the draft's preset; the same preset keeps what was typed."""
        preset = self.draft.preset_class()
        key = (self.draft.preset, self.draft.connector_id)
        if preset is None or key == self._built_for:
            self._validate()
            return
        self._built_for = key
        stored = self.draft.stored
        if stored is not None:
            self.name_edit.setText(self.draft.name or stored.name)
            self._show_state(stored.status, stored.status_message)
        elif self.draft.name in ("", self._default_name):
            # A name the operator did not type follows the source chosen.
            self._default_name = preset.display_name
            self.name_edit.setText(preset.display_name)
        if self.panel is not None:
            self.panel.stop()
            self.panel.deleteLater()
            self.panel = None
        if preset.oauth_provider:
            self.panel = ConnectPanel(
                self, self.draft, preset.oauth_provider, shop=self._shop, server=self.server
            )
            self.panel.changed.connect(self._panel_changed)
            self.connect_slot.addWidget(self.panel)
        self.form = FieldForm(
            preset.fields,
            stored=stored.config if stored is not None else (self.draft.values or None),
            stored_secrets=stored.secret_names if stored is not None else frozenset(),
        )
        self.form.changed.connect(self._changed)
        self.scroll.setWidget(self.form)
        self.setTabOrder(self.name_edit, self.panel.button if self.panel else self.form)
        self._changed()
        if self.reconnecting and self.panel is not None and not self._auto_connect_done:
            self._auto_connect_done = True
            self.panel.start()
        elif self.reconnecting:
            self._focus_first_secret()

    def _show_state(self, status: str, message: str | None) -> None:
        if status == "needs_reconnect" or self.reconnecting:
            text = "<b>This connector needs to be reconnected.</b>"
            if message:
                text += f" The source said: {html.escape(message)}"
            if self._oauth():
                text += " Sign in again with Connect"
            else:
                text += " Enter new credentials below and test them"
            self.banner.setText(text + "; the mapping, schedule and history stay.")
            self.banner.setVisible(True)
        elif status == "error" and message:
            self.banner.setText(f"The last sync failed: {html.escape(message)}")
            self.banner.setVisible(True)
        else:
            self.banner.setVisible(False)

    def _oauth(self) -> bool:
        preset = self.draft.preset_class()
        return bool(preset and preset.oauth_provider)

    def _focus_first_secret(self) -> None:
        preset = self.draft.preset_class()
        if self.form is None or preset is None:
            return
        shown = self.form.values()
        for spec in preset.fields:
            if spec.secret and spec.name in shown:
                # After the event loop has shown the new form: a hidden widget takes no focus.
                QTimer.singleShot(0, self.form.editor(spec.name).setFocus)
                return

    def _shop(self) -> str | None:
        if self.form is None or "shop" not in self.form.rows:
            return None
        return str(self.form.rows["shop"].get() or "") or None

    # Checking

    def _changed(self, *_: object) -> None:
        self.draft.name = self.name_edit.text().strip()
        if self.form is not None:
            self.draft.values = self.form.values()
        self.draft.probe = None
        self._validate()

    def _panel_changed(self) -> None:
        self.draft.probe = None
        self._validate()

    def _validate(self, *, all_fields: bool = False) -> None:
        preset = self.draft.preset_class()
        if preset is None or self.form is None:
            return
        problems = config_problems(preset, self.draft.validation_values())
        if self.panel is not None and (self.panel.connected or self.draft.reconnected):
            # The sign-in supplies what the form leaves empty (tokens, the company).
            problems = {k: v for k, v in problems.items() if v != REQUIRED}
        self.problems = problems
        self.form.show_problems(problems, all_fields=all_fields)
        show_error(self.name_error, None if self.draft.name else "A connector needs a name.")
        self.summary.setText(self._summary())
        self.completeChanged.emit()

    def _summary(self) -> str:
        if self.form is None:
            return ""
        if self.panel is not None and self.panel.waiting:
            return "Waiting for the sign-in to finish in the browser."
        status = self.panel.status if self.panel is not None else None
        if status is not None and status.status == "complete" and not self.connected():
            return "Choose the account this connector reads."
        missing = [self.form.label_of(n) for n, p in self.problems.items() if p == REQUIRED]
        other = [n for n, p in self.problems.items() if p != REQUIRED]
        parts = []
        if missing:
            parts.append("To go on, fill in: " + ", ".join(missing) + ".")
        if other:
            parts.append("Correct the fields marked in red.")
        return " ".join(parts)

    def show_failure(self, failure: Failure) -> None:
        """Mark the fields a test found wrong (the test page sends its failure here)."""
        if self.form is not None and failure.fields:
            self.form.mark_touched(set(failure.fields))
            self.form.show_problems(failure.fields, all_fields=True)

    def connected(self) -> bool:
        return self.panel is not None and self.panel.connected

    def isComplete(self) -> bool:  # noqa: N802
        if self.form is None or not self.draft.name:
            return False
        if self.panel is not None:
            if self.panel.waiting:
                return False
            status = self.panel.status
            if status is not None and status.status == "complete" and not self.connected():
                return False
        return not self.problems

    def cleanupPage(self) -> None:  # noqa: N802
        # Back to the source page: a sign-in in progress is for this source only.
        if self.panel is not None:
            self.panel.stop()

    def stop(self) -> None:
        """Stop background polling (the wizard is closing)."""
        if self.panel is not None:
            self.panel.stop()
        self.forget_work()
