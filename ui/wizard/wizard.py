"""The connector wizard: add a connector, edit one, or reconnect one.

Pages: Source (skipped when editing) → Credentials → Test connection →
Mapping → Preview → Schedule → Finish. Finish saves through the connector
use cases (secrets encrypted) off the GUI thread and emits ``saved``; the
window then starts the first sync on the connectors page, where its progress
shows. When editing, Finish is offered from the test page on, so a
Reconnect need not walk through the mapping and schedule, which stay.
"""

from __future__ import annotations

import logging
from typing import Any

from app.runtime import Runtime
from ui.qt import QWidget, QWizard, Signal
from ui.sources import SourceInfo, source_catalogue
from ui.wizard.base import WizardPage
from ui.wizard.calls import load, save, save_request
from ui.wizard.credentials_page import CredentialsPage
from ui.wizard.draft import Draft, Stored
from ui.wizard.failures import Failure, attempt
from ui.wizard.finish_page import FinishPage
from ui.wizard.mapping_page import MappingPage
from ui.wizard.preview_page import PreviewPage
from ui.wizard.probe_page import ProbePage
from ui.wizard.schedule_page import SchedulePage
from ui.wizard.source_page import SourcePage
from ui.workers import Task, submit

log = logging.getLogger(__name__)

SOURCE, CREDENTIALS, TEST, MAPPING, PREVIEW, SCHEDULE, FINISH = range(7)


class ConnectorWizard(QWizard):
    """Adds a connector (``connector_id`` None) or edits one.

    ``start_page`` is ``source`` (add), ``credentials`` (edit) or ``reconnect``
    (edit, opening straight into Connect for OAuth presets). ``server`` is the
    embedded server whose address OAuth callbacks reach, when it runs.
    ``saved(connector_id, sync_now)`` follows a successful Finish.
    """

    saved = Signal(int, bool)
    loaded = Signal(object)

    def __init__(
        self,
        runtime: Runtime,
        connector_id: int | None = None,
        start_page: str = "source",
        *,
        workspace_id: int | None = None,
        server: Any | None = None,
        sources: dict[str, SourceInfo] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.draft = Draft(workspace_id=workspace_id)
        self.saved_id: int | None = None
        self._saving = False
        self._tasks: set[Task] = set()
        self.setWindowTitle("Add connector" if connector_id is None else "Edit connector")
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)

        self.source_page = SourcePage(runtime, self.draft, sources or source_catalogue())
        self.credentials_page = CredentialsPage(runtime, self.draft, server=server)
        self.probe_page = ProbePage(runtime, self.draft)
        self.mapping_page = MappingPage(runtime, self.draft)
        self.preview_page = PreviewPage(runtime, self.draft)
        self.schedule_page = SchedulePage(runtime, self.draft)
        self.finish_page = FinishPage(runtime, self.draft)
        for page_id, page in enumerate(self.wizard_pages()):
            self.setPage(page_id, page)
        self.probe_page.failed.connect(self.credentials_page.show_failure)
        self.finished.connect(lambda _: self.stop())
        self.resize(880, 660)

        if connector_id is not None:
            self.setStartId(CREDENTIALS)
            self.credentials_page.reconnecting = start_page == "reconnect"
            for page in (self.probe_page, self.mapping_page, self.preview_page):
                page.setFinalPage(True)
            self.schedule_page.setFinalPage(True)
            self._load(connector_id)

    def wizard_pages(self) -> list[WizardPage]:
        return [
            self.source_page,
            self.credentials_page,
            self.probe_page,
            self.mapping_page,
            self.preview_page,
            self.schedule_page,
            self.finish_page,
        ]

    # Editing: the stored connector arrives off the GUI thread

    def _load(self, connector_id: int) -> None:
        runtime = self.runtime
        self.credentials_page.summary.setText("Loading the connector…")
        self._submit(lambda: load(runtime, connector_id), self._loaded)

    def _loaded(self, outcome: Stored | Failure) -> None:
        if isinstance(outcome, Failure):
            self.credentials_page.summary.setText(
                f"The connector cannot be edited: {outcome.message}"
            )
            return
        self.draft.stored = outcome
        self.draft.preset = outcome.preset
        self.draft.name = outcome.name
        verb = "Reconnect" if self.credentials_page.reconnecting else "Edit"
        self.setWindowTitle(f"{verb} connector “{outcome.name}”")
        self.credentials_page.build()
        self.loaded.emit(outcome)

    # Saving

    def accept(self) -> None:
        """Save off the GUI thread; the wizard closes once the store has the connector."""
        if self._saving:
            return
        try:
            request = save_request(self.draft)
        except ValueError:
            return
        self._saving = True
        self._enable_buttons(False)
        page = self.currentPage()
        if isinstance(page, WizardPage):
            page.report("Saving…")
        runtime = self.runtime
        self._submit(lambda: save(runtime, request), self._saved)

    def _saved(self, outcome: int | Failure) -> None:
        self._saving = False
        self._enable_buttons(True)
        page = self.currentPage()
        if isinstance(outcome, Failure):
            if isinstance(page, WizardPage):
                page.report(f"Not saved: {outcome.message}", problem=True)
            self.credentials_page.show_failure(outcome)
            return
        if isinstance(page, WizardPage):
            page.report("")
        self.saved_id = outcome
        log.info("connector %s saved from the wizard", outcome)
        self.saved.emit(outcome, self.draft.sync_after_save)
        super().accept()

    def reject(self) -> None:
        if self._saving:
            return  # the store is being written; closing now would hide the outcome
        super().reject()

    def _enable_buttons(self, enabled: bool) -> None:
        for which in (
            QWizard.WizardButton.BackButton,
            QWizard.WizardButton.NextButton,
            QWizard.WizardButton.FinishButton,
            QWizard.WizardButton.CancelButton,
        ):
            self.button(which).setEnabled(enabled)
        if enabled:
            page = self.currentPage()
            if page is not None:
                page.completeChanged.emit()  # let the wizard re-derive Next and Finish

    def _submit(self, fn: Any, on_done: Any) -> None:
        task: Task

        def done(result: Any) -> None:
            self._tasks.discard(task)
            on_done(result)

        def crashed(_message: str) -> None:
            done(Failure("unexpected", "Something went wrong unexpectedly."))

        task = submit(lambda: attempt(fn), done, crashed)
        self._tasks.add(task)

    def stop(self) -> None:
        """End what runs in the background for the wizard: sign-in polling, probes."""
        self.credentials_page.stop()
        if self.probe_page.busy:
            self.probe_page.cancel()
        for page in self.wizard_pages():
            page.forget_work()
