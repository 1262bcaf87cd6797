"""Microsoft Dynamics 365 Business Central: sales invoices or sales orders, line by line.

The module reads top to bottom as settings → auth and client → companies →
records → the preset.

Requests go to API v2.0 of one environment and company::

    {API_URL}/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/salesInvoices
        ?$expand=salesInvoiceLines&$filter=lastModifiedDateTime gt 2024-05-01T08:00:00Z

with an app-only token for ``https://api.businesscentral.dynamics.com/.default``.
The app registration must be added on Business Central's *Microsoft Entra
Applications* page with read permission to sales documents (D365 READ, say).

Records are the document lines, flattened: a line's own fields, its header
under ``document``, ``documentType`` (``salesInvoice`` or ``salesOrder``),
``documentDate`` (the invoice or order date) and ``locationCode`` (the code of
the line's ``locationId``, looked up once per pull). Only lines of type
``Item`` are demand; comment, G/L account, resource, fixed asset and charge
lines are left out.

Incremental pulls filter on the header's ``lastModifiedDateTime`` (the lines
carry no time of their own; a line change is a change of its document).
Known limits: Business Central deletes a sales order once it is fully
invoiced, and deleted documents are not reported, so sales orders show open
demand while the invoices are the history; credit memos are not read.

Custom fields: the standard APIs cannot be extended, so an instance exposes
its extension fields through a custom API page (``api/{publisher}/{group}/
{version}``). Set *API route* to it when it copies the standard sales
documents with the same entity names; field discovery then flags the fields
that the standard v2.0 documents lack.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

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
from app.connectors.dynamics.identity import (
    CLIENT_ID_FIELD,
    CLIENT_SECRET_FIELD,
    LOGIN_URL,
    TENANT_FIELD,
    check_guid,
    check_tenant,
    client_credentials,
)
from app.connectors.dynamics.odata import (
    EdmProperty,
    IncrementalReader,
    ODataError,
    entity_properties,
    raise_client_errors,
)
from app.connectors.errors import ConfigurationError, ConnectorError, SourceDataError
from app.connectors.fields import Field, FieldKind, refuse_problems, validate_config
from app.connectors.http import HttpClient, RetryPolicy
from app.connectors.registry import register

log = logging.getLogger(__name__)

API_URL = "https://api.businesscentral.dynamics.com"
SCOPE = "https://api.businesscentral.dynamics.com/.default"
STANDARD_ROUTE = "v2.0"
SOURCE = "Business Central"
# Documents asked for per page; the service caps pages itself (20,000 rows online).
PAGE_SIZE = 1_000
TIMEOUT = (10.0, 120.0)
_ROUTE = re.compile(r"^(v2\.0|[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$")


@dataclasses.dataclass(frozen=True)
class DocumentKind:
    """The entity names of one kind of sales document."""

    entity_set: str
    entity_type: str
    lines: str
    line_type: str
    date: str


KINDS = {
    "sales_invoices": DocumentKind(
        "salesInvoices", "salesInvoice", "salesInvoiceLines", "salesInvoiceLine", "invoiceDate"
    ),
    "sales_orders": DocumentKind(
        "salesOrders", "salesOrder", "salesOrderLines", "salesOrderLine", "orderDate"
    ),
}

FIELDS: tuple[Field, ...] = (
    TENANT_FIELD,
    CLIENT_ID_FIELD,
    CLIENT_SECRET_FIELD,
    Field(
        "environment",
        "Environment",
        required=True,
        default="production",
        help="The environment's name as the Business Central admin center shows it.",
    ),
    Field(
        "company_id",
        "Company",
        help="The company to read, chosen from the list that Test connection shows (its ID).",
    ),
    Field(
        "documents",
        "Documents",
        FieldKind.CHOICE,
        required=True,
        default="sales_invoices",
        choices=tuple(KINDS),
        help="Sales invoices (draft and posted) are the sales history. Sales orders are open "
        "demand: Business Central deletes an order once it is fully invoiced.",
    ),
    Field(
        "api_route",
        "API route",
        default=STANDARD_ROUTE,
        help="v2.0 for the standard API, or publisher/group/version of a custom API page that "
        "copies the standard sales documents with your extension's fields.",
    ),
)


# -- settings ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one Business Central connector."""

    tenant: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    environment: str
    company_id: str | None
    documents: str
    route: str

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            tenant=values["tenant_id"],
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            environment=values.get("environment", "production"),
            company_id=values.get("company_id"),
            documents=values.get("documents", "sales_invoices"),
            route=values.get("api_route", STANDARD_ROUTE),
        )

    @property
    def kind(self) -> DocumentKind:
        return KINDS[self.documents]

    def root(self, route: str | None = None) -> str:
        """The path of an API route in this environment: ``/v2.0/{tenant}/{env}/api/{route}``."""
        return (
            f"/v2.0/{quote(self.tenant, safe='')}/{quote(self.environment, safe='')}"
            f"/api/{route or self.route}"
        )

    def company(self, route: str | None = None) -> str:
        """The path of the company in an API route."""
        return f"{self.root(route)}/companies({self.company_id})"

    @property
    def scope(self) -> str:
        """What a cursor belongs to: a changed setting here starts a pull afresh."""
        return f"{self.environment}/{self.company_id}/{self.route}/{self.kind.entity_set}"


