"""Runtime configuration read from the environment and validated at start."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

ENV_PREFIX = "ACCUPREDIX_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
OAUTH_PROVIDERS = ("SHOPIFY", "QUICKBOOKS", "XERO")
CLUSTER_SCHEMES = ("tcp", "tls", "ws", "wss")
KEY_ENV = "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY"
PREVIOUS_KEYS_ENV = "ACCUPREDIX_APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS"


class ConfigError(Exception):
    """A setting in the environment is invalid; the message says which and why."""


@dataclass(frozen=True)
class OAuthClient:
    """Client credentials of one OAuth provider's app registration."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class Config:
    """Validated settings. Build it with :func:`load_config`."""

    data_dir: Path
    database_url: str
    credentials_key: bytes | None = field(default=None, repr=False)
    previous_keys: tuple[bytes, ...] = field(default=(), repr=False)
    public_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    oauth_clients: Mapping[str, OAuthClient] = field(default_factory=dict, repr=False)
    log_level: str = "INFO"
    # A Dask scheduler address; forecast runs execute on that cluster when set.
    forecast_cluster: str | None = None

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_data_dir(self) -> Path:
        """Create the data directory (and its log folder) if missing."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir


def decode_key(value: str, variable: str) -> bytes:
    """Decode a base64 AES-256 key, or raise ConfigError naming the variable."""
    text = value.strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:
            raw = base64.urlsafe_b64decode(text)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"{variable} is not valid base64. Generate a key with: "
                'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
            ) from None
    if len(raw) != 32:
        raise ConfigError(
            f"{variable} must be base64 of exactly 32 bytes (AES-256); it decodes to "
            f"{len(raw)} bytes."
        )
    return raw


def _public_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"ACCUPREDIX_APP_PUBLIC_URL must be an absolute http(s) URL such as "
            f"https://forecast.example.com; got {value!r}."
        )
    if parts.query or parts.fragment:
        raise ConfigError("ACCUPREDIX_APP_PUBLIC_URL must not carry a query or fragment.")
    return value.strip().rstrip("/")


def _cluster_address(value: str) -> str:
    text = value.strip()
    # Dask's own default protocol when an address has none.
    with_scheme = text if "://" in text else f"tcp://{text}"
    parts = urlsplit(with_scheme)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in CLUSTER_SCHEMES or not parts.hostname or port is None or parts.path:
        raise ConfigError(
            "ACCUPREDIX_FORECAST_CLUSTER must be a Dask scheduler address such as "
            f"tcp://10.0.0.5:8786 (schemes: {', '.join(CLUSTER_SCHEMES)}); got {value!r}."
        )
    return with_scheme


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(f"ACCUPREDIX_PORT must be a number; got {value!r}.") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"ACCUPREDIX_PORT must be between 0 and 65535; got {port}.")
    return port


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate every ``ACCUPREDIX_*`` variable.

    Raises:
        ConfigError: with a message that names the variable and the fix.
    """
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(ENV_PREFIX + name)
        return value if value not in (None, "") else None

    data_dir_value = get("DATA_DIR")
    data_dir = (
        Path(data_dir_value).expanduser()
        if data_dir_value
        else Path(platformdirs.user_data_dir("AccuPredix", "AccuPredix"))
    )
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"ACCUPREDIX_DATA_DIR {data_dir} exists and is not a directory.")

    database_url = get("DATABASE_URL") or f"sqlite:///{(data_dir / 'accupredix.db').as_posix()}"
    if "://" not in database_url:
        raise ConfigError(
            "ACCUPREDIX_DATABASE_URL must be an SQLAlchemy URL such as "
            "postgresql+psycopg://user:password@127.0.0.1/accupredix."
        )
    if database_url.startswith(("postgres://", "postgresql://")):
        # Prefer the psycopg 3 driver that we install over the psycopg2 default.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]

    key_value = get("APP_CONNECTOR_CREDENTIALS_KEY")
    key = decode_key(key_value, KEY_ENV) if key_value else None
    previous = tuple(
        decode_key(part, PREVIOUS_KEYS_ENV)
        for part in (get("APP_CONNECTOR_CREDENTIALS_KEY_PREVIOUS") or "").split(",")
        if part.strip()
    )

    public_url_value = get("APP_PUBLIC_URL")
    oauth: dict[str, OAuthClient] = {}
    for provider in OAUTH_PROVIDERS:
        client_id = get(f"OAUTH_{provider}_CLIENT_ID")
        client_secret = get(f"OAUTH_{provider}_CLIENT_SECRET")
        if bool(client_id) != bool(client_secret):
            raise ConfigError(
                f"Set both ACCUPREDIX_OAUTH_{provider}_CLIENT_ID and "
                f"ACCUPREDIX_OAUTH_{provider}_CLIENT_SECRET, or neither."
            )
        if client_id and client_secret:
            oauth[provider.lower()] = OAuthClient(client_id, client_secret)

    log_level = (get("LOG_LEVEL") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("ACCUPREDIX_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR.")

    cluster_value = get("FORECAST_CLUSTER")
    return Config(
        data_dir=data_dir,
        database_url=database_url,
        credentials_key=key,
        previous_keys=previous,
        public_url=_public_url(public_url_value) if public_url_value else None,
        host=get("HOST") or DEFAULT_HOST,
        port=_port(get("PORT") or str(DEFAULT_PORT)),
        oauth_clients=oauth,
        log_level=log_level,
        forecast_cluster=_cluster_address(cluster_value) if cluster_value else None,
    )
