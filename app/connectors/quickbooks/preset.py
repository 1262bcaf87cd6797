"""The QuickBooks Online preset: invoice and credit memo lines as demand.

Sign-in is OAuth 2.0 (the ``quickbooks`` provider of :mod:`app.oauth`): the
callback names the company (``realmId``), and :meth:`QuickBooksPreset.after_connect`
keeps it with the company's name. Without OAuth client credentials configured,
an operator pastes an access and a refresh token from Intuit's OAuth 2.0
Playground and types the company ID; refreshing them still needs the client id
and secret in the environment. Access tokens last an hour and every refresh may
hand out a new refresh token, which :mod:`app.oauth.tokens` saves together with
the access token and its expiry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import requests

from app.connectors.base import (
    Category,
    ConnectorPreset,
    Cursor,
    Page,
    ProbeResult,
    Record,
    SourceConfig,
)
from app.connectors.errors import AuthError, ConfigurationError
from app.connectors.fields import Field, FieldKind, validate_config
from app.connectors.http import DEFAULT_TIMEOUT, PROBE_RETRY, RetryPolicy
from app.connectors.quickbooks import api
from app.connectors.quickbooks.documents import ENTITIES, document_records
from app.connectors.quickbooks.reader import MAX_PAGE, Reader, documents_of
from app.connectors.registry import register
from app.redaction import register_secret

if TYPE_CHECKING:
    from app.oauth import ConnectResult

log = logging.getLogger(__name__)

ENVIRONMENTS = ("production", "sandbox")

FIELDS: tuple[Field, ...] = (
    Field(
        "environment",
        "Environment",
        FieldKind.CHOICE,
        required=True,
        default="production",
        choices=ENVIRONMENTS,
        help="sandbox for a test company made in Intuit's developer portal.",
    ),
    Field(
        "realm_id",
        "Company ID",
        required=True,
        help="Filled in when you connect. With pasted tokens: the company (realm) ID shown "
        "beside them in Intuit's OAuth 2.0 Playground.",
    ),
    Field(
        "access_token",
        "Access token",
        FieldKind.SECRET,
        required=True,
        managed=True,
        help="Filled in when you connect, or pasted from Intuit's OAuth 2.0 Playground.",
    ),
    Field(
        "refresh_token",
        "Refresh token",
        FieldKind.SECRET,
        required=True,
        managed=True,
        help="Filled in when you connect, or pasted with the access token.",
    ),
    Field(
        "token_expires_at",
        "Access token expiry",
        FieldKind.SECRET,
        managed=True,
        help="When the access token expires (ISO 8601, UTC); saved with the tokens.",
    ),
)


@dataclass(frozen=True)
class Settings:
    environment: str
    realm_id: str

    @property
    def base_url(self) -> str:
        return api.HOSTS[self.environment]


@register
class QuickBooksPreset(ConnectorPreset):
    """Sales lines of QuickBooks Online invoices (credit memos negative).

    Known limits: a line removed from an invoice that is kept stays in demand
    (QuickBooks reports changed documents whole, and the sync updates the lines
    it is given); documents deleted while no sync ran for more than 30 days are
    not seen (see :mod:`app.connectors.quickbooks.reader`).
    """

    id = "quickbooks"
    display_name = "QuickBooks Online"
    category = Category.ACCOUNTING
    description = (
        "Invoice and credit memo lines from QuickBooks Online, synced incrementally; "
        "voided and deleted documents drop out of demand."
    )
    fields = FIELDS
    oauth_provider: ClassVar[str | None] = api.PROVIDER
    # Reads have no side effects (a token refresh is saved as it happens).
    read_ahead = True

    # An instance or a test may replace these. QuickBooks answers 429 without
    # Retry-After, so the backoff itself must outlast a minute's throttling.
    page_size: int = MAX_PAGE
    retry_policy: RetryPolicy = RetryPolicy(attempts=10, backoff=2.0, backoff_max=60.0)
    probe_retry_policy: RetryPolicy = PROBE_RETRY

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; the company ID must be QuickBooks' numeric realm ID."""
        out = validate_config(cls.fields, values)
        realm = str(out.get("realm_id", ""))
        if not realm.isdigit():
            raise ConfigurationError(
                "Invalid settings: Company ID must be the digits of the QuickBooks realm ID, "
                "such as 9130354865162317.",
                fields={"realm_id": "must be digits"},
            )
        return out

    def _settings(self, config: SourceConfig) -> Settings:
        values = self.validate(config.values)
        if not values.get("access_token") and not values.get("refresh_token"):
            raise AuthError(
                "QuickBooks is not connected yet: sign in with Connect, or paste an access "
                "token and a refresh token."
            )
        for name in self.secret_fields():
            register_secret(values.get(name))
        return Settings(environment=values["environment"], realm_id=values["realm_id"])

    def _client(
        self, settings: Settings, config: SourceConfig, retry: RetryPolicy
    ) -> api.QuickBooksClient:
        return api.QuickBooksClient(
            settings.base_url,
            name=api.SOURCE,
            auth=api.token_auth(config),
            retry=retry,
            cancel=config.cancel,
        )

    def probe(self, config: SourceConfig) -> ProbeResult:
        """Read the company's CompanyInfo: the lightest call that needs accounting access."""
        settings = self._settings(config)
        realm = settings.realm_id
        with self._client(settings, config, self.probe_retry_policy) as client:
            body = client.get_body(api.company_path(realm, "companyinfo", realm))
        info = body.get("CompanyInfo")
        info = info if isinstance(info, dict) else {}
        name = info.get("CompanyName") or info.get("LegalName") or f"company {realm}"
        return ProbeResult(
            account=name,
            message=f"Connected to {name} in QuickBooks Online ({settings.environment}).",
            details={
                "realm_id": realm,
                "environment": settings.environment,
                "company_name": name,
                "country": info.get("Country"),
            },
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        settings = self._settings(config)
        with self._client(settings, config, self.retry_policy) as client:
            reader = Reader(client, settings.realm_id, page_size=self.page_size)
            yield from reader.pages(cursor, check_cancelled=config.check_cancelled)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """Lines of the most recently changed invoices (then credit memos), newest first."""
        settings = self._settings(config)
        size = max(1, min(limit, MAX_PAGE))
        records: list[Record] = []
        with self._client(settings, config, self.probe_retry_policy) as client:
            for entity in ENTITIES:
                start = 1
                while len(records) < limit:
                    config.check_cancelled()
                    query = api.select(
                        entity, updated_from=None, start=start, size=size, descending=True
                    )
                    body = client.get_body(
                        api.company_path(settings.realm_id, "query"), params={"query": query}
                    )
                    documents = documents_of(body, entity)
                    for document in documents:
                        records.extend(document_records(entity, document))
                    if len(documents) < size:
                        break
                    start += size
        return records[:limit]

    @classmethod
    def after_connect(
        cls, token: dict[str, Any], params: Mapping[str, str], http: requests.Session
    ) -> ConnectResult:
        """Keep the company the operator signed in to, and name it for the wizard.

        The company ID comes from the callback's ``realmId``. The environment is
        the host whose CompanyInfo answers the new token (production first): a
        development client's token works only against sandbox companies.
        """
        from app.oauth import ConnectResult

        realm = str(params.get("realmId") or "").strip()
        if not realm.isdigit():
            raise AuthError(
                "QuickBooks did not say which company was connected (no realmId in its "
                "answer); sign in again and choose a company."
            )
        access = str(token.get("access_token") or "")
        register_secret(access)
        settings: dict[str, Any] = {"realm_id": realm}
        name = None
        for environment in ENVIRONMENTS:
            name = _company_name(http, api.HOSTS[environment], realm, access)
            if name is not None:
                settings["environment"] = environment
                break
        if name is None:
            log.warning(
                "QuickBooks company %s: CompanyInfo could not be read after sign-in; "
                "test the connection to see why",
                realm,
            )
        return ConnectResult(
            account=name or f"QuickBooks company {realm}", settings=settings, choices=[]
        )


def _company_name(http: requests.Session, host: str, realm: str, access: str) -> str | None:
    """CompanyName from ``host``, or None when that host does not answer for the token."""
    url = host.rstrip("/") + api.company_path(realm, "companyinfo", realm)
    try:
        response = http.get(
            url,
            params={"minorversion": api.MINOR_VERSION},
            headers={"Authorization": f"Bearer {access}", "Accept": "application/json"},
            timeout=DEFAULT_TIMEOUT,
        )
    except requests.RequestException as exc:
        log.debug("QuickBooks CompanyInfo on %s failed: %s", host, type(exc).__name__)
        return None
    if response.status_code != 200:
        log.debug("QuickBooks CompanyInfo on %s: HTTP %s", host, response.status_code)
        return None
    try:
        info = response.json().get("CompanyInfo") or {}
    except (ValueError, AttributeError):
        return None
    name = info.get("CompanyName") or info.get("LegalName") if isinstance(info, dict) else None
    return str(name) if name else None
