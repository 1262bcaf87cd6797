"""Signing in to the Microsoft identity platform with an app registration.

Dynamics 365 services take an access token from the tenant's v2.0 token
endpoint, asked for with the client-credentials grant and the resource's
``/.default`` scope. authlib does the grant (through
:class:`app.connectors.http.OAuth2ClientCredentials`, which renews the token
before it expires and once after a 401); this module builds the endpoint and
declares the settings every Dynamics preset asks for.
"""

from __future__ import annotations

import re
import uuid

from app.connectors.fields import Field, FieldKind
from app.connectors.http import OAuth2ClientCredentials

LOGIN_URL = "https://login.microsoftonline.com"

# A verified domain of the tenant, such as contoso.onmicrosoft.com.
_DOMAIN = re.compile(
    r"^(?=.{3,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)

TENANT_FIELD = Field(
    "tenant_id",
    "Tenant ID",
    required=True,
    help="The Directory (tenant) ID of your Microsoft Entra tenant, or one of its domains "
    "such as contoso.onmicrosoft.com.",
)
CLIENT_ID_FIELD = Field(
    "client_id",
    "Client ID",
    required=True,
    help="The Application (client) ID of the app registration that AccuPredix signs in as.",
)
CLIENT_SECRET_FIELD = Field(
    "client_secret",
    "Client secret",
    FieldKind.SECRET,
    required=True,
    help="A client secret's value (not its ID) from the app registration's "
    "Certificates & secrets page.",
)


def check_tenant(value: str) -> str | None:
    """Why ``value`` is not a tenant ID or domain, or None when it is one."""
    try:
        uuid.UUID(value)
    except ValueError:
        if not _DOMAIN.match(value):
            return "must be the tenant's GUID or a domain such as contoso.onmicrosoft.com"
    return None


def check_guid(value: str) -> str | None:
    """Why ``value`` is not a GUID, or None when it is one."""
    try:
        uuid.UUID(value)
    except ValueError:
        return "must be a GUID such as 6f1b7f3e-7a3c-4d2b-9a41-0c6a3b2f1e55"
    return None


def token_url(login_url: str, tenant: str) -> str:
    """The tenant's v2.0 token endpoint under ``login_url``."""
    return f"{login_url.rstrip('/')}/{tenant}/oauth2/v2.0/token"


def client_credentials(
    login_url: str,
    tenant: str,
    client_id: str,
    client_secret: str,
    scope: str,
    *,
    timeout: float | tuple[float, float],
    leeway: float,
) -> OAuth2ClientCredentials:
    """A bearer-token auth for ``scope`` (a resource's ``/.default``), renewed as it expires."""
    return OAuth2ClientCredentials(
        token_url(login_url, tenant),
        client_id,
        client_secret,
        scope=scope,
        timeout=timeout,
        leeway=leeway,
    )
