"""The one place where secrets are turned into ``********`` for any output.

Structured output (API, UI, CLI) masks by field: a field declared secret, or
one whose name says it holds a credential. Free text (log lines, error
messages) masks by value: every secret the vault has seen in this process, plus
the shapes of credentials that never pass through the vault (API keys,
Authorization headers, passwords in URLs).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"

# Field names that hold credentials whatever a preset declares.
SECRET_NAME = re.compile(
    r"(pass(word|phrase)?|secret|token|api[_-]?key|authori[sz]ation|private[_-]?key|"
    r"credential|signature|cookie)",
    re.IGNORECASE,
)
# Values shorter than this are not masked by value: masking "1" or "EUR"
# everywhere would garble logs without protecting anything.
MIN_SECRET_LENGTH = 6

_TEXT_PATTERNS = (
    # Our own API keys: keep the visible prefix, hide the secret part.
    (re.compile(r"\b(apx_[A-Za-z0-9]+_)[A-Za-z0-9_\-]{8,}"), r"\1" + MASK),
    # Authorization headers of any scheme, and bare bearer tokens; the plain
    # word "basic" in a sentence is left alone.
    (
        re.compile(
            r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"',]+"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"\b(Bearer\s+)[A-Za-z0-9._~+/\-]{16,}=*"), r"\1" + MASK),
    (re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # Credential parameters in query strings and form bodies; the generic names
    # (token, key, code) only right after ? or &, where they are parameters.
    (
        re.compile(
            r"(?i)((?:\b(?:api[_-]?key|access_token|refresh_token|id_token|client_secret|"
            r"password|passwd)|[?&](?:token|key|code))=)[^&\s#\"']+"
        ),
        r"\1" + MASK,
    ),
    # The same names as JSON members, as in a logged token response.
    (
        re.compile(
            r'(?i)("(?:api[_-]?key|access_token|refresh_token|id_token|client_secret|'
            r'password|token)"\s*:\s*")[^"]*"'
        ),
        r"\1" + MASK + '"',
    ),
)


class _KnownSecrets:
    """Secret values seen in this process, compiled into one masking regex."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self.pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            # Longest first, so a secret that contains another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self.pattern = None


_known = _KnownSecrets()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it appears in text."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _known.add(value)


def forget_secrets() -> None:
    """Drop every remembered value (tests use it to start clean)."""
    _known.clear()


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def mask_text(text: str) -> str:
    """Mask every known secret value and credential shape in ``text``."""
    pattern = _known.pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for regex, replacement in _TEXT_PATTERNS:
        text = regex.sub(replacement, text)
    return text


def redact(values: Any, secret_fields: Iterable[str] = ()) -> Any:
    """A copy of ``values`` with every secret field shown as ``********``.

    Nested mappings and lists are walked; a secret field that is empty stays
    empty, so the operator can tell "not set" from "set".
    """
    secret = frozenset(secret_fields)
    if isinstance(values, Mapping):
        out: dict[str, Any] = {}
        for name, value in values.items():
            if (name in secret or is_secret_name(str(name))) and value not in (None, ""):
                out[name] = MASK
            else:
                out[name] = redact(value, secret)
        return out
    if isinstance(values, list | tuple):
        return [redact(item, secret) for item in values]
    if isinstance(values, str):
        return mask_text(values)
    return values


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in a record's final text, arguments and traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
            # The formatter would re-render exc_info; the masked text is enough.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
