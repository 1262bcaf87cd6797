"""The Shopify preset's settings: declared fields, their checks, and the API address.

A shop is addressed by its permanent ``*.myshopify.com`` domain (a custom
storefront domain does not serve the Admin API), and every call goes to one
dated API version, kept as a setting so that an operator can move to a newer
version without an update of AccuPredix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from app.connectors.fields import Field, FieldKind, refuse_problems, validate_config

# The Admin API's address; tests point it at a fake on 127.0.0.1.
ADMIN_URL = "https://{shop}/admin/api/{version}"
DEFAULT_API_VERSION = "2025-10"
# The oldest version whose schema the connector's queries use: webhook
# subscriptions by ``uri`` and ``groupObjects`` on bulk queries.
OLDEST_API_VERSION = "2025-10"
# Shopify releases a version every quarter, named after its first month.
RELEASE_MONTHS = ("01", "04", "07", "10")

_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
_HANDLE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_VERSION = re.compile(r"^(\d{4})-(\d{2})$")

FIELDS: tuple[Field, ...] = (
    Field(
        "shop",
        "Shop domain",
        required=True,
        help="The store's permanent domain, such as your-store.myshopify.com "
        "(Settings > Domains in the Shopify admin), not its custom domain.",
    ),
    Field(
        "api_version",
        "API version",
        default=DEFAULT_API_VERSION,
        help="The dated Admin API version to call, such as 2025-10. Shopify supports each "
        "version for at least twelve months.",
    ),
    Field(
        "access_token",
        "Admin API access token",
        FieldKind.SECRET,
        help="A custom app's Admin API access token (shpat_...) with the read_orders scope "
        "(and read_all_orders for history older than 60 days); or use Connect.",
    ),
    Field(
        "api_secret_key",
        "API secret key",
        FieldKind.SECRET,
        help="Optional: the custom app's API secret key, which signs its order webhooks.",
    ),
    Field("refresh_token", "Refresh token", FieldKind.SECRET, managed=True),
    Field("token_expires_at", "Access token expiry", FieldKind.SECRET, managed=True),
)


def normalise_shop(value: str) -> str:
    """``value`` as a bare ``name.myshopify.com`` domain; raises ValueError with a reason.

    An admin URL (``https://name.myshopify.com/admin``) or a bare handle
    (``name``) is accepted and reduced to the domain.
    """
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    text = text.split("/", 1)[0].rstrip(".")
    if _HANDLE.match(text):
        text = f"{text}.myshopify.com"
    if not _SHOP.match(text):
        raise ValueError(
            "must be the store's myshopify.com domain, such as your-store.myshopify.com "
            "(a custom domain does not serve the Admin API)"
        )
    return text


def check_api_version(value: str) -> str:
    """``value`` if it names a supported dated version; raises ValueError with a reason."""
    text = value.strip()
    match = _VERSION.match(text)
    if match is None or match.group(2) not in RELEASE_MONTHS:
        raise ValueError("must be a dated version such as 2025-10 (months 01, 04, 07 or 10)")
    if text < OLDEST_API_VERSION:
        raise ValueError(f"must be {OLDEST_API_VERSION} or later; the connector uses its schema")
    return text


def validate(values: Mapping[str, Any]) -> dict[str, Any]:
    """The typed settings with defaults; raises ConfigurationError naming each bad field."""
    out = validate_config(FIELDS, values)
    problems: dict[str, str] = {}
    for name, check in (("shop", normalise_shop), ("api_version", check_api_version)):
        if name in out:
            try:
                out[name] = check(str(out[name]))
            except ValueError as exc:
                problems[name] = str(exc)
    refuse_problems(FIELDS, problems)
    return out


def admin_url(shop: str, version: str) -> str:
    """The Admin API base URL of ``shop`` at ``version``."""
    return ADMIN_URL.format(shop=shop, version=version)
