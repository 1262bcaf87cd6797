"""The last page: what will be saved, and what happens next."""

from __future__ import annotations

import html

from app.canonical import COLUMN_NAMES
from app.runtime import Runtime
from app.sync.schedules import ScheduleError
from ui.qt import QFormLayout, QVBoxLayout
from ui.wizard.base import WizardPage, wrapping_label
from ui.wizard.draft import MANUAL, Draft
from ui.wizard.schedule_page import describe_spec


class FinishPage(WizardPage):
    """A summary of the connector; Finish saves it (the wizard does the saving)."""

    def __init__(self, runtime: Runtime, draft: Draft) -> None:
        super().__init__(
            runtime,
            draft,
            "Finish",
            "Check the connector and save it. Passwords, keys and tokens are stored encrypted.",
        )
        self.fields = {
            key: wrapping_label(selectable=True)
            for key in ("name", "source", "test", "mapping", "schedule", "next")
        }
        form = QFormLayout()
        for key, label in (
            ("name", "Name"),
            ("source", "Source"),
            ("test", "Connection"),
            ("mapping", "Mapping"),
            ("schedule", "Schedule"),
            ("next", "After saving"),
        ):
            self.fields[key].setAccessibleName(label)
            form.addRow(f"{label}:", self.fields[key])
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        draft = self.draft
        preset = draft.preset_class()
        self._set("name", draft.name)
        self._set("source", preset.display_name if preset else "")
        if draft.probe is not None:
            account = f" as {draft.probe.account}" if draft.probe.account else ""
            self._set("test", f"Tested{account}: {draft.probe.message}")
        else:
            self._set("test", "Not tested successfully; the first sync will tell.")
        columns = (draft.mapping or {}).get("columns") or {}
        mapped = [name for name in COLUMN_NAMES if name in columns]
        self._set("mapping", f"{len(mapped)} of {len(COLUMN_NAMES)} columns: {', '.join(mapped)}")
        try:
            words = describe_spec(draft.schedule or MANUAL)
        except ScheduleError as exc:
            words = str(exc)
        self._set("schedule", words[:1].upper() + words[1:])
        if draft.sync_after_save:
            self._set("next", "The first sync starts; its progress shows on the Connectors page.")
        else:
            self._set("next", "Nothing runs until you click Sync now or the schedule is due.")

    def _set(self, key: str, text: str) -> None:
        self.fields[key].setText(html.escape(text))
