"""The addresses where automation, BI tools and webhooks reach this installation.

With ``ACCUPREDIX_APP_PUBLIC_URL`` set (a tunnel or a reverse proxy), every
address starts with it, since that is the one the outside world can reach;
otherwise with the embedded server's own bind address, which serves this
machine (or its network, when bound to all interfaces).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from app.config import Config

API_PATH = "/api/v1"
OPENAPI_PATH = "/api/v1/openapi.json"
ODATA_PATH = "/odata/"
WEBHOOKS_PATH = "/webhooks"
OAUTH_PATH = "/oauth"
# Addresses that mean "every interface": not something a client can connect to.
_ANY_ADDRESS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 (never bound here, only recognised)


def join_url(base: str, path: str) -> str:
    """``base`` (which may carry a path prefix) followed by the absolute ``path``."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def local_base_url(host: str, port: int) -> str:
    """The ``http://host:port`` a client on this machine uses for a server bound to ``host``."""
    if host.strip() in _ANY_ADDRESS:
        host = "127.0.0.1"
    bare = host.strip("[]")
    try:
        if ipaddress.ip_address(bare).version == 6:
            host = f"[{bare}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class BaseUrls:
    """Base URLs of the API, the OData feed and the webhook endpoints, for Settings to show."""

    base: str
    public: bool

    @property
    def api(self) -> str:
        return join_url(self.base, API_PATH)

    @property
    def openapi(self) -> str:
        return join_url(self.base, OPENAPI_PATH)

    @property
    def odata(self) -> str:
        return join_url(self.base, ODATA_PATH)

    @property
    def webhooks(self) -> str:
        return join_url(self.base, WEBHOOKS_PATH)

    @property
    def health(self) -> str:
        return join_url(self.base, "/healthz")

    def connector_webhook(self, provider: str, connector_id: int) -> str:
        """Where ``provider`` (e.g. ``shopify``) delivers webhooks for one connector."""
        return join_url(self.base, f"{WEBHOOKS_PATH}/connectors/{provider}/{connector_id}")

    def oauth_callback(self, provider: str) -> str:
        """The redirect URI to register with ``provider``'s OAuth app."""
        return join_url(self.base, f"{OAUTH_PATH}/{provider}/callback")

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "base": self.base,
            "public": self.public,
            "api": self.api,
            "openapi": self.openapi,
            "odata": self.odata,
            "webhooks": self.webhooks,
            "health": self.health,
        }


def base_urls(config: Config, *, host: str | None = None, port: int | None = None) -> BaseUrls:
    """The installation's base URLs: the public URL when set, else the server's bind address.

    ``host`` and ``port`` are the address the server actually listens on, when it
    was started with others than the configured ones (``serve --port``, port 0).
    """
    if config.public_url:
        return BaseUrls(base=config.public_url.rstrip("/"), public=True)
    return BaseUrls(
        base=local_base_url(host or config.host, config.port if port is None else port),
        public=False,
    )
