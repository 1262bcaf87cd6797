"""Connector failures, grouped by what the caller should do about them.

- :class:`RetryableError`: try again later (timeouts, 5xx, 429).
- :class:`AuthError`: the source refused the credentials; the operator must
  edit or re-authorise the connector (status ``needs_reconnect``).
- :class:`ConnectorError` itself and other subclasses: fail with the message
  (status ``error``).

Messages are written for the operator and never carry secrets.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A source operation failed; ``str(exc)`` is fit to show an operator."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Extra technical context for the log (already free of secrets).
        self.detail = detail


class RetryableError(ConnectorError):
    """A transient failure; ``retry_after`` is the source's wait hint in seconds."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class RateLimited(RetryableError):
    """The source answered 429 (or its equivalent)."""


class AuthError(ConnectorError):
    """The source refused the credentials (401/403, expired refresh token...)."""


class ConfigurationError(ConnectorError):
    """The connector's settings are invalid; ``fields`` maps field names to problems."""

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class HostKeyMismatch(ConnectorError):
    """An SSH server presented a key other than the pinned one."""


class SourceDataError(ConnectorError):
    """The source returned data that cannot be read (malformed file or payload)."""


class Cancelled(ConnectorError):
    """The operator cancelled the operation."""
