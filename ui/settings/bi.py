"""Settings → BI: the OData feed's address and how Power BI and Tableau connect to it."""

from __future__ import annotations

from typing import Any

from app.runtime import Runtime
from embedded_api.auth import MINIMUM_PLAN, QUERY_PARAMETER
from embedded_api.odata.entities import ENTITY_SETS
from ui.qt import QFormLayout, QGroupBox, QLabel, Qt, QVBoxLayout, QWidget
from ui.settings.common import CopyField
from ui.settings.server import current_urls

POWER_BI_STEPS = (
    "In Power BI Desktop choose <b>Get data → OData feed</b>.",
    "Choose <b>Basic</b>, paste the feed URL above and select <b>OK</b>.",
    "When asked for credentials choose <b>Basic</b>: any user name, and an API key with "
    "the <i>odata</i> scope as the password. (Or <b>Web API</b> with the key, which Power "
    "BI sends as the <code>{param}</code> URL parameter.)",
    "Pick the tables ({tables}) and load them.",
    "Scheduled refresh in the Power BI service reaches this computer only through an "
    "on-premises data gateway, or through the public URL.",
)
TABLEAU_STEPS = (
    "In Tableau Desktop choose <b>Connect → To a Server → OData</b>.",
    "Paste the feed URL above as the <b>Server</b>.",
    "Choose <b>Username and Password</b>: any user name, and an API key with the "
    "<i>odata</i> scope as the password; then <b>Sign In</b>.",
    "Tableau reads OData into an extract; refresh the extract to see later runs.",
)


def _steps(title: str, steps: tuple[str, ...]) -> QGroupBox:
    box = QGroupBox(title)
    names = {"param": QUERY_PARAMETER, "tables": ", ".join(ENTITY_SETS)}
    items = "".join(f"<li>{step.format(**names)}</li>" for step in steps)
    label = QLabel(f"<ol>{items}</ol>")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    layout = QVBoxLayout(box)
    layout.addWidget(label)
    return box


class BiPanel(QWidget):
    """The OData URL to copy and the steps for the two BI tools operators use most."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.odata = CopyField("OData feed URL")
        self.state = QLabel()
        self.state.setWordWrap(True)
        feed = QGroupBox("OData feed")
        form = QFormLayout(feed)
        form.addRow("Feed URL", self.odata)
        form.addRow(self.state)
        requirements = QLabel(
            f"The feed needs the {MINIMUM_PLAN.value.title()} plan or higher, the embedded "
            "server running (Settings → Embedded server) and an API key with the "
            "<i>odata</i> scope (Settings → API keys)."
        )
        requirements.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(feed)
        layout.addWidget(requirements)
        layout.addWidget(_steps("Power BI", POWER_BI_STEPS))
        layout.addWidget(_steps("Tableau", TABLEAU_STEPS))
        layout.addStretch(1)
        self.server_changed(None)

    def server_changed(self, server: Any | None) -> None:
        urls = current_urls(self.runtime.config, server)
        self.odata.set_value(urls.odata)
        if server is None:
            self.state.setText("The server is stopped: the feed answers once it runs.")
        elif urls.public:
            self.state.setText("Through the public URL: BI tools anywhere can reach it.")
        else:
            self.state.setText(f"Served by this computer on {server.url}.")
