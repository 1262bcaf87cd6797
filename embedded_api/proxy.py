"""Forwarded headers, believed only when they come from a trusted proxy.

Behind a tunnel or a reverse proxy, the peer of every connection is the proxy,
and the client's address, scheme and host arrive in ``X-Forwarded-*`` headers.
Anybody can send those headers, so they are applied (by werkzeug's ProxyFix,
one proxy hop) only when the peer is in ``ACCUPREDIX_TRUSTED_PROXIES``, and
removed otherwise so that nothing downstream reads them by mistake.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import ConfigError

TRUSTED_PROXIES_ENV = "ACCUPREDIX_TRUSTED_PROXIES"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_FORWARDED = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
)


def parse_trusted_proxies(value: str | None) -> tuple[Network, ...]:
    """Comma-separated IP addresses and CIDR networks.

    Raises:
        ConfigError: naming the entry that is neither.
    """
    networks = []
    for item in (value or "").split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(
                f"{TRUSTED_PROXIES_ENV}: {entry!r} is not an IP address or network; use e.g. "
                "127.0.0.1,10.0.0.0/8"
            ) from None
    return tuple(networks)


def trusted_proxies_from_env() -> tuple[Network, ...]:
    return parse_trusted_proxies(os.environ.get(TRUSTED_PROXIES_ENV))


class TrustedProxyFix:
    """WSGI middleware: ProxyFix for a trusted peer's requests; forwarded headers dropped else."""

    def __init__(self, app: WsgiApp, networks: tuple[Network, ...]) -> None:
        self.app = app
        self.networks = networks
        self._fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.networks and self._trusted(environ.get("REMOTE_ADDR", "")):
            return self._fixed(environ, start_response)
        for name in _FORWARDED:
            environ.pop(name, None)
        return self.app(environ, start_response)
