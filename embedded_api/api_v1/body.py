"""JSON request bodies: their schema and their checks, declared together."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import request

from embedded_api.problems import ProblemError

JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class IntegerField:
    """An optional whole-number member of a body."""

    name: str
    description: str
    minimum: int
    maximum: int

    def schema(self) -> dict[str, Any]:
        return {
            "type": ["integer", "null"],
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }

    def parse(self, value: Any) -> int:
        """The whole number; 4.0 is one (as JSON Schema says), true is not (bool is an int)."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int or not self.minimum <= value <= self.maximum:
            raise ValueError(f"expected a whole number from {self.minimum} to {self.maximum}")
        return value


@dataclass(frozen=True)
class JsonBody:
    """A JSON object body whose members are all optional; unknown members are refused."""

    name: str
    description: str
    fields: tuple[IntegerField, ...]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "description": self.description,
            "properties": {f.name: f.schema() for f in self.fields},
            "additionalProperties": False,
        }

    def parse(self) -> dict[str, Any]:
        """The body's members by name (absent ones as None); an empty body is an empty object."""
        content_type = request.mimetype
        data = request.get_data(cache=True)  # enforces MAX_CONTENT_LENGTH (413)
        is_json = content_type in JSON_TYPES or content_type.endswith("+json")
        if content_type and not is_json and data:
            raise ProblemError(
                415,
                f"Send the body as application/json, not {content_type}.",
                headers={"Accept-Post": "application/json"},
            )
        values: dict[str, Any] = dict.fromkeys((f.name for f in self.fields), None)
        if not data.strip():
            return values
        try:
            body = json.loads(data)
        except (ValueError, RecursionError):
            raise ProblemError(400, "The body is not valid JSON.") from None
        if not isinstance(body, Mapping):
            raise ProblemError(400, "The body must be a JSON object.")
        known = {f.name: f for f in self.fields}
        invalid = [
            {"name": str(name), "reason": "unknown member"} for name in body if name not in known
        ]
        for name, value in body.items():
            field = known.get(name)
            if field is None or value is None:
                continue
            try:
                values[name] = field.parse(value)
            except ValueError as exc:
                invalid.append({"name": name, "reason": str(exc)})
        if invalid:
            named = "; ".join(f"{item['name']}: {item['reason']}" for item in invalid)
            raise ProblemError(400, f"Invalid body ({named}).", invalid_params=invalid)
        return values
