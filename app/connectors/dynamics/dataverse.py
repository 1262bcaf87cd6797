"""Microsoft Dynamics 365 Sales on Dataverse: order products (sales order details).

The module reads top to bottom as settings → auth and client → records → the
preset.

Requests go to the environment's Web API::

    {environment URL}/api/data/v9.2/salesorderdetails
        ?$expand=salesorderid($select=...),productid($select=...),transactioncurrencyid(...)
        &$filter=modifiedon gt 2024-05-01T08:00:00Z or salesorderid/modifiedon gt ...

with an app-only token for ``{environment URL}/.default``. The app registration
must be an application user of the environment with a security role that reads
orders, order products and products.

Records are the order products as the Web API sends them (every column, so an
instance's custom columns such as ``new_channel`` come along; lookups as
``_productid_value``), with the order header under ``salesorderid``, the
product's number and name under ``productid`` and the currency's ISO code
under ``transactioncurrencyid``. Known limit: custom columns of the order
header are not read; only those of the order product are.

Incremental pulls take order products whose own ``modifiedon`` or whose
order's ``modifiedon`` is after the watermark, so that an order cancelled or
fulfilled without touching its lines is read again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

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
    check_tenant,
    client_credentials,
)
from app.connectors.dynamics.odata import IncrementalReader, ODataError, raise_client_errors
from app.connectors.errors import ConnectorError, SourceDataError
from app.connectors.fields import Field, FieldKind, refuse_problems, validate_config
from app.connectors.http import HttpClient, RetryPolicy
from app.connectors.registry import register

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2"
ENTITY_SET = "salesorderdetails"
# Rows asked for per page; Dataverse sends at most 5,000 whatever is asked.
PAGE_SIZE = 1_000
TIMEOUT = (10.0, 120.0)

# The order header's columns read with each order product.
HEADER_COLUMNS = (
    "salesorderid",
    "ordernumber",
    "name",
    "createdon",
    "submitdate",
    "datefulfilled",
    "requestdeliveryby",
    "statecode",
    "statuscode",
    "_customerid_value",
    "modifiedon",
)
PRODUCT_COLUMNS = (("productnumber", "string", "Product ID"), ("name", "string", "Product name"))
EXPAND = (
    f"salesorderid($select={','.join(HEADER_COLUMNS)}),"
    "productid($select=productnumber,name),"
    "transactioncurrencyid($select=isocurrencycode)"
)
# Dataverse attribute types as the mapping wizard names them.
_ATTRIBUTE_TYPES = {
    "String": "string",
    "Memo": "string",
    "Uniqueidentifier": "string",
    "EntityName": "string",
    "Lookup": "string",
    "Customer": "string",
    "Owner": "string",
    "Integer": "integer",
    "BigInt": "integer",
    "Picklist": "integer",
    "State": "integer",
    "Status": "integer",
    "Decimal": "decimal",
    "Double": "decimal",
    "Money": "decimal",
    "DateTime": "datetime",
    "Boolean": "boolean",
}
# Lookups come back as _{name}_value, the referenced row's GUID.
_LOOKUPS = frozenset({"Lookup", "Customer", "Owner"})

FIELDS: tuple[Field, ...] = (
    Field(
        "environment_url",
        "Environment URL",
        FieldKind.URL,
        required=True,
        help="The environment's address, such as https://contoso.crm.dynamics.com "
        "(Power Platform admin center → Environments → Environment URL).",
    ),
    TENANT_FIELD,
    CLIENT_ID_FIELD,
    CLIENT_SECRET_FIELD,
)


# -- settings ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one Dataverse connector."""

    environment_url: str
    tenant: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            environment_url=values["environment_url"],
            tenant=values["tenant_id"],
            client_id=values["client_id"],
            client_secret=values["client_secret"],
        )

    @property
    def host(self) -> str:
        return str(urlsplit(self.environment_url).netloc)

    @property
    def scope(self) -> str:
        """The token scope: the environment itself is the resource."""
        return f"{self.environment_url}/.default"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# -- the preset --------------------------------------------------------------


