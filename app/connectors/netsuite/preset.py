"""The NetSuite preset: sales order and invoice lines through SuiteQL over REST.

Reading order: settings → auth (:mod:`.auth`) → the query (:mod:`.suiteql`) →
pages → records.

Paging. Lines are ordered by ``transactionline.uniquekey``, unique over the
account, and filtered on the transaction's ``lastmodifieddate``. Pages are
read with ``limit``/``offset`` inside a *window*; a window starts after a
line key (``tl.uniquekey > K``). REST serves at most 100,000 results of one
query, so before the offset would pass that ceiling a new window starts after
the last key read, at offset 0. A resumed pull starts a window after the last
key of the last committed page, so it neither skips nor repeats a page.

Ordering by the key rather than by the modification time keeps rows in place
while transactions change during a pull. Known limit: a line deleted during
a pull shifts the later rows of its window back by one, and the row at the
page boundary is then skipped until it changes again.

Incremental sync. The cursor keeps the largest ``lastmodifieddate`` seen (the
watermark, in the account's time zone as NetSuite writes it). The next pull
reads lines of transactions changed at or after the watermark less an hour
(clock skew, late commits, and the hour repeated when daylight saving time
ends) less the previous pull's duration (a line changed during a pull, behind
its position, carries a time later than the pull's start). Re-read lines are
updated in place by the store.

Quantities. ``transactionline.quantity`` is signed from the inventory's point
of view: negative on the item lines of sales orders and invoices, positive on
returns and credit memos. Records carry it negated, so that sales are positive
and returns negative, as the canonical line wants.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

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
from app.connectors.errors import SourceDataError
from app.connectors.fields import Field, FieldKind, refuse_problems, validate_config
from app.connectors.http import PROBE_RETRY, RetryPolicy, decode_json
from app.connectors.netsuite import suiteql
from app.connectors.netsuite.account import Account, parse_account
from app.connectors.netsuite.auth import TokenAuth
from app.connectors.netsuite.errors import SuiteTalkClient
from app.connectors.registry import register

log = logging.getLogger(__name__)

BASE_URL_TEMPLATE = "https://{host}.suitetalk.api.netsuite.com"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
# REST's page size limit, and the most results one query serves through offsets.
MAX_PAGE = 1_000
MAX_RESULTS = 100_000
OVERLAP = dt.timedelta(hours=1)
# Transactions looked at for custom body fields, and lines for custom line fields.
SAMPLE_TRANSACTIONS = 50
SAMPLE_LINES = 200

FIELDS: tuple[Field, ...] = (
    Field(
        "account_id",
        "Account ID",
        required=True,
        help="From Setup > Company > Company Information: 1234567, or 1234567_SB1 for a "
        "sandbox. The hyphenated form of the URL (1234567-sb1) is accepted too.",
    ),
    Field(
        "consumer_key",
        "Consumer key",
        FieldKind.SECRET,
        required=True,
        help="From the integration record (Setup > Integration > Manage Integrations), "
        "with Token-Based Authentication enabled.",
    ),
    Field("consumer_secret", "Consumer secret", FieldKind.SECRET, required=True),
    Field(
        "token_id",
        "Token ID",
        FieldKind.SECRET,
        required=True,
        help="An access token of that integration for a user and role that may use REST "
        "Web Services and SuiteAnalytics Workbook and view the transactions.",
    ),
    Field("token_secret", "Token secret", FieldKind.SECRET, required=True),
    Field(
        "record_types",
        "Transactions",
        FieldKind.CHOICE,
        required=True,
        default="sales_orders",
        choices=suiteql.RECORD_TYPES,
        help="sales_orders: sales orders and return authorisations; invoices: invoices, cash "
        "sales, credit memos and cash refunds; both: all of them, which counts an invoiced "
        "order twice unless the mapping or the forecast keeps one kind.",
    ),
    Field(
        "custom_fields",
        "Custom fields",
        help="Comma-separated ids of custom fields to read with each line: transaction body "
        "fields (custbody_…) and line fields (custcol_…), such as custbody_channel.",
    ),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one NetSuite connector."""

    account: Account
    record_types: str
    custom_fields: tuple[str, ...]
    # The four TBA values; kept out of repr so that no log shows them.
    credentials: tuple[str, str, str, str] = dataclasses.field(repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            account=parse_account(values["account_id"]),
            record_types=values.get("record_types", "sales_orders"),
            custom_fields=_custom_fields(values.get("custom_fields", "")),
            credentials=(
                values["consumer_key"],
                values["consumer_secret"],
                values["token_id"],
                values["token_secret"],
            ),
        )


def _custom_fields(text: str) -> tuple[str, ...]:
    names = [part for part in text.replace(";", ",").split(",") if part.strip()]
    return tuple(dict.fromkeys(suiteql.check_custom_field(name) for name in names))


# -- records -----------------------------------------------------------------


def demand_quantity(value: Any) -> str | None:
    """NetSuite's line quantity with the sign of demand (see the module docstring)."""
    if value is None or value == "":
        return None
    try:
        number = -Decimal(str(value))
    except InvalidOperation:
        return str(value)  # the mapping flags it
    return str(number if number else abs(number))


