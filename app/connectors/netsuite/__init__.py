"""NetSuite: sales order and invoice lines through SuiteQL, signed with TBA."""

from app.connectors.netsuite.preset import NetSuitePreset

__all__ = ["NetSuitePreset"]
