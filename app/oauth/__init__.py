"""OAuth sign-in for connectors: providers, the Connect flow and token refresh.

Presets import :class:`ConnectResult` from here for their ``after_connect``
hook, and :mod:`app.oauth.tokens` for a valid access token.
"""

from app.oauth.flow import Authorization, ConnectResult, ConnectStatus, OAuthFlowError

__all__ = ["Authorization", "ConnectResult", "ConnectStatus", "OAuthFlowError"]
