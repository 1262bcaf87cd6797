"""QuickBooks Online: invoice and credit memo lines as demand.

- :mod:`.api`: hosts, the pinned minor version, bearer auth, faults, queries;
- :mod:`.documents`: invoices and credit memos as flat sales-line records;
- :mod:`.reader`: one pull (change feed, then each entity) and its cursor;
- :mod:`.preset`: the preset's settings and operations.
"""

from app.connectors.quickbooks.preset import QuickBooksPreset

__all__ = ["QuickBooksPreset"]