def _check(values: dict[str, Any]) -> dict[str, str]:
    """Problems that the field declarations cannot see."""
    problems: dict[str, str] = {}
    if (problem := check_tenant(values["tenant_id"])) is not None:
        problems["tenant_id"] = problem
    company = values.get("company_id")
    if company is not None and (problem := check_guid(company)) is not None:
        problems["company_id"] = f"{problem}; Test connection lists the companies with their IDs"
    environment = values.get("environment", "")
    if len(environment) > 100 or any(char in environment for char in "/?#\\"):
        problems["environment"] = "must be an environment name such as production"
    if not _ROUTE.match(values.get("api_route", STANDARD_ROUTE)):
        problems["api_route"] = "must be v2.0 or publisher/group/version"
    return problems


# -- records -----------------------------------------------------------------


def line_records(
    kind: DocumentKind, locations: Mapping[str, str], documents: list[dict[str, Any]]
) -> list[Record]:
    """The item lines of ``documents``, each with its header (see the module docstring).

    Raises:
        SourceDataError: a document came without its lines (``$expand`` ignored).
    """
    records: list[Record] = []
    for document in documents:
        lines = document.get(kind.lines)
        if not isinstance(lines, list):
            raise SourceDataError(
                f"{SOURCE} sent {kind.entity_set} without their {kind.lines}; "
                "the API route must support $expand of the lines."
            )
        header = {key: value for key, value in document.items() if key != kind.lines}
        for line in lines:
            if not isinstance(line, Mapping) or line.get("lineType") != "Item":
                continue
            record = dict(line)
            record["document"] = header
            record["documentType"] = kind.entity_type
            record["documentDate"] = header.get(kind.date)
            record["locationCode"] = locations.get(str(line.get("locationId") or "").lower())
            records.append(record)
    return records


def _modified(document: Mapping[str, Any]) -> tuple[Any, ...]:
    return (document.get("lastModifiedDateTime"),)


# -- the preset --------------------------------------------------------------