def demand_status(kind: Any, status: Any, voided: Any) -> str:
    """The canonical status of a line from its transaction's type and status code."""
    if voided in ("T", True):
        return "cancelled"
    if kind == "SalesOrd":
        return {"C": "cancelled", "G": "fulfilled", "H": "fulfilled"}.get(status, "open")
    if kind == "RtnAuth":
        return "cancelled" if status == "C" else "refunded"
    if kind in suiteql.RETURN_TYPES:
        return "refunded"
    return "fulfilled"


def to_record(item: Mapping[str, Any]) -> Record:
    """One SuiteQL row as a record: links dropped, quantity signed, status added."""
    record = {key: value for key, value in item.items() if key != "links"}
    record["quantity"] = demand_quantity(record.get("quantity"))
    record["demand_status"] = demand_status(
        record.get("type"), record.get("status"), record.get("voided")
    )
    return record


def _guess_type(values: list[Any]) -> str:
    texts = [str(value) for value in values if value not in (None, "")]
    if not texts:
        return "string"
    if all(text in ("T", "F") for text in texts):
        return "boolean"
    if all(text.lstrip("-").isdigit() for text in texts):
        return "integer"
    try:
        for text in texts:
            Decimal(text)
    except InvalidOperation:
        return "string"
    return "decimal"


# -- the preset --------------------------------------------------------------


@register
class NetSuitePreset(ConnectorPreset):
    """Sales order or invoice lines from NetSuite, with Token-Based Authentication."""

    id = "netsuite"
    display_name = "NetSuite"
    category = Category.ERP
    description = (
        "Sales order and invoice lines through SuiteQL, signed with Token-Based "
        "Authentication (HMAC-SHA256)."
    )
    fields = FIELDS
    # Queries read only: the next page may be fetched before this one is stored.
    read_ahead = True

    # An instance may replace these; tests point the host at a fake.
    base_url_template: str = BASE_URL_TEMPLATE
    page_size: int = MAX_PAGE
    max_results: int = MAX_RESULTS
    retry_policy: RetryPolicy = RetryPolicy()
    probe_retry_policy: RetryPolicy = PROBE_RETRY

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings, the account id in its realm form; names each bad field."""
        out = validate_config(cls.fields, values)
        problems: dict[str, str] = {}
        try:
            out["account_id"] = parse_account(out["account_id"]).realm
        except ValueError as exc:
            problems["account_id"] = str(exc)
        try:
            fields = _custom_fields(out.get("custom_fields", ""))
        except ValueError as exc:
            problems["custom_fields"] = str(exc)
        else:
            if fields:
                out["custom_fields"] = ", ".join(fields)
        refuse_problems(cls.fields, problems)
        return out

    def _settings(self, config: SourceConfig) -> Settings:
        return Settings.from_values(self.validate(config.values))

    def _client(self, settings: Settings, config: SourceConfig, retry: RetryPolicy) -> _SuiteQL:
        account = settings.account
        http = SuiteTalkClient(
            self.base_url_template.format(host=account.host_label),
            name=f"NetSuite {account.realm}",
            auth=TokenAuth(account, *settings.credentials),
            retry=retry,
            cancel=config.cancel,
        )
        return _SuiteQL(http)

    def probe(self, config: SourceConfig) -> ProbeResult:
        """A one-row query on the chosen transactions; then the custom fields, if any."""
        settings = self._settings(config)
        with self._client(settings, config, self.probe_retry_policy) as client:
            body = client.query(suiteql.probe_query(settings.record_types), limit=1)
            if settings.custom_fields:
                client.query(
                    suiteql.lines_query(settings.record_types, settings.custom_fields), limit=1
                )
        total = body.get("totalResults")
        realm = settings.account.realm
        return ProbeResult(
            account=realm,
            message=f"Connected to NetSuite account {realm}; the role can read "
            f"{settings.record_types.replace('_', ' ')} ({total} transactions).",
            details={"transactions": total, "record_types": settings.record_types},
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = self._settings(config)
        with self._client(settings, config, self.retry_policy) as client:
            reader = _Reader(settings, client, self.page_size, self.max_results)
            yield from reader.pages(cursor, config.check_cancelled)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The first lines, in one page of at most ``limit``."""
        settings = self._settings(config)
        query = suiteql.lines_query(settings.record_types, settings.custom_fields)
        with self._client(settings, config, self.probe_retry_policy) as client:
            body = client.query(query, limit=max(1, min(limit, MAX_PAGE)))
        return [to_record(item) for item in body["items"]][:limit]

    def describe_fields(self, config: SourceConfig) -> list[SourceField]:
        """The record's fields, then the custom fields seen on recent transactions.

        SuiteQL answers ``SELECT *`` with every field that has a value, custom ones
        included, but without their types: custom fields are found in a sample of
        recent transactions and their lines, and typed by their values (integer,
        decimal, boolean or string; dates come back in the user's format, so they
        read as string). A custom field empty on every sampled row is not listed.
        Custom fields reach the records once named in the Custom fields setting.
        """
        settings = self._settings(config)
        out = [SourceField(alias, kind, label) for alias, _, kind, label in suiteql.COLUMNS]
        out.append(SourceField("demand_status", "string", "Status (open, fulfilled, ...)"))
        with self._client(settings, config, self.probe_retry_policy) as client:
            transactions = client.query(
                suiteql.transactions_sample_query(settings.record_types), limit=SAMPLE_TRANSACTIONS
            )["items"]
            ids = [int(item["id"]) for item in transactions if str(item.get("id", "")).isdigit()]
            lines = (
                client.query(suiteql.lines_sample_query(ids), limit=SAMPLE_LINES)["items"]
                if ids
                else []
            )
        for prefix, rows in (("custbody", transactions), ("custcol", lines)):
            values: dict[str, list[Any]] = {}
            for row in rows:
                for key, value in row.items():
                    if key.lower().startswith(prefix):
                        values.setdefault(key.lower(), []).append(value)
            for name in sorted(values):
                out.append(SourceField(name, _guess_type(values[name]), None, custom=True))
        return out


