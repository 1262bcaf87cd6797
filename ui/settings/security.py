"""Settings → Security: where the encryption key of the secrets comes from, and rotation."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keyring
import keyring.errors

from app.config import KEY_ENV, PREVIOUS_KEYS_ENV, ConfigError, decode_key
from app.runtime import Runtime
from app.services import secrets
from app.vault import KEYRING_SERVICE, KEYRING_USERNAME, key_id
from ui.qt import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QMessageBox,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.settings.common import Tasks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeySource:
    """Where the current key lives and its public fingerprint (None: none yet, or unreadable)."""

    source: str
    fingerprint: str | None
    previous: tuple[str, ...]
    note: str = ""


def key_source(runtime: Runtime) -> KeySource:
    """Describe the key without creating one: reading Settings must not write the keyring."""
    config = runtime.config
    previous = tuple(key_id(key) for key in config.previous_keys)
    if config.credentials_key is not None:
        return KeySource(
            f"the environment variable {KEY_ENV}", key_id(config.credentials_key), previous
        )
    backend = keyring.get_keyring()
    source = f"the OS keyring ({backend.name})"
    try:
        stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
    except (keyring.errors.KeyringError, RuntimeError) as exc:
        return KeySource(source, None, previous, f"The keyring cannot be read: {exc}")
    if not stored:
        return KeySource(
            source,
            None,
            previous,
            "No key yet: one is made and kept in the keyring when the first secret is saved.",
        )
    try:
        return KeySource(source, key_id(decode_key(stored, "the key in the OS keyring")), previous)
    except ConfigError as exc:
        return KeySource(source, None, previous, str(exc))


class SecurityPanel(QWidget):
    rotated = Signal(object)
    action_failed = Signal(str)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.tasks = Tasks(self, self._failed)
        self.source = QLabel("…")
        self.source.setAccessibleName("Key source")
        self.source.setWordWrap(True)
        self.fingerprint = QLabel("…")
        self.fingerprint.setAccessibleName("Key fingerprint")
        self.fingerprint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.previous = QLabel("…")
        self.previous.setWordWrap(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        box = QGroupBox("Encryption of connector secrets")
        form = QFormLayout(box)
        form.addRow(
            QLabel(
                "Connector passwords, tokens and signing secrets are stored encrypted "
                "(AES-256-GCM) with this key; they are shown as ******** everywhere."
            )
        )
        form.addRow("Key from", self.source)
        form.addRow("Fingerprint", self.fingerprint)
        form.addRow("Older keys", self.previous)
        form.addRow(self.note)

        how = QLabel(
            f"To change the key: set {KEY_ENV} to the new key, list the old one in "
            f"{PREVIOUS_KEYS_ENV}, restart, then rotate. Rotation re-encrypts every stored "
            "secret under the current key in one transaction; afterwards the old key can go."
        )
        how.setWordWrap(True)
        self.rotate_button = QPushButton("Rotate now…")
        self.rotate_button.clicked.connect(self.rotate)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("Security message")
        rotation = QGroupBox("Rotation")
        rotation_layout = QVBoxLayout(rotation)
        rotation_layout.addWidget(how)
        rotation_layout.addWidget(self.rotate_button, 0, Qt.AlignmentFlag.AlignLeft)
        rotation_layout.addWidget(self.message)
        layout = QVBoxLayout(self)
        layout.addWidget(box)
        layout.addWidget(rotation)
        layout.addStretch(1)

    def refresh(self) -> None:
        runtime = self.runtime
        self.tasks.run(lambda: key_source(runtime), self._show)

    def _show(self, source: KeySource) -> None:
        self.source.setText(source.source)
        self.fingerprint.setText(source.fingerprint or "—")
        self.previous.setText(", ".join(source.previous) if source.previous else "none")
        self.note.setText(source.note)

    def rotate(self) -> None:
        answer = QMessageBox.question(
            self,
            "Rotate the encryption key",
            "Re-encrypt every stored secret under the current key now?\n\nSyncs keep "
            "working meanwhile; if anything fails, nothing changes.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.rotate_button.setEnabled(False)
        self.message.setText("Rotating…")
        database, vault = self.runtime.database, self.runtime.vault

        def done(result: secrets.RotationResult) -> None:
            self.rotate_button.setEnabled(True)
            self.message.setText(
                f"Re-encrypted {result.rotated:,} secrets; {result.already_current:,} were "
                "already under the current key."
            )
            self.rotated.emit(result)
            self.refresh()

        def failed(message: str) -> None:
            self.rotate_button.setEnabled(True)
            self._failed(f"Rotation failed, nothing was changed: {message}")

        self.tasks.run(lambda: secrets.rotate(database, vault), done, failed, long=True)

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
