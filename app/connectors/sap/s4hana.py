"""SAP S/4HANA: sales order items through the Sales Order API (OData v2).

The module reads top to bottom as settings → auth and client → records →
paging → the preset.

The service is ``API_SALES_ORDER_SRV`` (communication scenario SAP_COM_0109 in
S/4HANA Cloud; activated in ``/IWFND/MAINT_SERVICE`` on-premise)::

    {host}/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder
        ?$expand=to_Item&$orderby=SalesOrder&$top=200
        &$filter=LastChangeDateTime gt datetimeoffset'2024-05-01T08:00:00Z'

Why the header set: the items (``A_SalesOrderItem``) carry no change time of
their own, and a ``$filter`` across a navigation property
(``to_SalesOrder/LastChangeDateTime``) is not something the service promises.
So the pull reads the headers, filtered on their ``LastChangeDateTime`` (which
any change to the order, items included, moves on), with their items expanded,
and yields each item shaped as ``A_SalesOrderItem?$expand=to_SalesOrder``
would: the item's own properties and its header under ``to_SalesOrder``.
Items without a material (text items) are left out. Two derived fields come
with each item: ``demandStatus`` (``cancelled`` when the item has a rejection
reason, ``fulfilled`` when ``SDProcessStatus`` is ``C``, else ``open``) and
``netUnitPrice`` (``NetAmount`` / ``RequestedQuantity``). ``/Date(...)/``
values are rewritten as ISO 8601.

Paging: windows of ``$top`` orders in ``SalesOrder`` order, each after the last
order read (``SalesOrder gt '...'``), so an order created or deleted during a
pull moves no other order between windows. The service may also cap a window
itself (server-side paging, 100 or 5,000 rows in recent releases) and answer
``__next`` with a ``$skiptoken``: that link is followed to the end of the
window. A window shorter than ``$top`` is the last.

The cursor stored after a page is a JSON object:

- ``scope``: the host and client read; another scope's cursor is not used;
- ``watermark``: the latest header ``LastChangeDateTime`` seen (ISO 8601);
- mid-pull: ``after`` (the last order read), ``window`` (orders read in the
  current window), ``next`` (a ``__next`` link to read next, if any),
  ``since`` (the pull's filter time), ``started`` (its wall-clock start);
- at the end: ``lookback_seconds``, how long the pull took.

The next pull filters on ``LastChangeDateTime gt watermark - overlap -
lookback``; upserts make the orders read twice harmless.

Known limits: quantities are in the item's sales unit
(``RequestedQuantityUnit``); orders deleted in S/4HANA, and items deleted from
an order, are not reported by the API and stay stored. Only reads are sent,
so no CSRF token is fetched. The TLS settings (a CA file, or no verification)
apply to the API host; an OAuth token endpoint is verified against the
system's authorities.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.auth import AuthBase, HTTPBasicAuth

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
from app.connectors.fields import (
    Field,
    FieldKind,
    client_credentials_fields,
    refuse_problems,
    validate_config,
)
from app.connectors.http import OAuth2ClientCredentials, RetryPolicy, path_of
from app.connectors.registry import register
from app.connectors.sap.client import (
    SapError,
    SapHttp,
    check_ca_file,
    configure_tls,
    explain_tls,
)
from app.connectors.sap.odata import (
    EdmModel,
    StructuredType,
    iso_values,
    parse_metadata,
    v2_collection,
    v2_date_literal,
)
from app.redaction import register_secret

log = logging.getLogger(__name__)

SERVICE_PATH = "/sap/opu/odata/sap/API_SALES_ORDER_SRV"
SOURCE = "SAP S/4HANA"
AUTHS = ("basic", "oauth2_client_credentials")
# Orders per window; each comes with all its items.
PAGE_SIZE = 200
# Re-read this much before the watermark, for clock skew and late commits.
OVERLAP = dt.timedelta(minutes=10)
TIMEOUT = (10.0, 120.0)
# Key-user custom fields: YY1_ in the cloud, ZZ1_ on-premise.
CUSTOM_PREFIXES = ("YY1_", "ZZ1_")
HEADER = "to_SalesOrder"


def _when(name: str, *values: str) -> dict[str, tuple[str, ...]]:
    return {name: values}


FIELDS: tuple[Field, ...] = (
    Field(
        "host",
        "Host URL",
        FieldKind.URL,
        required=True,
        help="The API host: https://my123456-api.s4hana.ondemand.com in the cloud, or the "
        "on-premise Gateway such as https://s4.example.com:44300.",
    ),
    Field(
        "sap_client",
        "SAP client",
        help="The three-digit client (sap-client), such as 100; empty uses the system's default.",
    ),
    Field(
        "auth",
        "Authentication",
        FieldKind.CHOICE,
        required=True,
        default="basic",
        choices=AUTHS,
        help="Basic: the communication user of the communication arrangement (SAP_COM_0109). "
        "OAuth: the arrangement's OAuth 2.0 client.",
    ),
    Field("username", "User name", required=True, visible_when=_when("auth", "basic")),
    Field(
        "password", "Password", FieldKind.SECRET, required=True, visible_when=_when("auth", "basic")
    ),
    *client_credentials_fields(
        _when("auth", "oauth2_client_credentials"),
        url_example="Such as https://my123456-api.s4hana.ondemand.com/sap/bc/sec/oauth2/token.",
    ),
    Field(
        "verify_tls",
        "Verify TLS certificate",
        FieldKind.BOOLEAN,
        default=True,
        help="Turn off only on a network you trust, for a host with a self-signed certificate; "
        "giving its CA certificate below is the safer way.",
    ),
    Field(
        "ca_certificate",
        "CA certificate (PEM file)",
        FieldKind.FILE,
        help="A PEM file with the certificate of the authority that signed the host's "
        "certificate (or the host's own self-signed one).",
    ),
)


# -- settings ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated settings of one S/4HANA connector."""

    host: str
    sap_client: str | None
    auth: str
    verify_tls: bool
    ca_certificate: str | None
    # Credentials live in here: kept out of repr so that no log shows them.
    values: Mapping[str, Any] = dataclasses.field(repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> Settings:
        return cls(
            host=values["host"],
            sap_client=values.get("sap_client"),
            auth=values.get("auth", "basic"),
            verify_tls=bool(values.get("verify_tls", True)),
            ca_certificate=values.get("ca_certificate"),
            values=values,
        )

    @property
    def service_url(self) -> str:
        return f"{self.host}{SERVICE_PATH}"

    @property
    def scope(self) -> str:
        """What a cursor belongs to: another host or client starts a pull afresh."""
        return f"{self.host}|{self.sap_client or ''}"

    @property
    def account(self) -> str:
        host = urlsplit(self.host).netloc
        return f"{host} (client {self.sap_client})" if self.sap_client else host


def _normalise(values: dict[str, Any]) -> dict[str, str]:
    """Tidy ``values`` in place; returns the problems no single field can see."""
    problems: dict[str, str] = {}
    parts = urlsplit(values["host"])
    if parts.username is not None or parts.password is not None:
        problems["host"] = "must not hold a user name or password"
    elif parts.query or parts.fragment:
        problems["host"] = "must be the host alone, without ?query or #fragment"
    else:
        path = parts.path.rstrip("/")
        # A pasted service URL is understood: keep the host part.
        if path.lower().endswith(SERVICE_PATH.lower()):
            path = path[: -len(SERVICE_PATH)]
        if path:
            problems["host"] = (
                f"must be the host alone (such as {parts.scheme}://{parts.netloc}); "
                "the service path is added by the connector"
            )
        values["host"] = f"{parts.scheme}://{parts.netloc}"
    client = values.get("sap_client")
    if client is not None and not (len(client) == 3 and client.isdigit()):
        problems["sap_client"] = "must be three digits, such as 100"
    ca_file = values.get("ca_certificate")
    if ca_file and (problem := check_ca_file(ca_file)) is not None:
        problems["ca_certificate"] = problem
    return problems


# -- records -----------------------------------------------------------------


def item_status(item: Mapping[str, Any]) -> str:
    """``cancelled`` for a rejected item, ``fulfilled`` when fully processed, else ``open``."""
    if str(item.get("SalesDocumentRjcnReason") or "").strip():
        return "cancelled"
    if str(item.get("SDProcessStatus") or "").strip().upper() == "C":
        return "fulfilled"
    return "open"


def unit_price(item: Mapping[str, Any]) -> str | None:
    """The item's net amount per requested unit, as decimal text; None when unknown."""
    try:
        amount = Decimal(str(item.get("NetAmount")))
        quantity = Decimal(str(item.get("RequestedQuantity")))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite() or not quantity.is_finite() or quantity == 0:
        return None
    return format((amount / quantity).quantize(Decimal("0.000001")).normalize(), "f")


def item_records(orders: list[dict[str, Any]]) -> list[Record]:
    """The items of ``orders`` that name a material, each with its header.

    Raises:
        SourceDataError: an order came without its items (``$expand`` ignored).
    """
    records: list[Record] = []
    for order in orders:
        items = order.get("to_Item")
        if not isinstance(items, list):
            raise SourceDataError(
                f"{SOURCE} sent sales order {order.get('SalesOrder')} without its items "
                "(to_Item was not expanded)."
            )
        header = iso_values({key: value for key, value in order.items() if key != "to_Item"})
        for item in items:
            if not str(item.get("Material") or "").strip():
                continue  # a text item: no demand
            record = iso_values(item)
            record[HEADER] = header
            record["demandStatus"] = item_status(item)
            record["netUnitPrice"] = unit_price(item)
            records.append(record)
    return records


def _parse_iso(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


class _Watermark:
    """The latest header ``LastChangeDateTime`` seen, as ISO text."""

    def __init__(self, start: Any) -> None:
        self.moment = _parse_iso(start)
        self.value = start if self.moment is not None else None

    def update(self, value: Any) -> None:
        moment = _parse_iso(value)
        if moment is not None and (self.moment is None or moment > self.moment):
            self.moment, self.value = moment, value


# -- paging ------------------------------------------------------------------


def order_key(number: str) -> str:
    """A sales order number as the service sorts it: numbers padded to the 10 digits stored.

    The API shows numbers without their leading zeros (the ALPHA conversion), so
    "992330" sorts after "1000000" as text but before it in the service.
    """
    return number.zfill(10) if number.isdigit() else number


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclasses.dataclass
class _Reader:
    """One pass over the sales orders from a cursor (see the module docstring)."""

    client: SapHttp
    settings: Settings
    page_size: int

    def pages(self, cursor: Cursor | None, check_cancelled: Callable[[], None]) -> Iterator[Page]:
        cursor = dict(cursor or {})
        if cursor and cursor.get("scope") != self.settings.scope:
            log.info("%s: the stored cursor is for another host or client; reading all", SOURCE)
            cursor = {}
        watermark = _Watermark(cursor.get("watermark"))
        started = float(cursor.get("started", time.time()))
        mid_pull = "after" in cursor or "next" in cursor
        since = cursor.get("since") if mid_pull else self._since(cursor)
        after: str | None = cursor.get("after")
        window = int(cursor.get("window", 0))
        url: str | None = cursor.get("next")
        pages = orders_read = 0
        while True:
            check_cancelled()
            if url:
                self.client.url(url)  # a stored or sent link must stay on the host
                body = self.client.get_json(self._with_client(url))
            else:
                body = self.client.get_json(
                    self.settings.service_url + "/A_SalesOrder",
                    params=self._first_params(since, after),
                )
            collection = v2_collection(body, SOURCE)
            orders = collection.results
            for order in orders:
                key = str(order.get("SalesOrder") or "")
                if after is not None and order_key(key) <= order_key(after):
                    raise SourceDataError(
                        f"{SOURCE} sent sales order {key or '(no number)'} after {after}: the "
                        "pages are not in SalesOrder order; the pull stopped to avoid a loop."
                    )
                after = key
                watermark.update(iso_values(order.get("LastChangeDateTime")))
            records = item_records(orders)
            window += len(orders)
            orders_read += len(orders)
            following = collection.next
            if following is not None and following == url:
                raise SourceDataError(
                    f"{SOURCE} sent a __next link that does not move on; the pull stopped."
                )
            if following is not None:
                self.client.url(following)  # refuses a link to another host
            more = following is not None or (bool(orders) and window >= self.page_size)
            out: Cursor = {"scope": self.settings.scope, "watermark": watermark.value}
            if more:
                out |= {"after": after, "since": since, "started": started}
                out |= {"next": following, "window": window} if following else {"window": 0}
            else:
                out["lookback_seconds"] = max(0, round(time.time() - started))
            pages += 1
            log.debug("%s: page %d, %d orders, %d items", SOURCE, pages, len(orders), len(records))
            yield Page(records, out)
            if not more:
                break
            if following is None:
                window = 0
            url = following
        log.info("%s: read %d sales orders in %d pages", SOURCE, orders_read, pages)

    def _since(self, cursor: Cursor) -> str | None:
        moment = _parse_iso(cursor.get("watermark"))
        if moment is None:
            return None
        lookback = dt.timedelta(seconds=float(cursor.get("lookback_seconds", 0)))
        return v2_date_literal(moment - OVERLAP - lookback)

    def _first_params(self, since: str | None, after: str | None) -> dict[str, Any]:
        conditions = []
        if since is not None:
            conditions.append(f"LastChangeDateTime gt {since}")
        if after is not None:
            conditions.append(f"SalesOrder gt {_quoted(after)}")
        params: dict[str, Any] = {
            "$expand": "to_Item",
            "$orderby": "SalesOrder",
            "$top": self.page_size,
            "$format": "json",
        }
        if conditions:
            params["$filter"] = " and ".join(conditions)
        if self.settings.sap_client:
            params["sap-client"] = self.settings.sap_client
        return params

    def _with_client(self, url: str) -> str:
        """``url`` with the connector's sap-client, which a __next link may leave out.

        The link's own query is kept byte for byte: it is the service's opaque token.
        """
        client = self.settings.sap_client
        query = urlsplit(url).query
        if not client or any(k == "sap-client" for k, _ in parse_qsl(query)):
            return url
        return f"{url}{'&' if query else '?'}sap-client={client}"


# -- the preset --------------------------------------------------------------


@register
class S4HanaPreset(ConnectorPreset):
    """Sales order items of an S/4HANA system, cloud or on-premise."""

    id = "sap_s4hana"
    display_name = "SAP S/4HANA"
    category = Category.ERP
    description = (
        "Sales order items with their order's date, customer and channel, through the "
        "Sales Order API (API_SALES_ORDER_SRV, OData v2), with Basic or OAuth authentication."
    )
    fields = FIELDS
    # GET requests only: the next page may be read while one is being stored.
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

    def _auth(self, settings: Settings) -> AuthBase:
        get = settings.values.get
        if settings.auth == "oauth2_client_credentials":
            return OAuth2ClientCredentials(
                get("token_url"),
                get("client_id"),
                get("client_secret"),
                scope=get("scope"),
                timeout=TIMEOUT,
            )
        register_secret(get("password"))
        return HTTPBasicAuth(get("username"), get("password"))

    def _client(self, settings: Settings, config: SourceConfig, retry: RetryPolicy) -> SapHttp:
        client = SapHttp(
            settings.host,
            name=SOURCE,
            auth=self._auth(settings),
            timeout=TIMEOUT,
            retry=retry,
            cancel=config.cancel,
        )
        client.refusal_hint = (
            "Check the user name and password"
            if settings.auth == "basic"
            else "Check the OAuth client"
        ) + (
            " and the SAP client, and that the user may read sales orders: a communication "
            "arrangement for scenario SAP_COM_0109 (Sales Order Integration) in the cloud, or "
            "authorisation for API_SALES_ORDER_SRV on-premise."
        )
        configure_tls(client, verify=settings.verify_tls, ca_file=settings.ca_certificate)
        return client

    def _explain(self, exc: ConnectorError, settings: Settings) -> ConnectorError:
        """Advice for the refusals an operator can fix in a setting."""
        if isinstance(exc, SapError) and exc.status == 404:
            return ConnectorError(
                f"{SOURCE} at {settings.account} does not offer the Sales Order API "
                f"({path_of(settings.service_url)}): {exc.said.rstrip('.')}"
                + (f" ({exc.code})" if exc.code else "")
                + ". Activate API_SALES_ORDER_SRV (communication scenario SAP_COM_0109 in the "
                "cloud, /IWFND/MAINT_SERVICE on-premise) or check the host URL."
            )
        return explain_tls(urlsplit(settings.host).netloc, verify=settings.verify_tls)(exc)

    def _reading(
        self, config: SourceConfig, retry: RetryPolicy, page_size: int, cursor: Cursor | None
    ) -> Iterator[Page]:
        settings = self._settings(config)
        with self._client(settings, config, retry) as client:
            reader = _Reader(client, settings, page_size)
            try:
                yield from reader.pages(cursor, config.check_cancelled)
            except ConnectorError as exc:
                raise self._explain(exc, settings) from None

    # -- operations --

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Read one sales order number, with the count of all of them."""
        settings = self._settings(config)
        params = {"$top": 1, "$select": "SalesOrder", "$inlinecount": "allpages", "$format": "json"}
        if settings.sap_client:
            params["sap-client"] = settings.sap_client
        with self._client(settings, config, self.probe_retry_policy) as client:
            try:
                body = client.get_json(settings.service_url + "/A_SalesOrder", params=params)
            except ConnectorError as exc:
                raise self._explain(exc, settings) from None
        collection = v2_collection(body, SOURCE)
        count = collection.count
        said = f"{count:,} sales orders" if count is not None else "sales orders"
        return ProbeResult(
            account=settings.account,
            message=f"Connected to {SOURCE} at {settings.account}; {said} can be read.",
            details={"sales_orders": count, "auth": settings.auth},
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        log.info("%s: reading sales orders", SOURCE)
        yield from self._reading(config, self.retry_policy, self.page_size, cursor)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The items of the first orders, asking for a window of ``limit`` orders."""
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
        """The item and header fields from ``$metadata``, key-user custom fields flagged."""
        settings = self._settings(config)
        params = {"sap-client": settings.sap_client} if settings.sap_client else None
        with self._client(settings, config, self.probe_retry_policy) as client:
            try:
                response = client.get(
                    settings.service_url + "/$metadata",
                    params=params,
                    headers={"Accept": "application/xml"},
                )
            except ConnectorError as exc:
                raise self._explain(exc, settings) from None
        model = parse_metadata(response.content, SOURCE)
        item = _entity(model, "A_SalesOrderItem")
        header = _entity(model, "A_SalesOrder")
        return [
            *_listed(model, item, ""),
            SourceField("demandStatus", "string", "Demand status (open, fulfilled, cancelled)"),
            SourceField("netUnitPrice", "decimal", "Net amount per requested unit"),
            *_listed(model, header, f"{HEADER}."),
        ]


def _entity(model: EdmModel, entity_set: str) -> StructuredType:
    found = model.set_type(entity_set) or model.type(f"{entity_set}Type")
    if found is None:
        raise SourceDataError(f"{SOURCE}: the $metadata document has no {entity_set} entity set.")
    return found


def _listed(model: EdmModel, entity: StructuredType, prefix: str) -> list[SourceField]:
    return [
        SourceField(
            f"{prefix}{prop.name}",
            model.kind(prop),
            prop.label,
            custom=prop.name.startswith(CUSTOM_PREFIXES),
        )
        for prop in entity.properties
    ]