class _SuiteQL:
    """Sends SuiteQL queries and checks the shape of the answer."""

    def __init__(self, http: SuiteTalkClient) -> None:
        self.http = http

    def __enter__(self) -> _SuiteQL:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def query(self, text: str, *, limit: int, offset: int = 0) -> dict[str, Any]:
        response = self.http.post(
            SUITEQL_PATH,
            params={"limit": limit, "offset": offset},
            json={"q": text},
            # SuiteQL over REST requires it: the query is run, not stored.
            headers={"Prefer": "transient", "Content-Type": "application/json"},
        )
        body = decode_json(response, source=self.http.name)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            members = ", ".join(list(body)[:10]) if isinstance(body, dict) else type(body).__name__
            raise SourceDataError(
                f"{self.http.name} answered the SuiteQL query without an items list "
                f"(members: {members or 'none'})."
            )
        return body


class _Reader:
    """One pull: windows of offset-paged queries, each after the last key read."""

    def __init__(
        self, settings: Settings, client: _SuiteQL, page_size: int, max_results: int
    ) -> None:
        self.settings = settings
        self.client = client
        self.page_size = max(1, min(page_size, MAX_PAGE))
        # Offsets stay whole multiples of the page size, as REST requires.
        self.window_pages = max(1, min(max_results, MAX_RESULTS) // self.page_size)

    def pages(self, cursor: Cursor | None, check_cancelled: Callable[[], None]) -> Iterator[Page]:
        cursor = dict(cursor or {})
        scope = self.settings.record_types
        if cursor and cursor.get("scope", scope) != scope:
            log.info("NetSuite: the transactions to read changed to %s; reading all again", scope)
            cursor = {}
        watermark: str | None = cursor.get("watermark")
        if "after" in cursor:  # a pull that stopped part-way goes on where it was
            since_text, after = cursor.get("since"), int(cursor["after"])
            started = float(cursor.get("started", time.time()))
        else:
            since_text, after, started = self._since(cursor), None, time.time()
        since = dt.datetime.strptime(since_text, suiteql.PY_DATETIME_FORMAT) if since_text else None
        read = pages = 0
        while True:
            query = suiteql.lines_query(
                scope, self.settings.custom_fields, since=since, after=after
            )
            read_before_window = read
            for number in range(self.window_pages):
                check_cancelled()
                body = self.client.query(
                    query, limit=self.page_size, offset=number * self.page_size
                )
                records = [to_record(item) for item in body["items"]]
                more = bool(body.get("hasMore"))
                if more and not records:
                    raise SourceDataError(
                        f"{self.client.http.name} said more lines follow but sent none."
                    )
                for record in records:
                    modified = record.get("lastmodified")
                    if isinstance(modified, str) and (watermark is None or modified > watermark):
                        watermark = modified
                if records:
                    after = int(records[-1]["uniquekey"])
                read += len(records)
                pages += 1
                out: Cursor = {"scope": scope, "watermark": watermark}
                if more:
                    out |= {"since": since_text, "after": after, "started": started}
                else:
                    out["lookback_seconds"] = max(0, round(time.time() - started))
                total = body.get("totalResults")
                yield Page(
                    records,
                    out,
                    read_before_window + total if isinstance(total, int) else None,
                )
                if not more:
                    log.info("NetSuite: read %d lines in %d pages", read, pages)
                    return
            log.debug("NetSuite: offset ceiling reached; a new window starts after %s", after)

    def _since(self, cursor: Cursor) -> str | None:
        watermark = cursor.get("watermark")
        if not watermark:
            return None
        try:
            moment = dt.datetime.strptime(watermark, suiteql.PY_DATETIME_FORMAT)
        except (TypeError, ValueError):
            log.warning("NetSuite: the stored watermark %r is unreadable; reading all", watermark)
            return None
        lookback = dt.timedelta(seconds=float(cursor.get("lookback_seconds", 0)))
        return (moment - OVERLAP - lookback).strftime(suiteql.PY_DATETIME_FORMAT)
