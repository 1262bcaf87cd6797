"""OData v4 reading shared by the Dynamics presets.

- Errors: both services answer ``{"error": {"code", "message"}}``. A response
  hook turns a 4xx that no retry or new credential can fix into
  :class:`ODataError`, which keeps the service's code, so that a preset can
  say what a "company not found" means; 401, 403, 408, 429 and 5xx are left to
  :class:`app.connectors.http.HttpClient` (renew, re-authorise, retry).
- Paging: :class:`IncrementalReader` asks for pages of ``Prefer:
  odata.maxpagesize`` rows and follows ``@odata.nextLink`` to the end. The
  services cap a page whatever is asked, so only a missing link ends a pull.
- ``$metadata``: :func:`entity_properties` lists an entity type's properties
  with their EDM types, for the mapping wizard.

The cursor stored after a page is a JSON object:

- ``scope``: what was read (a company and document type, an environment); a
  cursor of another scope is not used, so a changed setting starts afresh;
- ``watermark``: the latest last-modified time seen, as the source wrote it;
- mid-pull: ``next``, the ``@odata.nextLink`` to read next (it carries the
  filter and the service's own ``$skiptoken``, which names the last key read,
  so a resumed pull goes on where it stopped); ``since``, the filter's time;
  ``started``, the pull's wall-clock start;
- at the end: ``lookback_seconds``, how long the pull took.

The next pull filters on ``modified > watermark - overlap - lookback``: the
pages come in key order, not by time, so a record changed during a long pull
after its page was read may carry a time below the watermark; going back by
the pull's length finds it again. Upserts make the rows read twice harmless.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from app.connectors.base import Cursor, Page, Record
from app.connectors.errors import ConnectorError, SourceDataError
from app.connectors.http import HttpClient, excerpt, path_of
from app.redaction import mask_text

log = logging.getLogger(__name__)

# Re-read this much before the watermark on every incremental pull, for clock
# skew between the service's nodes and for transactions committed late.
OVERLAP = dt.timedelta(minutes=10)
_MAX_MESSAGE = 300
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_EDM_TYPES = {
    "Edm.String": "string",
    "Edm.Guid": "string",
    "Edm.Boolean": "boolean",
    "Edm.Byte": "integer",
    "Edm.SByte": "integer",
    "Edm.Int16": "integer",
    "Edm.Int32": "integer",
    "Edm.Int64": "integer",
    "Edm.Decimal": "decimal",
    "Edm.Double": "decimal",
    "Edm.Single": "decimal",
    "Edm.Date": "date",
    "Edm.DateTimeOffset": "datetime",
}


# -- errors ------------------------------------------------------------------


class ODataError(ConnectorError):
    """The service refused a request for a reason a retry cannot fix (400, 404...).

    ``code`` is the service's own error code, such as ``Internal_CompanyNotFound``.
    """

    def __init__(self, message: str, *, status: int, code: str | None, said: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        # The service's own message alone, for a preset to quote in its own words.
        self.said = said


def odata_error(response: requests.Response) -> tuple[str | None, str]:
    """The ``(code, message)`` of an OData error body; the reason when there is none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        code = error.get("code")
        message = " ".join(str(error.get("message") or "").split())
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 1] + "…"
        return (str(code) if code else None), mask_text(message or response.reason or "")
    return None, excerpt(response.text or "") or (response.reason or "no reason given")


def raise_client_errors(source: str) -> Callable[..., None]:
    """A ``requests`` response hook raising :class:`ODataError` for final 4xx answers."""

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        status = response.status_code
        if status < 400 or status >= 500 or status in (401, 403, 408, 429):
            return
        code, said = odata_error(response)
        method = response.request.method if response.request is not None else "GET"
        raise ODataError(
            f"{source} answered HTTP {status} on {method} {path_of(response.url)}: "
            f"{said.rstrip('.')}" + (f" ({code})." if code else "."),
            status=status,
            code=code,
            said=said,
        )

    return check


# -- times -------------------------------------------------------------------


def parse_time(value: Any) -> dt.datetime | None:
    """An aware datetime from an OData ``Edm.DateTimeOffset`` value, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def filter_time(moment: dt.datetime) -> str:
    """A ``DateTimeOffset`` literal for ``$filter``: UTC, seconds, ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Watermark:
    """The latest last-modified time among the records seen, kept as the source wrote it."""

    def __init__(self, start: Any) -> None:
        self.value = start if parse_time(start) is not None else None
        self.moment = parse_time(start)

    def update(self, values: Iterable[Any]) -> None:
        for value in values:
            moment = parse_time(value)
            if moment is not None and (self.moment is None or moment > self.moment):
                self.moment, self.value = moment, value


# -- paging ------------------------------------------------------------------

# Builds the first request of a pull: (path, query parameters) for a filter time or None.
FirstRequest = Callable[[str | None], tuple[str, dict[str, Any]]]


