"""SAP Business One: sales orders, or A/R invoices and credit notes, through the Service Layer.

The module reads top to bottom as settings → session and client → records →
paging → the preset.

Requests go to the Service Layer (``https://{server}:50000/b1s/v1``, or
``/b1s/v2``) in a session (:mod:`.service_layer`)::

    GET {root}/Invoices?$filter=UpdateDate ge '2024-05-01'&$orderby=DocEntry
    Prefer: odata.maxpagesize=100

Each record is one document as the Service Layer sends it (header fields,
``DocumentLines`` with their items, user-defined fields ``U_*`` on both), with
derived fields for the default mapping:

- ``documentType``: the entity set, ``Orders``, ``Invoices`` or ``CreditNotes``
  (document numbers repeat across them, so the mapping's order id joins the
  two);
- ``demandStatus``: ``cancelled`` for a cancelled document and for the
  cancellation document that reverses an invoice (``Cancelled`` ``tYES``,
  ``CancelStatus`` ``csYes`` or ``csCancellation``); ``refunded`` for a credit
  note; ``fulfilled`` for an invoice and a closed order; ``open`` for an open
  order;
- ``updatedAt``: ``UpdateDate`` and ``UpdateTime`` as one ISO 8601 time (the
  server's local time, as Business One stores it);
- ``currencyIso``: ``DocCurrency`` when it is an ISO 4217 code. Business One
  currency codes are the company's own (the US demo company's local currency
  is ``$``); such a code is left out, with a warning, rather than rejecting
  every row: map it in the field mapping (a ``map`` transform) if needed.

Lines without an item (those of service documents) are left out.

Paging: the Service Layer sends pages of ``odata.maxpagesize`` documents (20
when not asked) with ``odata.nextLink`` (v1) or ``@odata.nextLink`` (v2),
which skips the rows already sent. Documents are read in ``DocEntry`` order;
Business One never deletes a sales document, and a document changed during
the pull that newly matches the filter can only push the others back (one is
read twice, which upserts make harmless), so no document is skipped.

Incremental pulls filter on ``UpdateDate``, which the Service Layer compares
by day (``UpdateTime`` is not filterable alike in every version): each pull
re-reads from the start of the day of the watermark minus the overlap. The
watermark is the latest ``UpdateDate`` + ``UpdateTime`` seen, per entity set.

The cursor stored after a page is a JSON object:

- ``scope``: the Service Layer, company and document choice read;
- ``watermarks``: the latest ``updatedAt`` per entity set;
- mid-pull: ``set`` (the entity set being read), ``next`` (its next page's
  link, absent when the set starts afresh), ``since`` (the filter day per set)
  and ``started``;
- at the end: ``lookback_seconds``, how long the pull took.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

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
from app.connectors.errors import ConnectorError, SourceDataError
from app.connectors.fields import Field, FieldKind, refuse_problems, validate_config
from app.connectors.http import RetryPolicy, decode_json
from app.connectors.registry import register
from app.connectors.sap.client import SapHttp, check_ca_file, configure_tls, explain_tls
from app.connectors.sap.odata import EdmModel, StructuredType, parse_metadata
from app.connectors.sap.service_layer import ServiceLayerSession

log = logging.getLogger(__name__)

SOURCE = "SAP Business One"
DOCUMENTS = {"orders": ("Orders",), "invoices": ("Invoices", "CreditNotes")}
VERSIONS = ("/b1s/v1", "/b1s/v2")
# Documents asked for per page (the Service Layer's own default is 20).
PAGE_SIZE = 100
OVERLAP = dt.timedelta(minutes=10)
TIMEOUT = (10.0, 120.0)
LINES = "DocumentLines"
_ISO_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DURATION = re.compile(r"^PT(?:(\d{1,2})H)?(?:(\d{1,2})M)?(?:(\d{1,2})(?:\.\d+)?S)?$")

FIELDS: tuple[Field, ...] = (
    Field(
        "service_layer_url",
        "Service Layer URL",
        FieldKind.URL,
        required=True,
        help="Such as https://b1server:50000/b1s/v1 (or /b1s/v2); the host and port alone "
        "mean /b1s/v1.",
    ),
    Field(
        "company_db",
        "Company database",
        required=True,
        help="The company's database name, such as SBODEMOUS.",
    ),
    Field("username", "User name", required=True, help="A Business One user, such as manager."),
    Field("password", "Password", FieldKind.SECRET, required=True),
    Field(
        "documents",
        "Documents",
        FieldKind.CHOICE,
        required=True,
        default="invoices",
        choices=tuple(DOCUMENTS),
        help="Invoices are the sales history, with A/R credit notes as negative lines; "
        "orders are the demand as ordered.",
    ),
    Field(
        "verify_tls",
        "Verify TLS certificate",
        FieldKind.BOOLEAN,
        default=True,
        help="The Service Layer installs with a self-signed certificate. Give its certificate "
        "below, or turn this off only on a network you trust.",
    ),
    Field(
        "ca_certificate",
        "CA certificate (PEM file)",
        FieldKind.FILE,
        help="A PEM file with the Service Layer's certificate (its Conf/server.crt) or the "
        "authority that signed it.",
    ),
)


# -- settings ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one Business One connector."""

    root: str
    company_db: str
    username: str
    password: str = dataclasses.field(repr=False)
    documents: str
    verify_tls: bool
    ca_certificate: str | None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            root=values["service_layer_url"],
            company_db=values["company_db"],
            username=values["username"],
            password=values["password"],
            documents=values.get("documents", "invoices"),
            verify_tls=bool(values.get("verify_tls", True)),
            ca_certificate=values.get("ca_certificate"),
        )

    @property
    def entity_sets(self) -> tuple[str, ...]:
        return DOCUMENTS[self.documents]

    @property
    def version(self) -> int:
        return 2 if self.root.endswith("/v2") else 1

    @property
    def scope(self) -> str:
        """What a cursor belongs to: a changed setting here starts a pull afresh."""
        return f"{self.root}|{self.company_db}|{self.documents}"

    @property
    def host(self) -> str:
        return urlsplit(self.root).netloc


