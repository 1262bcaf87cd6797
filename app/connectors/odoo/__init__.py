"""Odoo: sale order or invoice lines over JSON-2 (19+) or JSON-RPC (16 to 18)."""

from app.connectors.odoo.preset import OdooPreset

__all__ = ["OdooPreset"]
