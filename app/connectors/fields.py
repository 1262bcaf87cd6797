"""Connector settings declared as data, so the wizard and the CLI can render and
validate them without knowing the preset."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from app.connectors.errors import ConfigurationError


class FieldKind(enum.StrEnum):
    TEXT = "text"
    SECRET = "secret"  # noqa: S105 - a field kind, not a password
    URL = "url"
    NUMBER = "number"
    CHOICE = "choice"
    FILE = "file"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Field:
    """One setting of a connector."""

    name: str
    label: str
    kind: FieldKind = FieldKind.TEXT
    required: bool = False
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    # Shown only when another field has one of these values, e.g. the password
    # field only when auth is "basic": {"auth": ("basic",)}.
    visible_when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # A value the connector learns and stores itself (a pinned host key, an
    # OAuth token), not one the operator types.
    managed: bool = False

    @property
    def secret(self) -> bool:
        return self.kind is FieldKind.SECRET

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind.value,
            "required": self.required,
            "help": self.help,
            "default": self.default,
            "choices": list(self.choices),
            "visible_when": {k: list(v) for k, v in self.visible_when.items()},
            "managed": self.managed,
        }


def is_visible(spec: Field, values: Mapping[str, Any]) -> bool:
    return all(values.get(name) in allowed for name, allowed in spec.visible_when.items())


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(spec: Field, value: Any) -> Any:
    """Turn a typed-in value into the field's type; raise ValueError with a reason."""
    if spec.kind is FieldKind.NUMBER:
        if isinstance(value, bool):
            raise ValueError("must be a number")
        number = float(value)
        return int(number) if number.is_integer() else number
    if spec.kind is FieldKind.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("must be true or false")
    text = str(value).strip() if spec.kind is not FieldKind.SECRET else str(value)
    if spec.kind is FieldKind.CHOICE and text not in spec.choices:
        raise ValueError(f"must be one of {', '.join(spec.choices)}")
    if spec.kind is FieldKind.URL:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        text = text.rstrip("/")
    return text


def validate_config(fields: Iterable[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``values`` against ``fields``; returns them typed, with defaults filled.

    Unknown names are refused (a typo must not be silently ignored). Hidden
    fields (``visible_when`` not met) are neither required nor kept.

    Raises:
        ConfigurationError: with one message per bad field in ``fields``.
    """
    specs = {spec.name: spec for spec in fields}
    problems: dict[str, str] = {}
    for name in values:
        if name not in specs:
            problems[name] = "is not a setting of this connector"
    merged = {
        name: values.get(name, spec.default)
        for name, spec in specs.items()
        if values.get(name, spec.default) not in (None, "")
    }
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        if not is_visible(spec, merged):
            continue
        value = merged.get(name)
        if value is None:
            if spec.required and not spec.managed:
                problems[name] = "is required"
            continue
        try:
            out[name] = _coerce(spec, value)
        except ValueError as exc:
            problems[name] = str(exc)
    refuse_problems(specs.values(), problems)
    return out


def refuse_problems(fields: Iterable[Field], problems: Mapping[str, str]) -> None:
    """Raise one ConfigurationError naming each field's problem by its label; none: return."""
    if not problems:
        return
    labels = {spec.name: spec.label for spec in fields}
    summary = "; ".join(f"{labels.get(name, name)} {problem}" for name, problem in problems.items())
    raise ConfigurationError(f"Invalid settings: {summary}.", fields=dict(problems))


def client_credentials_fields(
    visible_when: Mapping[str, tuple[str, ...]], *, url_example: str = ""
) -> tuple[Field, ...]:
    """The settings of an OAuth 2.0 client-credentials grant: token URL, client, scope."""
    return (
        Field(
            "token_url",
            "Token URL",
            FieldKind.URL,
            required=True,
            help=url_example,
            visible_when=visible_when,
        ),
        Field("client_id", "Client ID", required=True, visible_when=visible_when),
        Field(
            "client_secret",
            "Client secret",
            FieldKind.SECRET,
            required=True,
            visible_when=visible_when,
        ),
        Field(
            "scope",
            "Scope",
            help="Space-separated scopes to ask for; empty asks for the client's default.",
            visible_when=visible_when,
        ),
    )


def secret_names(fields: Iterable[Field]) -> frozenset[str]:
    return frozenset(spec.name for spec in fields if spec.secret)