def _normalise(values: dict[str, Any]) -> dict[str, str]:
    """Tidy ``values`` in place; returns the problems no single field can see."""
    problems: dict[str, str] = {}
    parts = urlsplit(values["service_layer_url"])
    path = parts.path.rstrip("/")
    if parts.username is not None or parts.password is not None:
        problems["service_layer_url"] = "must not hold a user name or password"
    elif parts.query or parts.fragment:
        problems["service_layer_url"] = "must not have a ?query or #fragment"
    elif path and path.lower() not in VERSIONS:
        problems["service_layer_url"] = "must end in /b1s/v1 or /b1s/v2"
    else:
        values["service_layer_url"] = (
            f"{parts.scheme}://{parts.netloc}{path.lower() or VERSIONS[0]}"
        )
    ca_file = values.get("ca_certificate")
    if ca_file and (problem := check_ca_file(ca_file)) is not None:
        problems["ca_certificate"] = problem
    return problems


# -- records -----------------------------------------------------------------


def _clock(value: Any) -> dt.time:
    """An ``UpdateTime`` as the Service Layer writes it: ``14:05:09``, ``PT14H05M09S``, 140509."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 240000:
        return dt.time(value // 10000 % 24, value // 100 % 100 % 60, value % 100 % 60)
    text = str(value or "").strip()
    match = _TIME.match(text) or _DURATION.match(text)
    if match is None:
        return dt.time()
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        return dt.time(hours, minutes, seconds)
    except ValueError:
        return dt.time()


def updated_at(document: Mapping[str, Any]) -> dt.datetime | None:
    """``UpdateDate`` and ``UpdateTime`` as one naive datetime (the server's local time)."""
    text = str(document.get("UpdateDate") or "")[:10]
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return dt.datetime.combine(day, _clock(document.get("UpdateTime")))


def document_status(entity_set: str, document: Mapping[str, Any]) -> str:
    """The demand status of a document (see the module docstring)."""
    if document.get("Cancelled") == "tYES" or document.get("CancelStatus") in (
        "csYes",
        "csCancellation",
    ):
        return "cancelled"
    if entity_set == "CreditNotes":
        return "refunded"
    if entity_set == "Orders" and document.get("DocumentStatus") != "bost_Close":
        return "open"
    return "fulfilled"


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row without OData annotations (``odata.etag``, ``@odata.etag``...)."""
    return {k: v for k, v in row.items() if not k.startswith("odata.") and "@" not in k}


def document_records(
    entity_set: str, documents: list[Any], odd_currencies: set[str] | None = None
) -> list[Record]:
    """The records of one page of documents, with the derived fields.

    Currency codes that are not ISO 4217 are added to ``odd_currencies``.

    Raises:
        SourceDataError: a document came without its ``DocumentLines``.
    """
    records: list[Record] = []
    for raw in documents:
        if not isinstance(raw, Mapping):
            continue
        document = _plain(raw)
        lines = document.get(LINES)
        if not isinstance(lines, list):
            raise SourceDataError(
                f"{SOURCE} sent {entity_set} document {document.get('DocEntry')} without its "
                f"{LINES}."
            )
        document[LINES] = [
            _plain(line)
            for line in lines
            if isinstance(line, Mapping) and str(line.get("ItemCode") or "").strip()
        ]
        moment = updated_at(document)
        currency = str(document.get("DocCurrency") or "").strip()
        iso = currency.upper() if _ISO_CURRENCY.match(currency) else None
        if currency and iso is None and odd_currencies is not None:
            odd_currencies.add(currency)
        document |= {
            "documentType": entity_set,
            "demandStatus": document_status(entity_set, document),
            "updatedAt": moment.isoformat() if moment is not None else None,
            "currencyIso": iso,
        }
        records.append(document)
    return records


# -- paging ------------------------------------------------------------------


@dataclasses.dataclass
class _PullState:
    """What one pull carries from page to page: watermarks, filter days, counts."""

    scope: str
    watermarks: dict[str, str]
    since: dict[str, str | None]
    started: float
    odd_currencies: set[str] = dataclasses.field(default_factory=set)
    pages: int = 0
    documents: int = 0

    def advance(self, entity_set: str, records: list[Record]) -> None:
        """Count a page and move the set's watermark to its latest ``updatedAt``."""
        self.pages += 1
        self.documents += len(records)
        newest = _parse(self.watermarks.get(entity_set))
        for record in records:
            moment = _parse(record["updatedAt"])
            if moment is not None and (newest is None or moment > newest):
                newest = moment
                self.watermarks[entity_set] = record["updatedAt"]

    def cursor(self, entity_set: str, following: str | None, next_set: str | None) -> Cursor:
        """The cursor after a page of ``entity_set`` (see the module docstring)."""
        out: Cursor = {"scope": self.scope, "watermarks": dict(self.watermarks)}
        mid_pull = {"since": self.since, "started": self.started}
        if following is not None:
            out |= {"set": entity_set, "next": following, **mid_pull}
        elif next_set is not None:
            out |= {"set": next_set, **mid_pull}
        else:
            out["lookback_seconds"] = max(0, round(time.time() - self.started))
        return out


@dataclasses.dataclass
class _Reader:
    """One pass over the chosen entity sets from a cursor (see the module docstring)."""

    client: SapHttp
    settings: Settings
    page_size: int

    def pages(self, cursor: Cursor | None, check_cancelled: Callable[[], None]) -> Iterator[Page]:
        cursor = dict(cursor or {})
        sets = self.settings.entity_sets
        if cursor and (cursor.get("scope") != self.settings.scope or not _valid(cursor, sets)):
            log.info("%s: the stored cursor is for other settings; reading all", SOURCE)
            cursor = {}
        mid_pull = "set" in cursor
        watermarks = dict(cursor.get("watermarks") or {})
        state = _PullState(
            scope=self.settings.scope,
            watermarks=watermarks,
            since=dict(cursor["since"]) if mid_pull else self._since(watermarks, cursor),
            started=float(cursor.get("started", time.time())),
        )
        first = sets.index(cursor["set"]) if mid_pull else 0
        link: str | None = cursor.get("next") if mid_pull else None
        for position in range(first, len(sets)):
            next_set = sets[position + 1] if position + 1 < len(sets) else None
            yield from self._set_pages(sets[position], link, next_set, state, check_cancelled)
            link = None
        if state.odd_currencies:
            log.warning(
                "%s: currency codes %s are not ISO 4217 codes; the currency column is left "
                "empty for their documents (a map transform in the field mapping can name them)",
                SOURCE,
                ", ".join(sorted(state.odd_currencies)),
            )
        log.info("%s: read %d documents in %d pages", SOURCE, state.documents, state.pages)

    def _set_pages(
        self,
        name: str,
        link: str | None,
        next_set: str | None,
        state: _PullState,
        check_cancelled: Callable[[], None],
    ) -> Iterator[Page]:
        """The pages of one entity set, from its first page or from ``link``."""
        if link:
            self.client.url(link)  # a stored link must still point at the Service Layer
            url, params = link, None
        else:
            url, params = name, self._first_params(state.since.get(name))
        headers = {"Prefer": f"odata.maxpagesize={self.page_size}"}
        while True:
            check_cancelled()
            response = self.client.get(url, params=params, headers=headers)
            documents, following = _page(decode_json(response, source=SOURCE), response.url)
            records = document_records(name, documents, state.odd_currencies)
            state.advance(name, records)
            if following is not None:
                if following == response.url:
                    raise SourceDataError(
                        f"{SOURCE} sent a next link that does not move on; the pull stopped."
                    )
                self.client.url(following)  # refuses a link to another host
            log.debug("%s: %s page %d, %d documents", SOURCE, name, state.pages, len(records))
            yield Page(records, state.cursor(name, following, next_set))
            if following is None:
                return
            url, params = following, None

    def _since(self, watermarks: Mapping[str, str], cursor: Cursor) -> dict[str, str | None]:
        lookback = dt.timedelta(seconds=float(cursor.get("lookback_seconds", 0)))
        since: dict[str, str | None] = {}
        for name in self.settings.entity_sets:
            moment = _parse(watermarks.get(name))
            since[name] = (moment - OVERLAP - lookback).date().isoformat() if moment else None
        return since

    def _first_params(self, since: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"$orderby": "DocEntry"}
        if since is not None:
            # v1 (OData v3) quotes dates; v2 (OData v4) writes them bare.
            literal = f"'{since}'" if self.settings.version == 1 else since
            params["$filter"] = f"UpdateDate ge {literal}"
        return params


def _valid(cursor: Cursor, sets: tuple[str, ...]) -> bool:
    return "set" not in cursor or cursor["set"] in sets


def _parse(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


def _page(body: Any, url: str) -> tuple[list[Any], str | None]:
    """The documents of a page and the absolute URL of the next one."""
    value = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(value, list):
        members = ", ".join(list(body)[:10]) if isinstance(body, Mapping) else type(body).__name__
        raise SourceDataError(
            f'{SOURCE} answered without a "value" list of documents (members: {members}).'
        )
    link = body.get("odata.nextLink") or body.get("@odata.nextLink")
    if link is not None and not isinstance(link, str):
        raise SourceDataError(f"{SOURCE} sent a next link that is not a URL.")
    return value, urljoin(url, link) if link else None


# -- the preset --------------------------------------------------------------


@register
class BusinessOnePreset(ConnectorPreset):
    """Sales documents of one Business One company, line by line."""

    id = "sap_business_one"
    display_name = "SAP Business One"
    category = Category.ERP
    description = (
        "Sales orders, or A/R invoices with credit notes as negative lines, of one company "
        "through the Service Layer."
    )
    fields = FIELDS
    # GET requests only (the login and logout only open and close the session).
    read_ahead = True

    # Instances may replace these: tests shorten the waits and the pages.
    page_size: int = PAGE_SIZE
    retry_policy: RetryPolicy = RetryPolicy()
    # A probe answers an operator who is waiting, so it gives up sooner.
    probe_retry_policy: RetryPolicy = RetryPolicy(
        attempts=3, backoff=0.5, backoff_max=4.0, jitter=0.5, retry_after_cap=15.0
    )

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; raises ConfigurationError naming each bad field."""
        out = validate_config(cls.fields, values)
        problems = _normalise(out)
        refuse_problems(cls.fields, problems)
        return out

    # -- plumbing --

    def _settings(self, config: SourceConfig) -> Settings:
        return Settings.from_values(self.validate(config.values))

    def _client(self, settings: Settings, config: SourceConfig, retry: RetryPolicy) -> SapHttp:
        session = ServiceLayerSession(
            settings.root,
            settings.company_db,
            settings.username,
            settings.password,
            name=SOURCE,
            timeout=TIMEOUT,
            retry=retry,
            verify=settings.verify_tls,
            ca_file=settings.ca_certificate,
        )
        client = SapHttp(
            settings.root,
            name=SOURCE,
            auth=session,
            timeout=TIMEOUT,
            retry=retry,
            cancel=config.cancel,
        )
        client.refusal_hint = (
            "Check that the user may read the documents (its authorisations for sales "
            "documents in Business One)."
        )
        configure_tls(client, verify=settings.verify_tls, ca_file=settings.ca_certificate)
        return client

    def _reading(
        self, config: SourceConfig, retry: RetryPolicy, page_size: int, cursor: Cursor | None
    ) -> Iterator[Page]:
        settings = self._settings(config)
        explain = explain_tls(settings.host, verify=settings.verify_tls)
        try:
            with self._client(settings, config, retry) as client:
                reader = _Reader(client, settings, page_size)
                yield from reader.pages(cursor, config.check_cancelled)
        except ConnectorError as exc:
            raise explain(exc) from None

    # -- operations --

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Log in and read one document number of the first entity set; logs out after."""
        settings = self._settings(config)
        name = settings.entity_sets[0]
        explain = explain_tls(settings.host, verify=settings.verify_tls)
        try:
            with self._client(settings, config, self.probe_retry_policy) as client:
                client.get_json(name, params={"$top": 1, "$select": "DocEntry"})
                session = client.session.auth
                info = dict(session.info) if isinstance(session, ServiceLayerSession) else {}
        except ConnectorError as exc:
            raise explain(exc) from None
        version = f" (version {info['Version']})" if "Version" in info else ""
        return ProbeResult(
            account=f"{settings.company_db} on {settings.host}",
            message=f"Connected to company {settings.company_db} on the Service Layer at "
            f"{settings.host}{version}; {' and '.join(settings.entity_sets)} can be read.",
            details={"company_db": settings.company_db, **info},
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        log.info("%s: reading %s", SOURCE, config.values.get("documents", "invoices"))
        yield from self._reading(config, self.retry_policy, self.page_size, cursor)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The first documents, asking for a page of ``limit`` of them."""
        records: list[Record] = []
        size = max(1, min(limit, self.page_size))
        pages = self._reading(config, self.probe_retry_policy, size, None)
        try:
            for page in pages:
                records.extend(page.records)
                if len(records) >= limit:
                    break
        finally:
            pages.close()
        return records[:limit]

    def describe_fields(self, config: SourceConfig) -> list[SourceField]:
        """The documents' fields from ``$metadata``, user-defined fields (``U_*``) flagged."""
        settings = self._settings(config)
        explain = explain_tls(settings.host, verify=settings.verify_tls)
        try:
            with self._client(settings, config, self.probe_retry_policy) as client:
                response = client.get("$metadata", headers={"Accept": "application/xml"})
        except ConnectorError as exc:
            raise explain(exc) from None
        model = parse_metadata(response.content, SOURCE)
        name = settings.entity_sets[0]
        document = model.set_type(name)
        if document is None:
            raise SourceDataError(f"{SOURCE}: the $metadata document has no {name} entity set.")
        return [
            SourceField("documentType", "string", "Entity set (Orders, Invoices, CreditNotes)"),
            SourceField("demandStatus", "string", "Demand status (open, fulfilled, ...)"),
            SourceField("updatedAt", "datetime", "UpdateDate and UpdateTime"),
            SourceField("currencyIso", "string", "DocCurrency when it is an ISO 4217 code"),
            *_fields(model, document),
        ]


def _fields(model: EdmModel, document: StructuredType) -> list[SourceField]:
    fields: list[SourceField] = []
    for prop in document.properties:
        element = prop.collection_of
        if element is None:
            fields.append(
                SourceField(prop.name, model.kind(prop), prop.label, prop.name.startswith("U_"))
            )
            continue
        line = model.type(element)
        if prop.name != LINES or line is None:
            fields.append(SourceField(f"{prop.name}[]", "other", prop.label))
            continue
        fields.extend(
            SourceField(
                f"{LINES}[].{item.name}", model.kind(item), item.label, item.name.startswith("U_")
            )
            for item in line.properties
            if item.collection_of is None
        )
    return fields
