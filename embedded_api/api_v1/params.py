"""Request parameters: each one's OpenAPI description and its parser, declared together.

Declaring both in one place is what keeps the OpenAPI document true: the
document is built from these declarations, and requests are parsed by them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from embedded_api.problems import ProblemError

# Ids are 32-bit in PostgreSQL; a larger number can name nothing.
MAX_ID = 2**31 - 1
MAX_TEXT = 200
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

# A '+' sent unencoded in a query string arrives as a space: "10:00:00 01:00".
_SPACED_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


class InvalidValue(ValueError):
    """A parameter value that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class Param:
    """One parameter of an operation: where it goes, its schema, and how to read it."""

    name: str
    location: str  # "query", "path" or "header"
    description: str
    schema: Mapping[str, Any]
    parse: Callable[[str], Any] = field(repr=False)
    required: bool = False
    default: Any = None
    # The view's keyword argument; defaults to the name.
    argument: str = ""

    @property
    def keyword(self) -> str:
        return self.argument or self.name

    def as_openapi(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "required": self.required or self.location == "path",
            "schema": dict(self.schema),
        }
        return spec


def parse_timestamp(text: str) -> dt.datetime:
    """An ISO 8601 date or date-time; without an offset it is taken as UTC."""
    value = _SPACED_OFFSET.sub(r"\1+\2", text.strip())
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidValue(
            "expected an ISO 8601 date-time such as 2025-01-31T09:30:00+01:00 "
            "(UTC when the offset is left out) or a date such as 2025-01-31"
        ) from None


def _integer(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r"\s*\d{1,12}\s*", text):
            raise InvalidValue(f"expected a whole number from {minimum} to {maximum}")
        value = int(text)
        if not minimum <= value <= maximum:
            raise InvalidValue(f"expected a whole number from {minimum} to {maximum}")
        return value

    return parse


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise InvalidValue("expected true or false")


def _text(max_length: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > max_length:
            raise InvalidValue(f"expected at most {max_length} characters")
        if _CONTROL.search(text):
            raise InvalidValue("control characters are not allowed")
        return text

    return parse


def _choice(values: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in values:
            raise InvalidValue(f"expected one of {', '.join(values)}")
        return value

    return parse


def timestamp(name: str, description: str) -> Param:
    return Param(
        name,
        "query",
        description + " ISO 8601; without an offset the time is taken as UTC.",
        {
            "type": "string",
            "format": "date-time",
            "examples": ["2025-01-31T09:30:00+01:00", "2025-01-31T08:30:00Z"],
        },
        parse_timestamp,
    )


def integer(name: str, description: str, *, location: str = "query") -> Param:
    return Param(
        name,
        location,
        description,
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        _integer(1, MAX_ID),
    )


def boolean(name: str, description: str) -> Param:
    return Param(name, "query", description, {"type": "boolean"}, _boolean)


def text(name: str, description: str) -> Param:
    return Param(
        name,
        "query",
        description,
        {"type": "string", "maxLength": MAX_TEXT, "pattern": r"^[^\x00-\x1f\x7f]*$"},
        _text(MAX_TEXT),
    )


def choice(name: str, description: str, values: tuple[str, ...]) -> Param:
    return Param(
        name, "query", description, {"type": "string", "enum": list(values)}, _choice(values)
    )


def path_id(name: str, description: str) -> Param:
    return integer(name, description, location="path")


LIMIT = Param(
    "limit",
    "query",
    f"Items per page, at most {MAX_LIMIT}.",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    _integer(1, MAX_LIMIT),
    default=DEFAULT_LIMIT,
)

CURSOR = Param(
    "cursor",
    "query",
    "Where the page starts: the opaque value of the previous page's X-Next-Cursor header "
    "(the Link header's next URL carries it already). Leave it out for the first page.",
    {"type": "string", "maxLength": 512, "pattern": "^[A-Za-z0-9_-]+$"},
    _text(512),
)


def _idempotency_key(text: str) -> str:
    if len(text) > MAX_TEXT or not _PRINTABLE_ASCII.fullmatch(text):
        raise InvalidValue(f"expected at most {MAX_TEXT} printable ASCII characters")
    return text


IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    "Any unique string (a UUID, or the Zap's run id): a retried request with the same key "
    "returns the run the first request created instead of starting another. Empty is absent.",
    {"type": "string", "maxLength": MAX_TEXT, "pattern": r"^[\x20-\x7e]*$"},
    _idempotency_key,
    argument="idempotency_key",
)


def parse_params(params: tuple[Param, ...], args: Any, headers: Any) -> dict[str, Any]:
    """The typed query and header values a view receives, or a 400 naming every bad one.

    An empty value counts as absent: automation tools send ``since=`` when the
    field they map is empty. An unknown query parameter is refused, so that a
    misspelt filter is not silently ignored.
    """
    values: dict[str, Any] = {}
    known = {param.name for param in params if param.location == "query"}
    invalid = [{"name": name, "reason": "unknown parameter"} for name in args if name not in known]
    for param in params:
        if param.location == "path":
            continue
        if param.location == "header":
            given = [headers[param.name]] if param.name in headers else []
        else:
            given = args.getlist(param.name)
        if len(given) > 1:
            invalid.append({"name": param.name, "reason": "given more than once"})
            continue
        raw = given[0].strip() if given else ""
        if not raw:
            if param.required:
                invalid.append({"name": param.name, "reason": "required"})
            values[param.keyword] = param.default
            continue
        try:
            values[param.keyword] = param.parse(raw)
        except InvalidValue as exc:
            invalid.append({"name": param.name, "reason": str(exc)})
    if invalid:
        named = "; ".join(f"{item['name']}: {item['reason']}" for item in invalid)
        raise ProblemError(400, f"Invalid request parameters ({named}).", invalid_params=invalid)
    return values
