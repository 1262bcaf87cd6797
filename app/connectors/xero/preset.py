"""The Xero preset: one organisation's sales invoices and credit notes as demand.

Sign-in is OAuth 2.0 (the Connect button, :mod:`app.oauth`), or tokens pasted
from Xero's OAuth playground with the app's client id and secret in the
environment. One sign-in may reach several organisations; the connector reads
exactly one, ``tenant_id``, and never picks one by itself: without it, a
probe and a pull fail and name the organisations to choose from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
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
from app.connectors.http import PROBE_RETRY, RetryPolicy
from app.connectors.registry import register
from app.connectors.xero.api import (
    PROVIDER,
    XeroApi,
    connections_with_token,
    organisations,
)
from app.connectors.xero.documents import INVOICES
from app.connectors.xero.quota import Pacing, Quota
from app.connectors.xero.reader import Reader
from app.sync.deletions import MARKER

if TYPE_CHECKING:
    from app.oauth import ConnectResult

log = logging.getLogger(__name__)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
# Invoices per page when sampling for a preview: enough for a screen of lines.
SAMPLE_PAGE_SIZE = 20

FIELDS: tuple[Field, ...] = (
    Field(
        "tenant_id",
        "Organisation ID",
        help="The Xero organisation to read (its tenant id). Connect fills it in, or asks "
        "which one when the sign-in reaches several; a test lists them.",
    ),
    Field(
        "tenant_name",
        "Organisation",
        help="The organisation's name, as Xero gave it when you connected.",
        managed=True,
    ),
    Field(
        "access_token",
        "Access token",
        FieldKind.SECRET,
        help="Filled in by Connect. Without Connect, paste one from Xero's OAuth 2.0 "
        "playground (with the refresh token, and the app's client id and secret set in "
        "ACCUPREDIX_OAUTH_XERO_CLIENT_ID and _CLIENT_SECRET).",
    ),
    Field(
        "refresh_token",
        "Refresh token",
        FieldKind.SECRET,
        help="Filled in by Connect; Xero replaces it at every refresh and it is kept here.",
    ),
    Field(
        "token_expires_at",
        "Access token expiry",
        FieldKind.SECRET,
        help="When the access token expires (UTC); kept with the tokens.",
        managed=True,
    ),
)


def _tenant_list(found: list[dict[str, str]]) -> str:
    return "; ".join(f"{org['name']} (tenant_id {org['id']})" for org in found)


@register
class XeroPreset(ConnectorPreset):
    """Sales invoice and credit note lines of one Xero organisation.

    Known limits: a line removed from an invoice that is still authorised
    stays stored until the invoice is voided (Xero lists documents, not the
    lines taken off them); a line without an item code is rejected by the
    default mapping (see :mod:`app.connectors.xero.documents`).
    """

    id = "xero"
    display_name = "Xero"
    category = Category.ACCOUNTING
    description = (
        "Sales invoices and credit notes of a Xero organisation (authorised and paid; "
        "voided ones drop out)."
    )
    fields = FIELDS
    oauth_provider: ClassVar[str | None] = PROVIDER
    # One call at a time: Xero's per-minute limit, not the CPU, bounds a pull,
    # and token refreshes stay in this process.
    read_ahead = False

    # An instance may replace these (tests use short waits). A probe answers an
    # operator who is waiting, so it gives up sooner.
    retry_policy: RetryPolicy = RetryPolicy(
        attempts=10, backoff=1.0, backoff_max=60.0, jitter=1.0, retry_after_cap=120.0
    )
    probe_retry_policy: RetryPolicy = PROBE_RETRY
    pacing: Pacing = Pacing()
    # Invoices per page. Xero's default is 100 and it takes up to 1,000
    # (``pageSize``); larger pages spend fewer of the 60 calls a minute and
    # 5,000 a day, and 500 keeps each answer a few megabytes at most.
    invoice_page_size: int = 500

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Typed settings; a tenant id must be the GUID Xero gives organisations."""
        out = validate_config(cls.fields, values)
        tenant = out.get("tenant_id")
        if tenant is not None and not _GUID.match(tenant):
            problem = "must be a Xero tenant id, such as fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
            raise ConfigurationError(
                f"Invalid settings: Organisation ID {problem}.", fields={"tenant_id": problem}
            )
        return out

    # -- operations ------------------------------------------------------

    def probe(self, config: SourceConfig) -> ProbeResult:
        """The organisation's name, and one invoice read to prove the invoice scope."""
        values = self.validate(config.values)
        tenant = self._tenant(config, values)
        quota = Quota(self.pacing, organisation=values.get("tenant_name") or tenant)
        with self._api(config, tenant, self.probe_retry_policy, quota) as api:
            organisation = api.organisation()
            name = str(organisation.get("Name") or tenant)
            quota.organisation = name
            api.get(INVOICES.path, params={**INVOICES.params, "page": 1, "pageSize": 1})
        return ProbeResult(
            account=name,
            message=f"Connected to the Xero organisation {name}.",
            details={
                "tenant_id": tenant,
                "organisation": name,
                "base_currency": organisation.get("BaseCurrency"),
                "calls_left_today": quota.day,
                "calls_left_this_minute": quota.minute,
            },
        )

    def pull(self, config: SourceConfig, cursor: Cursor | None) -> Iterator[Page]:
        values = self.validate(config.values)
        tenant = self._tenant(config, values)
        quota = Quota(self.pacing, organisation=values.get("tenant_name") or tenant)
        with self._api(config, tenant, self.retry_policy, quota) as api:
            yield from Reader(api, tenant, invoice_page_size=self.invoice_page_size).pages(cursor)

    def sample(self, config: SourceConfig, limit: int) -> list[Record]:
        """The first lines of the first invoices, read a small page at a time."""
        values = self.validate(config.values)
        tenant = self._tenant(config, values)
        quota = Quota(self.pacing, organisation=values.get("tenant_name") or tenant)
        records: list[Record] = []
        size = max(1, min(limit, SAMPLE_PAGE_SIZE))
        with self._api(config, tenant, self.probe_retry_policy, quota) as api:
            pages = Reader(api, tenant, invoice_page_size=size).pages(None, markers=False)
            try:
                for page in pages:
                    records.extend(r for r in page.records if MARKER not in r)
                    if len(records) >= limit:
                        break
            finally:
                pages.close()
        return records[:limit]

    @classmethod
    def after_connect(
        cls, token: dict[str, Any], params: Mapping[str, str], http: requests.Session
    ) -> ConnectResult:
        """After sign-in: the organisations the grant reaches, one chosen only when alone.

        Raises:
            AuthError: the grant reaches no organisation.
        """
        from app.oauth import ConnectResult

        found = organisations(connections_with_token(http, str(token["access_token"])))
        if not found:
            raise AuthError(
                "Xero: no organisation was authorised. Connect again and allow access to "
                "the organisation to read."
            )
        if len(found) == 1:
            only = found[0]
            return ConnectResult(
                account=only["name"],
                settings={"tenant_id": only["id"], "tenant_name": only["name"]},
                choices=[],
            )
        log.info("Xero sign-in reaches %d organisations; the operator chooses", len(found))
        return ConnectResult(
            account=f"{len(found)} Xero organisations",
            settings={},
            choices=[{"id": org["id"], "name": org["name"]} for org in found],
        )

    # -- helpers ---------------------------------------------------------

    def _api(
        self, config: SourceConfig, tenant: str | None, retry: RetryPolicy, quota: Quota
    ) -> XeroApi:
        return XeroApi(config, tenant_id=tenant, retry=retry, quota=quota)

    def _tenant(self, config: SourceConfig, values: Mapping[str, Any]) -> str:
        """The organisation to read; without one, fail and name the ones to choose from.

        Raises:
            ConfigurationError: no organisation is chosen (the message lists them).
            AuthError: the sign-in reaches no organisation.
        """
        tenant = values.get("tenant_id")
        if tenant:
            return str(tenant)
        with self._api(config, None, self.probe_retry_policy, Quota(self.pacing)) as api:
            found = organisations(api.connections())
        if not found:
            raise AuthError(
                "Xero: this sign-in reaches no organisation. Reconnect Xero and allow access "
                "to the organisation to read."
            )
        listed = _tenant_list(found)
        raise ConfigurationError(
            f"Xero: choose the organisation to read; this sign-in reaches {len(found)}: "
            f"{listed}. Set Organisation ID (tenant_id) to one of them, or connect again "
            "and pick it.",
            fields={"tenant_id": f"choose the organisation: {listed}"},
        )
