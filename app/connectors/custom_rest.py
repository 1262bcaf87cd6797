"""Custom REST API: any JSON API the operator describes with settings.

The module reads in the order a request is built: settings → auth → request →
records → pagination → the cursor.

The cursor stored after a page is a JSON object:

- ``watermark``: the largest last-modified value seen so far (as the source
  wrote it), carried across pulls;
- mid-pull only: one page key saying where the next page starts (``page``,
  ``offset``, ``cursor`` as the source gave it, or ``url`` from the Link header
  or the body); ``since``, the incremental filter this pull runs under (null
  for none); ``page_size``; ``started``, the pull's wall-clock start;
- at the end only: ``lookback_seconds``, how long the pull took, resumes
  included.

A cursor without a page key ends a pull: the next pull starts at page one with
the incremental parameter set to the watermark minus the overlap window and
minus the pull's duration. The duration matters for sources that list by id:
a record changed during a long pull, after it was read, may carry a time below
the watermark (which a later record set); going back by the pull's length
still finds it. A cursor with a page key resumes exactly at that page, under
the same filter, so a resumed pull skips nothing and reads no page twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from app.connectors.base import (
    Category,
    ConnectorPreset,
    Cursor,
    Page,
    ProbeResult,
    Record,
    SourceConfig,
)
from app.connectors.errors import SourceDataError
from app.connectors.fields import (
    Field,
    FieldKind,
    client_credentials_fields,
    refuse_problems,
    validate_config,
)
from app.connectors.http import (
    PROBE_RETRY,
    BearerAuth,
    HeaderAuth,
    HttpClient,
    OAuth2ClientCredentials,
    QueryParamAuth,
    RetryPolicy,
    decode_json,
    next_link,
    without_param,
)
from app.connectors.registry import register
from app.redaction import register_secret

log = logging.getLogger(__name__)

AUTHS = ("none", "basic", "bearer", "api_key_header", "api_key_query", "oauth2_client_credentials")
PAGINATIONS = ("none", "page_number", "offset_limit", "cursor", "link_header", "next_url")
PAGED = PAGINATIONS[1:]
# Styles whose next-page link carries the whole query: filters go on the first request only.
LINKED = ("link_header", "next_url")
PAGE_KEYS = {
    "page_number": "page",
    "offset_limit": "offset",
    "cursor": "cursor",
    "link_header": "url",
    "next_url": "url",
}

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _when(field: str, *values: str) -> dict[str, tuple[str, ...]]:
    return {field: values}


FIELDS: tuple[Field, ...] = (
    Field(
        "base_url",
        "Base URL",
        FieldKind.URL,
        required=True,
        help="The API's root, such as https://api.example.com/v1.",
    ),
    Field(
        "resource_path",
        "Resource path",
        help="Appended to the base URL, such as /orders; empty reads the base URL itself.",
    ),
    Field("auth", "Authentication", FieldKind.CHOICE, required=True, default="none", choices=AUTHS),
    Field("username", "User name", required=True, visible_when=_when("auth", "basic")),
    Field(
        "password", "Password", FieldKind.SECRET, required=True, visible_when=_when("auth", "basic")
    ),
    Field(
        "token",
        "Bearer token",
        FieldKind.SECRET,
        required=True,
        visible_when=_when("auth", "bearer"),
    ),
    Field(
        "api_key_header",
        "API key header",
        required=True,
        default="X-API-Key",
        visible_when=_when("auth", "api_key_header"),
    ),
    Field(
        "api_key_param",
        "API key query parameter",
        required=True,
        default="api_key",
        visible_when=_when("auth", "api_key_query"),
    ),
    Field(
        "api_key",
        "API key",
        FieldKind.SECRET,
        required=True,
        visible_when=_when("auth", "api_key_header", "api_key_query"),
    ),
    *client_credentials_fields(_when("auth", "oauth2_client_credentials")),
    Field(
        "records_path",
        "Records path",
        help="Dot path to the list of records in the response, such as data.orders; "
        "empty when the response is the list itself.",
    ),
    Field(
        "pagination",
        "Pagination",
        FieldKind.CHOICE,
        required=True,
        default="none",
        choices=PAGINATIONS,
    ),
    Field(
        "page_param",
        "Page number parameter",
        required=True,
        default="page",
        visible_when=_when("pagination", "page_number"),
    ),
    Field(
        "first_page",
        "First page number",
        FieldKind.NUMBER,
        required=True,
        default=1,
        visible_when=_when("pagination", "page_number"),
    ),
    Field(
        "offset_param",
        "Offset parameter",
        required=True,
        default="offset",
        visible_when=_when("pagination", "offset_limit"),
    ),
    Field(
        "cursor_param",
        "Cursor parameter",
        required=True,
        default="cursor",
        visible_when=_when("pagination", "cursor"),
    ),
    Field(
        "cursor_path",
        "Next cursor path",
        required=True,
        default="next_cursor",
        help="Dot path to the next page's cursor in the response; empty or null ends the pull.",
        visible_when=_when("pagination", "cursor"),
    ),
    Field(
        "next_url_path",
        "Next URL path",
        required=True,
        default="next",
        help="Dot path to the next page's URL in the response; empty or null ends the pull.",
        visible_when=_when("pagination", "next_url"),
    ),
    Field(
        "page_size_param",
        "Page size parameter",
        default="limit",
        help="Empty: let the source choose its page size.",
        visible_when=_when("pagination", *PAGED),
    ),
    Field(
        "page_size",
        "Page size",
        FieldKind.NUMBER,
        default=100,
        visible_when=_when("pagination", *PAGED),
    ),
    Field(
        "total_path",
        "Total count path",
        help="Optional dot path to the number of matching records, for progress.",
        visible_when=_when("pagination", *PAGED),
    ),
    Field(
        "incremental_param",
        "Incremental query parameter",
        help="Such as updated_since; empty reads every record on every sync.",
    ),
    Field(
        "updated_field",
        "Last-modified field",
        help="Dot path to each record's last-modified time, such as updated_at.",
    ),
    Field(
        "overlap_minutes",
        "Overlap window (minutes)",
        FieldKind.NUMBER,
        default=10,
        help="Each incremental sync re-reads this much before the last change seen, "
        "for clock skew and late writes.",
    ),
    Field(
        "extra_headers",
        "Extra headers",
        help="One 'Name: value' per line. Put credentials in the authentication settings.",
    ),
    Field("timeout_seconds", "Timeout (seconds)", FieldKind.NUMBER, default=30),
)


# -- settings ----------------------------------------------------------------


def parse_headers(text: str) -> dict[str, str]:
    """``Name: value`` lines into a dict; raises ValueError naming the bad line."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.match(name.strip()):
            raise ValueError(f"line {number} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one custom REST connector, typed."""

    base_url: str
    resource_path: str
    auth: str
    records_path: str
    pagination: str
    page_size: int
    # Secrets live in here: kept out of repr so that no log shows them.
    values: Mapping[str, Any] = dataclasses.field(repr=False)
    headers: Mapping[str, str] = dataclasses.field(repr=False)
    overlap: dt.timedelta
    timeout: float

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            base_url=values["base_url"],
            resource_path=values.get("resource_path", ""),
            auth=values.get("auth", "none"),
            records_path=values.get("records_path", ""),
            pagination=values.get("pagination", "none"),
            page_size=int(values.get("page_size", 100)),
            values=values,
            headers=parse_headers(values.get("extra_headers", "")),
            overlap=dt.timedelta(minutes=values.get("overlap_minutes", 10)),
            timeout=float(values.get("timeout_seconds", 30)),
        )

    def get(self, name: str) -> Any:
        """An optional setting; None when empty or hidden."""
        return self.values.get(name)

    @property
    def host(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _check(values: dict[str, Any]) -> dict[str, str]:
    """Problems that no single field can see alone."""
    problems: dict[str, str] = {}
    if urlsplit(values["base_url"]).username is not None:
        problems["base_url"] = "must not hold a user name or password; use Basic authentication"
    if values.get("incremental_param") and not values.get("updated_field"):
        problems["updated_field"] = "is required with an incremental query parameter"
    limits = (
        ("page_size", 1),
        ("first_page", 0),
        ("timeout_seconds", 0.001),
        ("overlap_minutes", 0),
    )
    for name, low in limits:
        if name in values and values[name] < low:
            problems[name] = f"must be at least {low:g}"
    for name in ("page_size", "first_page"):
        if name in values and not isinstance(values[name], int):
            problems[name] = "must be a whole number"
    try:
        parse_headers(values.get("extra_headers", ""))
    except ValueError as exc:
        problems["extra_headers"] = str(exc)
    return problems


# -- auth --------------------------------------------------------------------


def _auth(settings: Settings) -> AuthBase | None:
    get = settings.get
    if settings.auth == "basic":
        register_secret(get("password"))
        return HTTPBasicAuth(get("username"), get("password"))
    if settings.auth == "bearer":
        return BearerAuth(get("token"))
    if settings.auth == "api_key_header":
        return HeaderAuth(get("api_key_header"), get("api_key"))
    if settings.auth == "api_key_query":
        return QueryParamAuth(get("api_key_param"), get("api_key"))
    if settings.auth == "oauth2_client_credentials":
        return OAuth2ClientCredentials(
            get("token_url"),
            get("client_id"),
            get("client_secret"),
            scope=get("scope"),
            timeout=settings.timeout,
        )
    return None


# -- records -----------------------------------------------------------------


def value_at(data: Any, path: str) -> Any:
    """The member at a dot path (``data.orders``); ``""`` is ``data`` itself."""
    for key in path.split(".") if path else ():
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def records_at(body: Any, path: str, source: str) -> list[Record]:
    """The records of a response body; raises SourceDataError with a hint."""
    found = value_at(body, path)
    if isinstance(found, list):
        return [item if isinstance(item, dict) else {"value": item} for item in found]
    parent_path, _, leaf = path.rpartition(".")
    parent = value_at(body, parent_path)
    if found is None and path and isinstance(parent, Mapping) and leaf in parent:
        return []  # the member is there and null: no records
    if isinstance(body, Mapping):
        lists = [key for key, value in body.items() if isinstance(value, list)]
        hint = f"; the response has a list in {', '.join(lists)}" if lists else ""
        where = f"the records path {path!r}" if path else "the response itself (records path empty)"
        raise SourceDataError(
            f"{source}: {where} is not a list of records{hint}. "
            f"Top-level members: {', '.join(list(body)[:10]) or 'none'}."
        )
    raise SourceDataError(f"{source}: the records path {path!r} does not lead to a list.")


def field_names(record: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dot paths of a record's members, nested objects included."""
    names: list[str] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        names.append(name)
        if isinstance(value, Mapping):
            names.extend(field_names(value, prefix=f"{name}."))
    return names


def _time_key(value: Any) -> float | None:
    """A comparable instant for a last-modified value: ISO 8601 text or epoch number."""
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():  # epoch digits, which ISO 8601 could misread
            return _time_key(float(text))
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value / 1000 if value > 1e11 else float(value)  # milliseconds or seconds


def since_value(watermark: Any, overlap: dt.timedelta) -> Any:
    """The incremental parameter for a pull after ``watermark``: the overlap earlier.

    ISO 8601 text is answered as ISO 8601 (UTC with ``Z`` when the watermark has
    an offset); epoch numbers as epoch numbers in the same unit.
    """
    if isinstance(watermark, str):
        try:
            number = float(watermark.strip())
        except ValueError:
            moment = dt.datetime.fromisoformat(watermark.strip()) - overlap
            if moment.tzinfo is None:
                return moment.isoformat()
            text = moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
            return text + "Z"
        return str(since_value(int(number) if number.is_integer() else number, overlap))
    seconds = overlap.total_seconds() * (1000 if watermark > 1e11 else 1)
    result = watermark - seconds
    return int(result) if isinstance(watermark, int) else result


class _Watermark:
    """The running maximum of the last-modified field over the records seen."""

    def __init__(self, path: str | None, start: Any) -> None:
        self.path = path
        self.value = start
        self.key = _time_key(start)
        self.unreadable = 0

    def update(self, records: list[Record]) -> None:
        if not self.path:
            return
        nested = "." in self.path
        for record in records:
            value = value_at(record, self.path) if nested else record.get(self.path)
            key = _time_key(value)
            if key is None:
                self.unreadable += 1
            elif self.key is None or key > self.key:
                self.key, self.value = key, value


def _fingerprint(records: list[Record]) -> str | None:
    if not records:
        return None
    ends = json.dumps([len(records), records[0], records[-1]], sort_keys=True, default=str)
    return hashlib.sha256(ends.encode()).hexdigest()


# -- the preset --------------------------------------------------------------


@register
class CustomRestPreset(ConnectorPreset):
    """Reads records from a JSON REST API the operator describes.

    Known limits: the incremental parameter is sent as ISO 8601 or as epoch
    numbers, matching the last-modified field; page-number and offset
    pagination end on an empty page (one request more than strictly needed, but
    a source that caps the page size cannot make the connector stop early).
    """

    id = "custom_rest"
    display_name = "Custom REST API"
    category = Category.CUSTOM
    # GET requests only: the next page may be fetched while one is being written.
    read_ahead = True
    description = "Any JSON API over HTTP: records path, pagination and auth as settings."
    fields = FIELDS

    # An instance may replace these (tests use short waits). A probe answers an
    # operator who is waiting, so it gives up sooner.
    retry_policy: RetryPolicy = RetryPolicy()
    probe_retry_policy: RetryPolicy = PROBE_RETRY

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; raises ConfigurationError naming each bad field."""
        out = validate_config(cls.fields, values)
        problems = _check(out)
        refuse_problems(cls.fields, problems)
        return out

    def _settings(self, config: SourceConfig) -> Settings:
        return Settings.from_values(self.validate(config.values))

    def _client(self, settings: Settings, config: SourceConfig, retry: RetryPolicy) -> HttpClient:
        return HttpClient(
            settings.base_url,
            name=settings.host,
            auth=_auth(settings),
            headers=settings.headers,
            timeout=settings.timeout,
            retry=retry,
            cancel=config.cancel,
        )

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Fetch the first page at the smallest page size."""
        settings = self._settings(config)
        with self._client(settings, config, self.probe_retry_policy) as client:
            pages = _Reader(settings, client, page_size=1).pages(None)
            try:
                page = next(pages)
            finally:
                pages.close()
        sample_fields = field_names(page.records[0]) if page.records else []
        count = len(page.records)
        return ProbeResult(
            account=settings.host,
            message=f"Connected to {settings.host}; {count} record(s) on the first page.",
            details={"records_on_first_page": count, "sample_fields": sample_fields},
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = self._settings(config)
        with self._client(settings, config, self.retry_policy) as client:
            reader = _Reader(settings, client, page_size=settings.page_size)
            yield from reader.pages(cursor, check_cancelled=config.check_cancelled)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The first ``limit`` records, asking the source for pages of that size."""
        settings = self._settings(config)
        records: list[Record] = []
        with self._client(settings, config, self.probe_retry_policy) as client:
            reader = _Reader(settings, client, page_size=max(1, min(limit, settings.page_size)))
            pages = reader.pages(None, check_cancelled=config.check_cancelled)
            try:
                for page in pages:
                    records.extend(page.records)
                    if len(records) >= limit:
                        break
            finally:
                pages.close()
        return records[:limit]


class _Reader:
    """One pass over the resource, page by page, producing resumable cursors."""

    def __init__(self, settings: Settings, client: HttpClient, *, page_size: int) -> None:
        self.settings = settings
        self.client = client
        self.page_size = page_size
        self.style = settings.pagination

    def pages(
        self, cursor: Cursor | None, check_cancelled: Callable[[], None] | None = None
    ) -> Iterator[Page]:
        cursor = dict(cursor or {})
        page_key = PAGE_KEYS.get(self.style)
        state = {page_key: cursor[page_key]} if page_key in cursor else {}
        if state and "page_size" in cursor:
            # Page N means the same records only at the same page size.
            self.page_size = int(cursor["page_size"])
        watermark = _Watermark(self.settings.get("updated_field"), cursor.get("watermark"))
        since = self._since(cursor)
        # Wall-clock start of this pull, kept across a resume (see the module docstring).
        started = float(cursor.get("started", time.time()))
        previous: str | None = None
        count = pages = 0
        while True:
            if check_cancelled is not None:
                check_cancelled()
            url, params = self._request(state, since)
            response = self.client.get(url, params=params)
            body = decode_json(response, source=self.client.name)
            records = records_at(body, self.settings.records_path, self.client.name)
            watermark.update(records)
            following = self._next_state(state, response, body, records)
            fingerprint = _fingerprint(records)
            if following is not None and (following == state or fingerprint == previous):
                raise SourceDataError(
                    f"{self.client.name} returned the same page again; check the pagination "
                    "settings (parameter names and paths)."
                )
            previous = fingerprint
            pages += 1
            count += len(records)
            out: Cursor = {"watermark": watermark.value}
            if following is None:
                out["lookback_seconds"] = max(0, round(time.time() - started))
            else:
                out |= {"since": since, "started": started, "page_size": self.page_size}
                out.update(following)
            log.debug("%s: page %d, %d records", self.client.name, pages, len(records))
            yield Page(records, out, self._total(body))
            if following is None:
                break
            state = following
        if watermark.unreadable:
            log.warning(
                "%s: %d record(s) had no readable %r; they do not move the incremental sync on",
                self.client.name,
                watermark.unreadable,
                self.settings.get("updated_field"),
            )
        log.info("%s: read %d records in %d pages", self.client.name, count, pages)

    def _since(self, cursor: Cursor) -> Any:
        if not self.settings.get("incremental_param"):
            return None
        if "since" in cursor:  # an interrupted pull goes on under its own filter, or none
            return cursor["since"]
        if cursor.get("watermark") is None:
            return None
        lookback = dt.timedelta(seconds=cursor.get("lookback_seconds", 0))
        try:
            return since_value(cursor["watermark"], self.settings.overlap + lookback)
        except (TypeError, ValueError):
            log.warning(
                "%s: the stored watermark is unreadable; reading everything", self.client.name
            )
            return None

    def _request(self, state: dict[str, Any], since: Any) -> tuple[str, dict[str, Any]]:
        get = self.settings.get
        if "url" in state:
            return state["url"], {}  # the link carries the filter and page size
        params: dict[str, Any] = {}
        if since is not None:
            params[get("incremental_param")] = since
        if self.style != "none" and get("page_size_param"):
            params[get("page_size_param")] = self.page_size
        if self.style == "page_number":
            params[get("page_param")] = state.get("page", get("first_page"))
        elif self.style == "offset_limit":
            params[get("offset_param")] = state.get("offset", 0)
        elif self.style == "cursor" and "cursor" in state:
            params[get("cursor_param")] = state["cursor"]
        return self.settings.resource_path, params

    def _next_state(
        self, state: dict[str, Any], response: requests.Response, body: Any, records: list[Record]
    ) -> dict[str, Any] | None:
        get = self.settings.get
        if self.style == "page_number":
            return {"page": state.get("page", get("first_page")) + 1} if records else None
        if self.style == "offset_limit":
            return {"offset": state.get("offset", 0) + len(records)} if records else None
        if self.style == "cursor":
            token = value_at(body, get("cursor_path"))
            return {"cursor": token} if token not in (None, "", False) else None
        if self.style == "link_header":
            return self._url_state(next_link(response))
        if self.style == "next_url":
            link = value_at(body, get("next_url_path"))
            if link is not None and not isinstance(link, str):
                raise SourceDataError(
                    f"{self.client.name}: the next URL path {get('next_url_path')!r} "
                    "does not hold a URL."
                )
            return self._url_state(urljoin(response.url, link) if link else None)
        return None

    def _url_state(self, url: str | None) -> dict[str, Any] | None:
        if not url:
            return None
        self.client.url(url)  # refuses a link to another host before it is stored
        if self.settings.auth == "api_key_query":
            # The auth adds the key again; the stored cursor must not hold it.
            url = without_param(url, self.settings.get("api_key_param"))
        return {"url": url}

    def _total(self, body: Any) -> int | None:
        path = self.settings.get("total_path")
        total = value_at(body, path) if path else None
        return (
            int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None
        )