@register
class BusinessCentralPreset(ConnectorPreset):
    """Sales invoice or sales order lines of one Business Central company."""

    id = "dynamics_bc"
    display_name = "Microsoft Dynamics 365 Business Central"
    category = Category.ERP
    description = (
        "Sales invoice or sales order lines of one company, through API v2.0 "
        "with an app registration's client credentials."
    )
    fields = FIELDS
    # GET requests only: the next page may be read while one is being stored.
    read_ahead = True

    # Instances may replace these: tests point them at fakes and shorten waits.
    login_url: str = LOGIN_URL
    api_url: str = API_URL
    page_size: int = PAGE_SIZE
    token_leeway: float = 60.0
    retry_policy: RetryPolicy = RetryPolicy()
    # A probe answers an operator who is waiting, so it gives up sooner.
    probe_retry_policy: RetryPolicy = RetryPolicy(
        attempts=3, backoff=0.5, backoff_max=4.0, jitter=0.5, retry_after_cap=15.0
    )

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; raises ConfigurationError naming each bad field."""
        out = validate_config(cls.fields, values)
        if "company_id" in out and check_guid(out["company_id"]) is None:
            out["company_id"] = str(uuid.UUID(out["company_id"]))
        problems = _check(out)
        refuse_problems(cls.fields, problems)
        return out

    # -- plumbing --

    def _settings(self, config: SourceConfig) -> Settings:
        return Settings.from_values(self.validate(config.values))

    def _client(self, settings: Settings, config: SourceConfig, retry: RetryPolicy) -> HttpClient:
        auth = client_credentials(
            self.login_url,
            settings.tenant,
            settings.client_id,
            settings.client_secret,
            SCOPE,
            timeout=TIMEOUT,
            leeway=self.token_leeway,
        )
        client = HttpClient(
            self.api_url, name=SOURCE, auth=auth, timeout=TIMEOUT, retry=retry, cancel=config.cancel
        )
        client.session.hooks["response"].append(raise_client_errors(SOURCE))
        return client

    @staticmethod
    def _require_company(settings: Settings) -> str:
        if not settings.company_id:
            raise ConfigurationError(
                f"{SOURCE}: choose the company to read; Test connection lists the companies "
                f"of environment {settings.environment!r}.",
                fields={"company_id": "is required to read documents"},
            )
        return settings.company_id

    def _companies(self, client: HttpClient, settings: Settings) -> list[dict[str, Any]]:
        """The environment's companies (id, name, displayName), from the standard route."""
        try:
            body = client.get_json(
                f"{settings.root(STANDARD_ROUTE)}/companies",
                params={"$select": "id,name,displayName"},
            )
        except ODataError as exc:
            if exc.status == 404:
                raise ConnectorError(
                    f"{SOURCE} has no environment {settings.environment!r} in tenant "
                    f"{settings.tenant} (HTTP 404): {exc.said.rstrip('.')}. "
                    "Check the environment's name in the Business Central admin center."
                ) from None
            raise
        value = body.get("value") if isinstance(body, Mapping) else None
        if not isinstance(value, list):
            raise SourceDataError(f"{SOURCE} answered the companies request without a list.")
        return [
            {"id": c.get("id"), "name": c.get("name"), "displayName": c.get("displayName")}
            for c in value
            if isinstance(c, Mapping)
        ]

    def _locations(self, client: HttpClient, settings: Settings) -> dict[str, str]:
        """Location codes by id, for the lines' ``locationId`` (standard route)."""
        codes: dict[str, str] = {}
        url: str | None = f"{settings.company(STANDARD_ROUTE)}/locations"
        params: dict[str, Any] | None = {"$select": "id,code"}
        while url:
            body = client.get_json(url, params=params)
            for location in body.get("value") or []:
                if isinstance(location, Mapping) and location.get("id"):
                    codes[str(location["id"]).lower()] = str(location.get("code") or "")
            url, params = body.get("@odata.nextLink"), None
        log.debug("%s: %d locations", SOURCE, len(codes))
        return codes

    def _explain(self, exc: ODataError, settings: Settings) -> ConnectorError:
        """A message that names the setting at fault for the common refusals."""
        if exc.code == "Internal_CompanyNotFound":
            return ConnectorError(
                f"{SOURCE} has no company {settings.company_id} in environment "
                f"{settings.environment!r}: {exc.said.rstrip('.')}. Test the connection to "
                "list the companies and choose one."
            )
        if exc.status == 404 and settings.route != STANDARD_ROUTE:
            return ConnectorError(
                f"{SOURCE} does not know the API route {settings.route!r} or its "
                f"{settings.kind.entity_set}: {exc.said.rstrip('.')}."
            )
        return exc

    def _reader(self, client: HttpClient, settings: Settings, page_size: int) -> IncrementalReader:
        kind = settings.kind
        locations = self._locations(client, settings)
        path = f"{settings.company()}/{kind.entity_set}"

        def first_request(since: str | None) -> tuple[str, dict[str, Any]]:
            params = {"$expand": kind.lines}
            if since is not None:
                params["$filter"] = f"lastModifiedDateTime gt {since}"
            return path, params

        return IncrementalReader(
            client,
            scope=settings.scope,
            first_request=first_request,
            modified=_modified,
            to_records=functools.partial(line_records, kind, locations),
            page_size=page_size,
        )

    # -- operations --

    def probe(self, config: SourceConfig) -> ProbeResult:
        """List the environment's companies; with a company chosen, read one of its documents."""
        settings = self._settings(config)
        with self._client(settings, config, self.probe_retry_policy) as client:
            companies = self._companies(client, settings)
            details: dict[str, Any] = {"environment": settings.environment, "companies": companies}
            names = ", ".join(f"{c['name']} ({c['id']})" for c in companies) or "none"
            if not settings.company_id:
                return ProbeResult(
                    account=settings.environment,
                    message=f"Connected to environment {settings.environment!r}; choose one of "
                    f"its {len(companies)} companies: {names}.",
                    details=details,
                )
            company = next(
                (c for c in companies if str(c["id"]).lower() == settings.company_id), None
            )
            if company is None:
                raise ConnectorError(
                    f"{SOURCE} has no company {settings.company_id} in environment "
                    f"{settings.environment!r}; its companies are: {names}."
                )
            kind = settings.kind
            try:
                # The lightest read of the chosen documents: proves the route and permissions.
                client.get_json(
                    f"{settings.company()}/{kind.entity_set}", params={"$top": 1, "$select": "id"}
                )
            except ODataError as exc:
                raise self._explain(exc, settings) from None
        details["company"] = company
        return ProbeResult(
            account=f"{company['name']} ({settings.environment})",
            message=f"Connected to {company['name']} in environment {settings.environment!r}; "
            f"{kind.entity_set} can be read.",
            details=details,
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = self._settings(config)
        self._require_company(settings)
        log.info(
            "%s: reading %s of company %s in environment %s",
            SOURCE,
            settings.kind.entity_set,
            settings.company_id,
            settings.environment,
        )
        with self._client(settings, config, self.retry_policy) as client:
            try:
                reader = self._reader(client, settings, self.page_size)
                yield from reader.pages(cursor, config.check_cancelled)
            except ODataError as exc:
                raise self._explain(exc, settings) from None

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The item lines of the first documents, asking for a page of ``limit`` documents."""
        settings = self._settings(config)
        self._require_company(settings)
        records: list[Record] = []
        with self._client(settings, config, self.probe_retry_policy) as client:
            try:
                reader = self._reader(client, settings, max(1, min(limit, self.page_size)))
                pages = reader.pages(None, config.check_cancelled)
                try:
                    for page in pages:
                        records.extend(page.records)
                        if len(records) >= limit:
                            break
                finally:
                    pages.close()
            except ODataError as exc:
                raise self._explain(exc, settings) from None
        return records[:limit]

    def describe_fields(self, config: SourceConfig) -> list[SourceField]:
        """The documents' fields from the route's ``$metadata``, extension fields flagged."""
        settings = self._settings(config)
        kind = settings.kind
        with self._client(settings, config, self.probe_retry_policy) as client:
            types = self._metadata(client, settings, settings.route)
            standard = (
                types
                if settings.route == STANDARD_ROUTE
                else self._metadata(client, settings, STANDARD_ROUTE)
            )
        header, lines = types.get(kind.entity_type), types.get(kind.line_type)
        if header is None or lines is None:
            raise SourceDataError(
                f"{SOURCE}: the $metadata of API route {settings.route!r} has no "
                f"{kind.entity_type} or {kind.line_type} entity type."
            )

        def known(entity_type: str) -> set[str]:
            return {prop.name for prop in standard.get(entity_type, [])}

        def listed(
            props: list[EdmProperty], prefix: str, standard_names: set[str]
        ) -> list[SourceField]:
            return [
                SourceField(
                    f"{prefix}{prop.name}", prop.kind, custom=prop.name not in standard_names
                )
                for prop in props
            ]

        return [
            *listed(lines, "", known(kind.line_type)),
            SourceField("documentType", "string", "Document type (salesInvoice or salesOrder)"),
            SourceField("documentDate", "date", f"Document date ({kind.date})"),
            SourceField("locationCode", "string", "Location code (from the line's locationId)"),
            *listed(header, "document.", known(kind.entity_type)),
        ]

    def _metadata(
        self, client: HttpClient, settings: Settings, route: str
    ) -> dict[str, list[EdmProperty]]:
        try:
            response = client.get(
                f"{settings.root(route)}/$metadata", headers={"Accept": "application/xml"}
            )
        except ODataError as exc:
            raise self._explain(exc, settings) from None
        return entity_properties(response.content, SOURCE)
