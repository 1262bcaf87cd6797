"""The Odoo preset: sale order lines or invoice lines through Odoo's external API.

Reading order: settings → connection (:mod:`.protocol`: JSON-2 on Odoo 19 and
later, JSON-RPC ``execute_kw`` on 16 to 18) → the model's fields
(``fields_get``, which also finds the instance's ``x_`` fields) → pages of
``search_read`` → records (:mod:`.models`).

Paging. Lines are filtered on ``write_date`` and ordered by ``id``, which is
unique and does not change when a line does, so lines edited during a pull
stay where they were in the order. Pages are read with ``offset``/``limit``
inside a window of lines after an id; a resumed pull starts a window after
the last id of the last committed page. A pull ends on a page shorter than
the page size, or once it has read as many lines as ``search_count`` said at
its start (lines added since then are read by the next pull). Known limit: a
line deleted during a pull shifts the later ones back by one, and the line at
the page boundary is then skipped until it changes again.

Incremental sync. The cursor keeps the largest ``write_date`` seen (UTC, as
Odoo writes it). The next pull reads lines written at or after that less ten
minutes (clock skew, long transactions) less the previous pull's duration (a
line written during a pull, behind its position, has a later time than the
pull's start). Re-read lines are updated in place by the store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.connectors.base import (
    Category,
    ConnectorPreset,
    Cursor,
    Page,
    ProbeResult,
    Record,
    SourceConfig,
    SourceField,
)
from app.connectors.errors import ConfigurationError, SourceDataError
from app.connectors.fields import Field, FieldKind, validate_config
from app.connectors.http import PROBE_RETRY, RetryPolicy
from app.connectors.odoo import models
from app.connectors.odoo.models import ModelSpec, Schema
from app.connectors.odoo.protocol import Connection, Credentials, connect
from app.connectors.registry import register

log = logging.getLogger(__name__)

PAGE_SIZE = 500
OVERLAP = dt.timedelta(minutes=10)
# Odoo may take long to compute a page of related fields; the read timeout allows for it.
TIMEOUT = (10.0, 120.0)
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
FIELD_ATTRIBUTES = ["string", "type", "store", "relation"]

FIELDS: tuple[Field, ...] = (
    Field(
        "url",
        "Odoo URL",
        FieldKind.URL,
        required=True,
        help="The address you open Odoo at, such as https://mycompany.odoo.com.",
    ),
    Field(
        "database",
        "Database",
        required=True,
        help="The database name; on odoo.com it is usually the first part of the address.",
    ),
    Field(
        "username",
        "User (login)",
        required=True,
        help="The login of the user the API key belongs to, usually an e-mail address.",
    ),
    Field(
        "api_key",
        "API key",
        FieldKind.SECRET,
        required=True,
        help="Created in Odoo under Preferences > Account Security > New API Key.",
    ),
    Field(
        "model",
        "Lines",
        FieldKind.CHOICE,
        required=True,
        default="sale_order_lines",
        choices=tuple(models.SPECS),
        help="sale_order_lines: confirmed and cancelled sales order lines; invoice_lines: "
        "customer invoice and credit note lines (credit notes count negative).",
    ),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one Odoo connector."""

    credentials: Credentials
    spec: ModelSpec

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            Credentials(values["url"], values["database"], values["username"], values["api_key"]),
            models.SPECS[values.get("model", "sale_order_lines")],
        )

    @property
    def host(self) -> str:
        return urlsplit(self.credentials.url).netloc


def _root_url(url: str) -> str:
    """The server's root: a pasted page address (``/odoo/...``, ``/web#...``) is cut back."""
    parts = urlsplit(url)
    path = parts.path
    for marker in ("/odoo", "/web"):
        if path == marker or path.startswith(marker + "/"):
            path = ""
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/"), "", ""))


