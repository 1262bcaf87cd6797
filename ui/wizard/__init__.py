"""The connector wizard of the desktop app: add, edit and reconnect connectors."""

from ui.wizard.wizard import ConnectorWizard

__all__ = ["ConnectorWizard"]
