"""The canonical demand line: the columns every connector maps its records onto."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ColumnType(enum.StrEnum):
    TEXT = "text"
    DATE = "date"
    DECIMAL = "decimal"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool
    description: str
    max_length: int | None = None


COLUMNS: tuple[Column, ...] = (
    Column(
        "order_id", ColumnType.TEXT, True, "the source document (order, invoice, sales order)", 128
    ),
    Column("line_id", ColumnType.TEXT, True, "the line, unique within its document", 128),
    Column("order_date", ColumnType.DATE, True, "when the demand happened"),
    Column("sku", ColumnType.TEXT, True, "the item", 128),
    Column("quantity", ColumnType.DECIMAL, True, "units; negative for returns and credit notes"),
    Column("product_name", ColumnType.TEXT, False, "", 300),
    Column("unit_price", ColumnType.DECIMAL, False, ""),
    Column("currency", ColumnType.TEXT, False, "ISO 4217", 3),
    Column("location", ColumnType.TEXT, False, "warehouse, store or channel", 128),
    Column("customer_id", ColumnType.TEXT, False, "", 128),
    Column("channel", ColumnType.TEXT, False, "", 64),
    Column("status", ColumnType.TEXT, False, "open, fulfilled, cancelled or refunded", 16),
    Column("source_updated_at", ColumnType.TIMESTAMP, False, "the source's last change"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
REQUIRED: frozenset[str] = frozenset(column.name for column in COLUMNS if column.required)
BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}
STATUSES: frozenset[str] = frozenset({"open", "fulfilled", "cancelled", "refunded"})
DEFAULT_LOCATION = "default"