@register
class OdooPreset(ConnectorPreset):
    """Sale order or invoice lines from Odoo 16 and later, with a user's API key."""

    id = "odoo"
    display_name = "Odoo"
    category = Category.ERP
    description = (
        "Sales order or invoice lines over Odoo's external API (JSON-2 on Odoo 19 and "
        "later, JSON-RPC on 16 to 18), with the instance's custom x_ fields."
    )
    fields = FIELDS
    # Reads have no side effects: the next page may be fetched before this one is stored.
    read_ahead = True

    # An instance may replace these (tests use short waits and small pages).
    page_size: int = PAGE_SIZE
    retry_policy: RetryPolicy = RetryPolicy()
    probe_retry_policy: RetryPolicy = PROBE_RETRY

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings, the URL cut back to the server's root; names each bad field."""
        out = validate_config(cls.fields, values)
        if urlsplit(out["url"]).username is not None:
            raise ConfigurationError(
                "Invalid settings: Odoo URL must not hold a user name or password.",
                fields={"url": "must not hold a user name or password"},
            )
        out["url"] = _root_url(out["url"])
        return out

    def _settings(self, config: SourceConfig) -> Settings:
        return Settings.from_values(self.validate(config.values))

    def _connect(self, settings: Settings, config: SourceConfig, retry: RetryPolicy) -> Connection:
        return connect(
            settings.credentials,
            name=f"Odoo {settings.host}",
            retry=retry,
            cancel=config.cancel,
            timeout=TIMEOUT,
        )

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Version and login, then a one-line read of the chosen lines."""
        settings = self._settings(config)
        spec = settings.spec
        connection = self._connect(settings, config, self.probe_retry_policy)
        try:
            connection.call(
                spec.model, "search_read", domain=list(spec.domain), fields=["id"], limit=1
            )
            count = connection.call(spec.model, "search_count", domain=list(spec.domain))
        finally:
            connection.close()
        creds = settings.credentials
        return ProbeResult(
            account=f"{creds.database} on {settings.host}",
            message=f"Connected to Odoo {connection.version} at {settings.host} "
            f"(database {creds.database}, user {creds.login}, {connection.protocol}); "
            f"{count} {spec.key.replace('_', ' ')}.",
            details={
                "version": connection.version,
                "protocol": connection.protocol,
                "lines": count,
            },
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = self._settings(config)
        connection = self._connect(settings, config, self.retry_policy)
        try:
            reader = _Reader(settings.spec, connection, self.page_size)
            yield from reader.pages(cursor, config.check_cancelled)
        finally:
            connection.close()

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The first ``limit`` lines, asked for in one page of that size."""
        settings = self._settings(config)
        connection = self._connect(settings, config, self.probe_retry_policy)
        try:
            reader = _Reader(settings.spec, connection, max(1, limit))
            schema = reader.schema()
            rows = reader.search(list(settings.spec.domain), schema, 0)
            return reader.records(rows[:limit], schema)
        finally:
            connection.close()

    def describe_fields(self, config: SourceConfig) -> list[SourceField]:
        """The record's fields from ``fields_get``, custom ``x_`` fields marked."""
        settings = self._settings(config)
        spec = settings.spec
        connection = self._connect(settings, config, self.probe_retry_policy)
        try:
            lines = connection.call(spec.model, "fields_get", attributes=FIELD_ATTRIBUTES)
            parents = connection.call(spec.parent_model, "fields_get", attributes=FIELD_ATTRIBUTES)
        finally:
            connection.close()
        out = [
            SourceField("quantity", "decimal", "Quantity (credit notes negative)"),
            SourceField("sku", "string", "Product internal reference"),
            SourceField("product_name", "string", "Product"),
            SourceField("currency", "string", "Currency (ISO code)"),
            SourceField("customer_id", "integer", "Customer id"),
            SourceField("status", "string", "Status (open, fulfilled, cancelled, refunded)"),
            SourceField("document.id", "integer", "Document id"),
            SourceField("document.name", "string", "Document number"),
            SourceField(
                "document.date",
                models.WIZARD_TYPES.get(str(parents.get(spec.parent_date, {}).get("type")), "date"),
                "Document date",
            ),
            SourceField("document.warehouse", "string", "Warehouse"),
        ]
        out += _described(lines, "")
        out += [field for field in _described(parents, "document.") if field.custom]
        return out


def _described(described: Mapping[str, Mapping[str, Any]], prefix: str) -> list[SourceField]:
    out = []
    for name in sorted(described):
        info = described[name]
        kind = str(info.get("type"))
        if kind not in models.SCALAR_TYPES:
            continue
        label = str(info.get("string") or name)
        custom = name.startswith("x_")
        out.append(SourceField(prefix + name, models.WIZARD_TYPES[kind], label, custom))
        if kind == "many2one":
            out.append(SourceField(f"{prefix}{name}_name", "string", f"{label} (name)", custom))
    return out


