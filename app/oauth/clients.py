"""Where the OAuth client credentials of each provider come from.

Today they come from ``ACCUPREDIX_OAUTH_<PROVIDER>_CLIENT_ID`` and
``_CLIENT_SECRET``; a Settings page that stores them would be read here too,
so that nothing else needs to know where they live.
"""

from __future__ import annotations

from app.config import Config, OAuthClient, load_config
from app.redaction import register_secret


def client_for(provider: str, config: Config | None = None) -> OAuthClient | None:
    """The client credentials registered for ``provider``; None when not configured.

    Raises:
        ConfigError: the environment is invalid (for instance only one of the
            two variables is set).
    """
    client = (config or load_config()).oauth_clients.get(provider.lower())
    if client is not None:
        register_secret(client.client_secret)
    return client


def variable_names(provider: str) -> str:
    """The environment variables that enable Connect for ``provider``, for messages."""
    name = provider.upper()
    return f"ACCUPREDIX_OAUTH_{name}_CLIENT_ID and ACCUPREDIX_OAUTH_{name}_CLIENT_SECRET"