@register
class DataversePreset(ConnectorPreset):
    """Order products of Dynamics 365 Sales, read through the Dataverse Web API."""

    id = "dynamics_dataverse"
    display_name = "Microsoft Dynamics 365 Sales (Dataverse)"
    category = Category.ERP
    description = (
        "Order products with their orders from a Dataverse environment's Web API, "
        "with an app registration's client credentials."
    )
    fields = FIELDS
    # GET requests only: the next page may be read while one is being stored.
    read_ahead = True

    # Instances may replace these: tests point them at fakes and shorten waits.
    login_url: str = LOGIN_URL
    page_size: int = PAGE_SIZE
    token_leeway: float = 60.0
    retry_policy: RetryPolicy = RetryPolicy()
    # A probe answers an operator who is waiting, so it gives up sooner.
    probe_retry_policy: RetryPolicy = RetryPolicy(
        attempts=3, backoff=0.5, backoff_max=4.0, jitter=0.5, retry_after_cap=15.0
    )

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; the environment URL is kept to its origin (a pasted page URL works)."""
        out = validate_config(cls.fields, values)
        problems: dict[str, str] = {}
        parts = urlsplit(out["environment_url"])
        if parts.username is not None or parts.password is not None:
            problems["environment_url"] = "must not hold a user name or password"
        out["environment_url"] = _origin(out["environment_url"])
        if (problem := check_tenant(out["tenant_id"])) is not None:
            problems["tenant_id"] = problem
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
            settings.scope,
            timeout=TIMEOUT,
            leeway=self.token_leeway,
        )
        client = HttpClient(
            settings.environment_url + API_PATH,
            name=settings.host,
            auth=auth,
            headers={"OData-MaxVersion": "4.0", "OData-Version": "4.0"},
            timeout=TIMEOUT,
            retry=retry,
            cancel=config.cancel,
        )
        client.session.hooks["response"].append(raise_client_errors(settings.host))
        return client

    def _reader(self, client: HttpClient, settings: Settings, page_size: int) -> IncrementalReader:
        def first_request(since: str | None) -> tuple[str, dict[str, Any]]:
            params = {"$expand": EXPAND}
            if since is not None:
                params["$filter"] = f"modifiedon gt {since} or salesorderid/modifiedon gt {since}"
            return ENTITY_SET, params

        return IncrementalReader(
            client,
            scope=f"{settings.environment_url}/{ENTITY_SET}",
            first_request=first_request,
            modified=_modified,
            to_records=list,
            page_size=page_size,
        )

    # -- operations --

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Ask WhoAmI, then read one order product with its order and product."""
        settings = self._settings(config)
        with self._client(settings, config, self.probe_retry_policy) as client:
            who = client.get_json("WhoAmI")
            if not isinstance(who, Mapping) or "UserId" not in who:
                raise SourceDataError(f"{settings.host} answered WhoAmI without a UserId.")
            # The same request a pull makes, at one row: proves the security role.
            client.get_json(ENTITY_SET, params={"$top": 1, "$expand": EXPAND})
        return ProbeResult(
            account=settings.host,
            message=f"Connected to {settings.host} as application user {who['UserId']}; "
            "order products can be read.",
            details={
                "user_id": who.get("UserId"),
                "business_unit_id": who.get("BusinessUnitId"),
                "organization_id": who.get("OrganizationId"),
            },
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = self._settings(config)
        log.info("%s: reading order products", settings.host)
        with self._client(settings, config, self.retry_policy) as client:
            reader = self._reader(client, settings, self.page_size)
            yield from reader.pages(cursor, config.check_cancelled)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The first ``limit`` order products, asking for a page of that size."""
        settings = self._settings(config)
        records: list[Record] = []
        with self._client(settings, config, self.probe_retry_policy) as client:
            reader = self._reader(client, settings, max(1, min(limit, self.page_size)))
            pages = reader.pages(None, config.check_cancelled)
            try:
                for page in pages:
                    records.extend(page.records)
                    if len(records) >= limit:
                        break
            finally:
                pages.close()
        return records[:limit]

    def describe_fields(self, config: SourceConfig) -> list[SourceField]:
        """Order product columns (custom ones flagged) and the header columns read with them."""
        settings = self._settings(config)
        with self._client(settings, config, self.probe_retry_policy) as client:
            lines = _attributes(client, "salesorderdetail")
            header = {
                attribute.get("LogicalName"): attribute
                for attribute in _attributes(client, "salesorder")
            }
        fields = [field for attribute in lines if (field := _field(attribute, "")) is not None]
        for name in HEADER_COLUMNS:
            attribute = header.get(name.removeprefix("_").removesuffix("_value"))
            found = _field(attribute, "salesorderid.") if attribute is not None else None
            fields.append(found or SourceField(f"salesorderid.{name}", "string"))
        fields.extend(
            SourceField(f"productid.{name}", kind, label) for name, kind, label in PRODUCT_COLUMNS
        )
        fields.append(
            SourceField("transactioncurrencyid.isocurrencycode", "string", "Currency code")
        )
        return fields


def _modified(row: Mapping[str, Any]) -> tuple[Any, ...]:
    order = row.get("salesorderid")
    return (row.get("modifiedon"), order.get("modifiedon") if isinstance(order, Mapping) else None)


def _attributes(client: HttpClient, table: str) -> list[Mapping[str, Any]]:
    """A table's column definitions from its entity metadata."""
    try:
        body = client.get_json(
            f"EntityDefinitions(LogicalName='{table}')/Attributes",
            params={
                "$select": "LogicalName,AttributeType,IsCustomAttribute,DisplayName,"
                "AttributeOf,IsValidForRead"
            },
        )
    except ODataError as exc:
        raise ConnectorError(
            f"{client.name} did not describe the {table} table: {exc.said.rstrip('.')}."
        ) from None
    value = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(value, list):
        raise SourceDataError(f"{client.name} answered the {table} metadata without a list.")
    return [attribute for attribute in value if isinstance(attribute, Mapping)]


def _field(attribute: Mapping[str, Any], prefix: str) -> SourceField | None:
    """A column as the records show it; None for columns that records never carry."""
    name = attribute.get("LogicalName")
    kind = attribute.get("AttributeType")
    if not name or kind == "Virtual" or attribute.get("AttributeOf"):
        return None
    if attribute.get("IsValidForRead") is False:
        return None
    path = f"_{name}_value" if kind in _LOOKUPS else name
    label = (attribute.get("DisplayName") or {}).get("UserLocalizedLabel") or {}
    return SourceField(
        f"{prefix}{path}",
        _ATTRIBUTE_TYPES.get(str(kind), "other"),
        label.get("Label") if isinstance(label, Mapping) else None,
        custom=bool(attribute.get("IsCustomAttribute")),
    )
