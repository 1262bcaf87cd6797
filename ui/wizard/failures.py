"""Failures of the wizard's background calls, in words an operator can act on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from app.connectors.errors import (
    AuthError,
    Cancelled,
    ConfigurationError,
    ConnectorError,
    HostKeyMismatch,
    RetryableError,
)
from app.redaction import mask_text
from app.services.errors import ServiceError

log = logging.getLogger(__name__)

T = TypeVar("T")

HINTS = {
    "auth": "The source refused the credentials: go Back and check them"
    " (or sign in again with Connect).",
    "unreachable": "The source could not be reached or is busy: check the address, the port "
    "and this computer's network, then test again.",
    "config": "A setting is not valid: go Back and correct the field marked in red.",
    "host_key": "The server presented another key than the pinned one. Forget the pinned "
    "key only if its administrator changed it on purpose.",
    "cancelled": "Nothing was saved. Test again when you are ready.",
    "source": "The source answered, but not as expected: check the settings against its "
    "documentation.",
    "input": "",
    "unexpected": "This is a fault of AccuPredix; the log file has the details.",
}


@dataclass(frozen=True)
class Failure:
    """A failed background call, in words for the operator.

    ``kind`` says what to do about it (see :data:`HINTS`); ``fields`` names the
    settings a :class:`ConfigurationError` found wrong.
    """

    kind: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        return HINTS.get(self.kind, "")


# The first class an exception is an instance of decides its kind.
KINDS: tuple[tuple[type[Exception], str], ...] = (
    (Cancelled, "cancelled"),
    (AuthError, "auth"),
    (RetryableError, "unreachable"),
    (ConfigurationError, "config"),
    (HostKeyMismatch, "host_key"),
    (ConnectorError, "source"),
    (ServiceError, "input"),
)


def classify(exc: Exception) -> Failure:
    """The failure an operator reads for ``exc``; unexpected errors say nothing of their text."""
    kind = next((kind for cls, kind in KINDS if isinstance(exc, cls)), "unexpected")
    if kind == "unexpected":
        return Failure(kind, "Something went wrong unexpectedly.")
    if kind == "cancelled":
        return Failure(kind, "Cancelled.")
    fields = getattr(exc, "fields", None) or getattr(exc, "problems", None) or {}
    return Failure(kind, mask_text(str(exc)), dict(fields))


def attempt(fn: Callable[[], T]) -> T | Failure:
    """``fn()``, or the :class:`Failure` it raised; for work on a worker thread."""
    try:
        return fn()
    except Exception as exc:
        failure = classify(exc)
        if failure.kind == "unexpected":
            log.exception("wizard: background call failed")
        else:
            log.info("wizard: %s: %s", failure.kind, failure.message)
        return failure
