"""Settings → API keys: create one (shown once), see each key's scopes and last use, revoke."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from app.redaction import register_secret
from app.runtime import Runtime
from app.services import api_keys
from app.services.organisations import get_organisation
from app.store.db import Database
from app.store.models import ApiKey, Plan
from app.store.types import utcnow
from embedded_api.auth import KEY_CACHE_SECONDS, MINIMUM_PLAN
from ui.formatting import ago, when
from ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QModelIndex,
    QPersistentModelIndex,
    QPushButton,
    Qt,
    QTableView,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.settings.common import CopyField, Tasks
from ui.table_model import ListTableModel

log = logging.getLogger(__name__)

Index = QModelIndex | QPersistentModelIndex

SCOPE_HELP = {
    "read": "read runs, series, forecasts, alerts (Zapier and Make triggers)",
    "write": "start runs, mark alerts read (Zapier and Make actions)",
    "odata": "the OData feed (Power BI, Tableau)",
}


def _key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": sorted(key.scope_set, key=api_keys.SCOPES.index),
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def key_rows(database: Database) -> tuple[list[dict[str, Any]], str]:
    """The organisation's keys (newest first) and its plan."""
    with database.session() as session:
        keys = [_key_row(key) for key in api_keys.list_keys(session)]
        plan = get_organisation(session).plan.value
    return list(reversed(keys)), plan


def create_key(database: Database, name: str, scopes: list[str]) -> tuple[dict[str, Any], str]:
    """A new key's row and its secret, which exists in clear only in this answer."""
    with database.session() as session:
        created = api_keys.create_key(session, name, scopes)
        register_secret(created.secret)
        return _key_row(created.key), created.secret


def revoke_key(database: Database, key_id: int) -> dict[str, Any]:
    with database.session() as session:
        return _key_row(api_keys.revoke_key(session, key_id))


class KeyTableModel(ListTableModel):
    COLUMNS = ("Name", "Key", "Scopes", "Created", "Last used", "State")

    def __init__(self) -> None:
        super().__init__()
        self._items: list[dict[str, Any]] = []
        self._now = utcnow()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        key = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(key, index.column())
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 1:
            return "Only the start of a key is kept in clear; the rest is stored as a hash."
        if role == Qt.ItemDataRole.ForegroundRole and key["revoked_at"] is not None:
            return Qt.GlobalColor.gray
        return None

    def _text(self, key: dict[str, Any], column: int) -> str:
        moment = {3: key["created_at"], 4: key["last_used_at"]}.get(column)
        if column in (3, 4):
            return ago(moment, self._now) if moment else "never"
        if column == 5:
            revoked = key["revoked_at"]
            return f"revoked {when(revoked)}" if revoked else "active"
        return (key["name"], f"{key['prefix']}_…", ", ".join(key["scopes"]))[column]

    def set_keys(self, keys: list[dict[str, Any]], now: dt.datetime | None = None) -> None:
        self.beginResetModel()
        self._items = keys
        self._now = now or utcnow()
        self.endResetModel()

    def key_at(self, row: int) -> dict[str, Any] | None:
        return self._items[row] if 0 <= row < len(self._items) else None


