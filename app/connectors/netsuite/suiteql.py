"""The SuiteQL text the NetSuite preset sends, built from settings only.

Dates cross the API as text in explicit formats, both ways: ``TO_CHAR`` turns
them into ISO text and ``TO_DATE`` reads the incremental bound. Without them
NetSuite writes and reads dates in the user's own date format and language
preferences (``1.5.2024``, ``5/1/24``), so the same query would fail or
mismatch from one user to the next.

Nothing the operator types reaches the text except custom field ids, which
:func:`check_custom_field` restricts to NetSuite's script id characters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

# Transaction types per record choice: each document with its returns.
TYPES: dict[str, tuple[str, ...]] = {
    "sales_orders": ("SalesOrd", "RtnAuth"),
    "invoices": ("CustInvc", "CashSale", "CustCred", "CashRfnd"),
}
TYPES["both"] = TYPES["sales_orders"] + TYPES["invoices"]
RECORD_TYPES = tuple(TYPES)
# Types whose lines take stock in (returns, credits): their demand is negative.
RETURN_TYPES = frozenset({"RtnAuth", "CustCred", "CashRfnd"})
# Lines that are goods or services sold; discounts, subtotals, descriptions,
# shipping and tax items are not demand.
ITEM_TYPES = ("InvtPart", "NonInvtPart", "Assembly", "Kit", "Service")

DATE_FORMAT = "YYYY-MM-DD"
DATETIME_FORMAT = "YYYY-MM-DD HH24:MI:SS"
PY_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# (alias, expression, type for the mapping wizard, label)
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("transaction_id", "t.id", "integer", "Transaction internal id"),
    ("tranid", "t.tranid", "string", "Document number"),
    ("type", "t.type", "string", "Transaction type"),
    ("trandate", f"TO_CHAR(t.trandate, '{DATE_FORMAT}')", "date", "Date"),
    (
        "lastmodified",
        f"TO_CHAR(t.lastmodifieddate, '{DATETIME_FORMAT}')",
        "datetime",
        "Last modified (account time zone)",
    ),
    ("status", "t.status", "string", "Status code"),
    ("voided", "t.voided", "boolean", "Voided"),
    ("customer_id", "t.entity", "integer", "Customer internal id"),
    ("currency", "c.symbol", "string", "Currency (ISO code)"),
    ("uniquekey", "tl.uniquekey", "integer", "Line unique key"),
    ("line_id", "tl.id", "integer", "Line id within the transaction"),
    ("item_id", "tl.item", "integer", "Item internal id"),
    ("sku", "i.itemid", "string", "Item name/number"),
    ("item_name", "i.displayname", "string", "Item display name"),
    ("quantity", "tl.quantity", "decimal", "Quantity (sold positive, returned negative)"),
    ("rate", "tl.rate", "decimal", "Rate"),
    ("location_id", "tl.location", "integer", "Location internal id"),
    ("location", "BUILTIN.DF(tl.location)", "string", "Location"),
)

_FROM = (
    "FROM transaction t "
    "INNER JOIN transactionline tl ON tl.transaction = t.id "
    "INNER JOIN item i ON i.id = tl.item "
    "LEFT JOIN currency c ON c.id = t.currency"
)
_CUSTOM = re.compile(r"^cust(body|col)[a-z0-9_]+$")


def check_custom_field(name: str) -> str:
    """A custom field id, lower-cased; raises ValueError unless custbody_* or custcol_*."""
    field = name.strip().lower()
    if not _CUSTOM.match(field):
        raise ValueError(
            f"{name.strip()!r} is not a transaction body (custbody…) or line (custcol…) field id"
        )
    return field


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _filters(record_types: str) -> list[str]:
    return [
        f"t.type IN ({_quoted(TYPES[record_types])})",
        "tl.mainline = 'F'",
        "tl.taxline = 'F'",
        "tl.iscogs = 'F'",
        f"tl.itemtype IN ({_quoted(ITEM_TYPES)})",
    ]


def lines_query(
    record_types: str,
    custom_fields: Sequence[str] = (),
    *,
    since: dt.datetime | None = None,
    after: int | None = None,
) -> str:
    """Demand lines ordered by their unique key, changed at or after ``since``, past ``after``."""
    columns = [f"{expression} AS {alias}" for alias, expression, _, _ in COLUMNS]
    for field in custom_fields:
        table = "t" if field.startswith("custbody") else "tl"
        columns.append(f"{table}.{field} AS {field}")
    where = _filters(record_types)
    if since is not None:
        bound = since.strftime(PY_DATETIME_FORMAT)
        where.append(f"t.lastmodifieddate >= TO_DATE('{bound}', '{DATETIME_FORMAT}')")
    if after is not None:
        where.append(f"tl.uniquekey > {int(after)}")
    return f"SELECT {', '.join(columns)} {_FROM} WHERE {' AND '.join(where)} ORDER BY tl.uniquekey"


def probe_query(record_types: str) -> str:
    """The lightest query that needs the role's right to read these transactions."""
    types = _quoted(TYPES[record_types])
    return f"SELECT t.id FROM transaction t WHERE t.type IN ({types})"  # noqa: S608 - constants


def transactions_sample_query(record_types: str) -> str:
    """Recent transactions with every body field, for custom field discovery."""
    return (
        f"SELECT * FROM transaction WHERE type IN ({_quoted(TYPES[record_types])}) "  # noqa: S608
        "ORDER BY id DESC"
    )


def lines_sample_query(transaction_ids: Sequence[int]) -> str:
    """The item lines of some transactions with every line field."""
    ids = ", ".join(str(int(value)) for value in transaction_ids)
    return (
        f"SELECT * FROM transactionline WHERE transaction IN ({ids}) "  # noqa: S608 - integers
        "AND mainline = 'F' ORDER BY uniquekey"
    )
