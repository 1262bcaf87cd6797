"""Xero: sales invoices and credit notes of one organisation as demand lines.

The package reads top to bottom as: :mod:`~.api` (sign-in and calls),
:mod:`~.quota` (call limits), :mod:`~.reader` (pages and the cursor),
:mod:`~.documents` (documents into lines), :mod:`~.dates` (Xero's date
values) and :mod:`~.preset` (the preset itself).
"""

from app.connectors.xero.preset import XeroPreset

__all__ = ["XeroPreset"]
