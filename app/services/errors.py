"""Errors a use case raises for its caller to show; never a stack trace."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be carried out; the message says why."""


class NotFound(ServiceError):
    """The named record does not exist."""


class InvalidInput(ServiceError):
    """The input is malformed or out of range."""