@dataclass
class IncrementalReader:
    """One pass over an OData collection from a cursor, page by page.

    Args:
        client: the service's HTTP client.
        scope: what the pull reads; a stored cursor of another scope is ignored.
        first_request: the first request of a fresh pull, given the filter time.
        modified: the last-modified times of a raw row (several when a row
            carries its header's time as well).
        to_records: raw rows of a page to the records the preset yields.
        page_size: rows asked for per page (the service may send fewer).
    """

    client: HttpClient
    scope: str
    first_request: FirstRequest
    modified: Callable[[Mapping[str, Any]], Iterable[Any]]
    to_records: Callable[[list[dict[str, Any]]], list[Record]]
    page_size: int

    def pages(
        self, cursor: Cursor | None, check_cancelled: Callable[[], None] | None = None
    ) -> Iterator[Page]:
        """Pages from ``cursor`` (None: a fresh pull) to the last ``@odata.nextLink``."""
        cursor = dict(cursor or {})
        if cursor and cursor.get("scope") != self.scope:
            log.info("%s: the stored cursor is for other settings; reading all", self.client.name)
            cursor = {}
        watermark = Watermark(cursor.get("watermark"))
        started = float(cursor.get("started", time.time()))
        if isinstance(cursor.get("next"), str):
            since = cursor.get("since")
            url, params = cursor["next"], None
            self.client.url(url)  # a stored link must still point at the service
        else:
            since = self._since(cursor)
            url, params = self.first_request(since)
        headers = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        pages = rows = 0
        while True:
            if check_cancelled is not None:
                check_cancelled()
            body = self.client.get_json(url, params=params, headers=headers)
            raw = _rows(body, self.client.name)
            for row in raw:
                watermark.update(self.modified(row))
            following = body.get("@odata.nextLink")
            if following is not None and (not isinstance(following, str) or following == url):
                raise SourceDataError(
                    f"{self.client.name} sent a next-page link that does not move on "
                    f"(after {pages + 1} pages); the pull stopped to avoid a loop."
                )
            if following:
                self.client.url(following)  # refuses a link to another host
            records = self.to_records(raw)
            pages += 1
            rows += len(raw)
            out: Cursor = {"scope": self.scope, "watermark": watermark.value}
            if following:
                out |= {"next": following, "since": since, "started": started}
            else:
                out["lookback_seconds"] = max(0, round(time.time() - started))
            log.debug(
                "%s: page %d, %d rows, %d records", self.client.name, pages, len(raw), len(records)
            )
            yield Page(records, out, _count(body))
            if not following:
                break
            url, params = following, None
        log.info("%s: read %d rows in %d pages", self.client.name, rows, pages)

    def _since(self, cursor: Cursor) -> str | None:
        moment = parse_time(cursor.get("watermark"))
        if moment is None:
            return None
        lookback = dt.timedelta(seconds=float(cursor.get("lookback_seconds", 0)))
        return filter_time(moment - OVERLAP - lookback)


def _rows(body: Any, source: str) -> list[dict[str, Any]]:
    """The rows of a collection response, without OData annotations."""
    value = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(value, list):
        members = ", ".join(list(body)[:10]) if isinstance(body, Mapping) else type(body).__name__
        raise SourceDataError(
            f'{source} answered without a "value" list of rows (members: {members or "none"}).'
        )
    return [strip_annotations(row) for row in value if isinstance(row, Mapping)]


def _count(body: Mapping[str, Any]) -> int | None:
    count = body.get("@odata.count")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def strip_annotations(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row without ``@odata.etag`` and other annotations, nested objects included."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if "@" in key:
            continue
        if isinstance(value, Mapping):
            out[key] = strip_annotations(value)
        elif isinstance(value, list):
            out[key] = [strip_annotations(v) if isinstance(v, Mapping) else v for v in value]
        else:
            out[key] = value
    return out


# -- $metadata ---------------------------------------------------------------


@dataclass(frozen=True)
class EdmProperty:
    """A structural property of an entity type: its name and EDM type name."""

    name: str
    edm_type: str

    @property
    def kind(self) -> str:
        """string, integer, decimal, date, datetime, boolean or other."""
        return _EDM_TYPES.get(self.edm_type, "other")


def entity_properties(document: str | bytes, source: str) -> dict[str, list[EdmProperty]]:
    """The properties of each entity type in a ``$metadata`` document, by unqualified name.

    Enumeration members are sent as their names, so properties of an enum type
    count as strings.

    Raises:
        SourceDataError: the document is not CSDL XML.
    """
    try:
        # The services' own metadata; expat (2.4.1 and later) refuses entity
        # expansion attacks and no external entity is ever fetched.
        root = ET.fromstring(document)  # noqa: S314
    except ET.ParseError as exc:
        raise SourceDataError(
            f"{source} sent a $metadata document that is not XML ({exc})."
        ) from None
    enums = {
        f"{schema.get('Namespace')}.{enum.get('Name')}"
        for schema in root.iter(f"{_EDM}Schema")
        for enum in schema.iter(f"{_EDM}EnumType")
    }
    found: dict[str, list[EdmProperty]] = {}
    for entity in root.iter(f"{_EDM}EntityType"):
        name = entity.get("Name")
        if not name:
            continue
        found[name] = [
            EdmProperty(
                str(prop.get("Name")),
                "Edm.String" if prop.get("Type") in enums else str(prop.get("Type")),
            )
            for prop in entity.iter(f"{_EDM}Property")
            if prop.get("Name")
        ]
    if not found:
        raise SourceDataError(f"{source} sent a $metadata document without entity types.")
    return found