class _Reader:
    """One pull of one model's lines; see the module docstring for the paging."""

    def __init__(self, spec: ModelSpec, connection: Connection, page_size: int) -> None:
        self.spec = spec
        self.connection = connection
        self.page_size = page_size

    def schema(self) -> Schema:
        call = self.connection.call
        lines = call(self.spec.model, "fields_get", attributes=FIELD_ATTRIBUTES)
        parents = call(self.spec.parent_model, "fields_get", attributes=FIELD_ATTRIBUTES)
        if not isinstance(lines, Mapping) or not isinstance(parents, Mapping):
            raise SourceDataError("Odoo answered fields_get without a field list.")
        return Schema.of(self.spec, lines, parents)

    def search(self, domain: list[Any], schema: Schema, offset: int) -> list[dict[str, Any]]:
        rows = self.connection.call(
            self.spec.model,
            "search_read",
            domain=domain,
            fields=list(schema.line_fields),
            offset=offset,
            limit=self.page_size,
            order="id asc",
        )
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise SourceDataError(f"Odoo answered search_read on {self.spec.model} without a list.")
        return rows

    def records(self, rows: list[dict[str, Any]], schema: Schema) -> list[Record]:
        """The page's lines with their documents and products, read in one call each."""
        spec = self.spec
        parent_ids = sorted({_ref(row.get(spec.parent_field)) for row in rows} - {None})
        product_ids = sorted({_ref(row.get("product_id")) for row in rows} - {None})
        parents = self._read(spec.parent_model, parent_ids, list(schema.parent_fields))
        products = self._read("product.product", product_ids, ["default_code", "name"])
        return [models.to_record(spec, row, schema, parents, products) for row in rows]

    def _read(self, model: str, ids: list[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self.connection.call(model, "read", ids=ids, fields=fields)
        if not isinstance(rows, list):
            raise SourceDataError(f"Odoo answered read on {model} without a list.")
        return {row["id"]: row for row in rows if isinstance(row, dict) and "id" in row}

    def pages(self, cursor: Cursor | None, check_cancelled: Callable[[], None]) -> Iterator[Page]:
        cursor = dict(cursor or {})
        scope = self.spec.key
        if cursor and cursor.get("scope", scope) != scope:
            log.info("Odoo: the lines to read changed to %s; reading all again", scope)
            cursor = {}
        watermark: str | None = cursor.get("watermark")
        if "after" in cursor:  # a pull that stopped part-way goes on where it was
            since, after = cursor.get("since"), int(cursor["after"])
            started = float(cursor.get("started", time.time()))
        else:
            since, after, started = self._since(cursor), None, time.time()
        schema = self.schema()
        domain: list[Any] = [list(leaf) for leaf in self.spec.domain]
        if since:
            domain.append(["write_date", ">=", since])
        if after is not None:
            domain.append(["id", ">", after])
        total = self.connection.call(self.spec.model, "search_count", domain=domain)
        offset = read = 0
        while True:
            check_cancelled()
            rows = self.search(domain, schema, offset)
            records = self.records(rows, schema)
            for row in rows:
                written = row.get("write_date")
                if isinstance(written, str) and (watermark is None or written > watermark):
                    watermark = written
            if rows:
                after = int(rows[-1]["id"])
            read += len(rows)
            # A full page may have more behind it; the count saves the last, empty request.
            more = len(rows) >= self.page_size and not (isinstance(total, int) and read >= total)
            out: Cursor = {"scope": scope, "watermark": watermark}
            if more:
                out |= {"since": since, "after": after, "started": started}
            else:
                out["lookback_seconds"] = max(0, round(time.time() - started))
            yield Page(records, out, total if isinstance(total, int) else None)
            if not more:
                log.info("Odoo: read %d %s", read, self.spec.model)
                return
            offset += len(rows)

    def _since(self, cursor: Cursor) -> str | None:
        watermark = cursor.get("watermark")
        if not watermark:
            return None
        try:
            moment = dt.datetime.strptime(watermark, DATETIME_FORMAT)
        except (TypeError, ValueError):
            log.warning("Odoo: the stored watermark %r is unreadable; reading all", watermark)
            return None
        lookback = dt.timedelta(seconds=float(cursor.get("lookback_seconds", 0)))
        return (moment - OVERLAP - lookback).strftime(DATETIME_FORMAT)


def _ref(value: Any) -> int | None:
    """The id in a many2one value ``[id, name]``."""
    if isinstance(value, list | tuple) and value and isinstance(value[0], int):
        return value[0]
    return None