class ApiKeysPanel(QWidget):
    """Create, list and revoke keys; a new key is shown once with a Copy button."""

    loaded = Signal(list)
    created = Signal(int)
    revoked = Signal(int)
    action_failed = Signal(str)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.tasks = Tasks(self, self._failed)
        self.model = KeyTableModel()

        create_box = self._build_create_box()
        self._build_new_key_box()
        self._build_table()
        self.revoke_button = QPushButton("Revoke…")
        self.revoke_button.clicked.connect(self.revoke_selected)
        self.plan_note = QLabel()
        self.plan_note.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAccessibleName("API keys message")

        layout = QVBoxLayout(self)
        layout.addWidget(create_box)
        layout.addWidget(self.new_key_box)
        layout.addWidget(self.plan_note)
        layout.addWidget(self.table, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.revoke_button)
        actions.addStretch(1)
        layout.addLayout(actions)
        layout.addWidget(self.message)
        self._update_actions()

    def _build_create_box(self) -> QGroupBox:
        self.name = QLineEdit()
        self.name.setPlaceholderText("What uses it, e.g. Zapier or Power BI")
        self.name.setAccessibleName("Key name")
        self.scopes = {scope: QCheckBox(scope) for scope in api_keys.SCOPES}
        for scope, box in self.scopes.items():
            box.setToolTip(SCOPE_HELP[scope])
        self.scopes["read"].setChecked(True)
        self.create_button = QPushButton("Create key")
        self.create_button.clicked.connect(self.create)
        scope_row = QHBoxLayout()
        for box in self.scopes.values():
            scope_row.addWidget(box)
        scope_row.addStretch(1)
        create_box = QGroupBox("New key")
        form = QFormLayout(create_box)
        form.addRow("Name", self.name)
        form.addRow("Scopes", scope_row)
        form.addRow(self.create_button)
        return create_box

    def _build_new_key_box(self) -> None:
        self.new_key_box = QGroupBox("Your new key")
        self.new_key = CopyField("New API key")
        warning = QLabel(
            "Copy this key now and keep it somewhere safe: it is shown only once, and "
            "AccuPredix keeps only a hash of it. Anyone with the key can use it."
        )
        warning.setWordWrap(True)
        warning.setStyleSheet("color: #b45309;")
        done = QPushButton("I have copied it")
        done.clicked.connect(self.forget_new_key)
        new_layout = QVBoxLayout(self.new_key_box)
        new_layout.addWidget(warning)
        new_layout.addWidget(self.new_key)
        new_layout.addWidget(done, 0, Qt.AlignmentFlag.AlignLeft)
        self.new_key_box.setVisible(False)

    def _build_table(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("API keys")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())

    def refresh(self) -> None:
        database = self.runtime.database
        self.tasks.run(lambda: key_rows(database), self._show)

    def _show(self, loaded: tuple[list[dict[str, Any]], str]) -> None:
        keys, plan = loaded
        self.model.set_keys(keys)
        if Plan(plan).rank < MINIMUM_PLAN.rank:
            self.plan_note.setText(
                f"This organisation is on the {plan.title()} plan: keys can be created, but "
                f"the API and the OData feed answer only on {MINIMUM_PLAN.value.title()} or "
                "higher (Settings → Organisation)."
            )
        else:
            self.plan_note.setText("")
        self._update_actions()
        self.loaded.emit(keys)

    def selected_key(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.key_at(rows[0].row()) if rows else None

    def _update_actions(self) -> None:
        key = self.selected_key()
        self.revoke_button.setEnabled(key is not None and key["revoked_at"] is None)

    def create(self) -> None:
        name = self.name.text().strip()
        scopes = [scope for scope, box in self.scopes.items() if box.isChecked()]
        if not name:
            self._failed("Give the key a name that says what uses it.")
            return
        if not scopes:
            self._failed("Choose at least one scope.")
            return
        database = self.runtime.database
        self.create_button.setEnabled(False)

        def done(result: tuple[dict[str, Any], str]) -> None:
            self.create_button.setEnabled(True)
            row, secret = result
            self.new_key.set_value(secret)
            self.new_key_box.setVisible(True)
            self.name.clear()
            self.message.setText(f"Created key “{row['name']}” ({row['prefix']}_…).")
            self.created.emit(row["id"])
            self.refresh()

        def failed(message: str) -> None:
            self.create_button.setEnabled(True)
            self._failed(message)

        self.tasks.run(lambda: create_key(database, name, scopes), done, failed)

    def forget_new_key(self) -> None:
        self.new_key.set_value("")
        self.new_key_box.setVisible(False)

    def revoke_selected(self) -> None:
        key = self.selected_key()
        if key is None or key["revoked_at"] is not None:
            return
        answer = QMessageBox.question(
            self,
            "Revoke API key",
            f"Revoke “{key['name']}” ({key['prefix']}_…)?\n\nWhatever uses it stops working "
            f"within {KEY_CACHE_SECONDS:g} seconds. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        database, key_id = self.runtime.database, key["id"]

        def done(row: dict[str, Any]) -> None:
            self.message.setText(f"Revoked “{row['name']}”.")
            self.revoked.emit(row["id"])
            self.refresh()

        self.tasks.run(lambda: revoke_key(database, key_id), done)

    def _failed(self, message: str) -> None:
        self.message.setText(message)
        self.action_failed.emit(message)
