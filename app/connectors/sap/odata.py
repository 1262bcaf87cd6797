"""What both SAP services share: OData v2 values and envelopes, ``$metadata`` and errors.

- ``/Date(...)/``: OData v2 JSON writes ``Edm.DateTime`` as
  ``/Date(<milliseconds since 1970 UTC>)/`` and ``Edm.DateTimeOffset`` with an
  offset in minutes, ``/Date(1492041600000+0000)/``. :func:`parse_v2_date`
  reads both; :func:`iso_values` rewrites them as ISO 8601 text in a record,
  which the field mapping's ``date`` transform reads.
- Envelopes: a v2 collection is ``{"d": {"results": [...], "__next": url,
  "__count": "n"}}`` (``__count`` with ``$inlinecount=allpages``); every entity
  carries a ``__metadata`` object and unexpanded navigation properties a
  ``__deferred`` one, both dropped here.
- ``$metadata``: :func:`parse_metadata` reads a CSDL document of any OData
  version (EDMX v1 of S/4HANA with its ``sap:`` annotations, the Service
  Layer's v3 and v4 documents): entity and complex types with their
  properties' EDM types and labels, enumerations, entity sets.
- Errors: both services answer ``{"error": {"code": ..., "message": {"lang",
  "value"}}}``; :func:`sap_error` reads it.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from app.connectors.errors import SourceDataError
from app.connectors.http import MAX_MESSAGE
from app.redaction import mask_text

# Milliseconds since 1970-01-01T00:00:00Z, then an optional offset in minutes.
_V2_DATE = re.compile(r"^/Date\((-?\d{1,15})(?:([+-])(\d{1,4}))?\)/$")
_EPOCH = dt.datetime(1970, 1, 1)
_SAP_NS = "http://www.sap.com/Protocols/SAPData"
_KINDS = {
    "Edm.String": "string",
    "Edm.Guid": "string",
    "Edm.Boolean": "boolean",
    "Edm.Byte": "integer",
    "Edm.SByte": "integer",
    "Edm.Int16": "integer",
    "Edm.Int32": "integer",
    "Edm.Int64": "integer",
    "Edm.Decimal": "decimal",
    "Edm.Double": "decimal",
    "Edm.Single": "decimal",
    "Edm.Date": "date",
    "Edm.DateTime": "datetime",
    "Edm.DateTimeOffset": "datetime",
}


# -- values ------------------------------------------------------------------


def parse_v2_date(value: Any) -> dt.datetime | None:
    """The datetime of an OData v2 ``/Date(...)/`` value; None for anything else.

    Without an offset (``Edm.DateTime``) the result is naive, as the source
    meant it; with one (``Edm.DateTimeOffset``) it is aware, in that offset.
    """
    if not isinstance(value, str):
        return None
    match = _V2_DATE.match(value.strip())
    if match is None:
        return None
    millis, sign, minutes = match.groups()
    try:
        moment = _EPOCH + dt.timedelta(milliseconds=int(millis))
    except OverflowError:
        return None
    if sign is None:
        return moment
    offset = int(minutes) * (-1 if sign == "-" else 1)
    if abs(offset) >= 24 * 60:
        return None
    return moment.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(minutes=offset)))


def v2_date_literal(moment: dt.datetime) -> str:
    """A ``datetimeoffset'...'`` literal for a v2 ``$filter``: UTC, seconds, ``Z``."""
    return f"datetimeoffset'{moment.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def iso_values(value: Any) -> Any:
    """``value`` with every ``/Date(...)/`` string, however deep, rewritten as ISO 8601."""
    if isinstance(value, str):
        moment = parse_v2_date(value)
        return moment.isoformat() if moment is not None else value
    if isinstance(value, Mapping):
        return {key: iso_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [iso_values(item) for item in value]
    return value


# -- v2 envelopes ------------------------------------------------------------


@dataclass(frozen=True)
class V2Collection:
    """One response of a v2 collection: its entities, the next link, the count."""

    results: list[dict[str, Any]]
    next: str | None
    count: int | None


def v2_collection(body: Any, source: str) -> V2Collection:
    """The entities of a v2 JSON collection response, without ``__metadata``.

    Raises:
        SourceDataError: the body is not a v2 collection.
    """
    data = body.get("d") if isinstance(body, Mapping) else None
    results = data.get("results") if isinstance(data, Mapping) else None
    if not isinstance(results, list):
        members = ", ".join(list(body)[:10]) if isinstance(body, Mapping) else type(body).__name__
        raise SourceDataError(
            f'{source} answered without an OData v2 collection ({{"d": {{"results": [...]}}}}); '
            f"members: {members or 'none'}."
        )
    following = data.get("__next")
    if following is not None and not isinstance(following, str):
        raise SourceDataError(f"{source} sent a __next link that is not a URL.")
    count = data.get("__count")
    try:
        total = int(count) if count is not None else None
    except (TypeError, ValueError):
        total = None
    return V2Collection(
        [strip_v2(row) for row in results if isinstance(row, Mapping)], following or None, total
    )


def strip_v2(entity: Mapping[str, Any]) -> dict[str, Any]:
    """An entity without ``__metadata``, with expanded collections as plain lists.

    Unexpanded navigation properties (``{"__deferred": ...}``) are left out.
    """
    out: dict[str, Any] = {}
    for key, value in entity.items():
        if key == "__metadata":
            continue
        if isinstance(value, Mapping):
            if "__deferred" in value:
                continue
            if isinstance(value.get("results"), list):
                out[key] = [strip_v2(v) for v in value["results"] if isinstance(v, Mapping)]
            else:
                out[key] = strip_v2(value)
        else:
            out[key] = value
    return out


# -- $metadata ---------------------------------------------------------------


@dataclass(frozen=True)
class EdmProperty:
    """A property of an entity or complex type, as ``$metadata`` declares it."""

    name: str
    edm_type: str
    label: str | None = None
    # SAP's sap:display-format: "Date" marks an Edm.DateTime that holds a date.
    display_format: str | None = None

    @property
    def collection_of(self) -> str | None:
        """The element type of a ``Collection(...)`` property."""
        if self.edm_type.startswith("Collection(") and self.edm_type.endswith(")"):
            return self.edm_type[len("Collection(") : -1]
        return None


@dataclass(frozen=True)
class StructuredType:
    """An entity or complex type: its properties and navigation property names."""

    name: str
    properties: tuple[EdmProperty, ...]
    navigation: tuple[str, ...] = ()


@dataclass
class EdmModel:
    """The types of a ``$metadata`` document, by qualified, aliased and plain name."""

    types: dict[str, StructuredType] = field(default_factory=dict)
    enums: set[str] = field(default_factory=set)
    entity_sets: dict[str, str] = field(default_factory=dict)

    def type(self, name: str) -> StructuredType | None:
        return self.types.get(name)

    def set_type(self, entity_set: str) -> StructuredType | None:
        """The entity type of an entity set."""
        qualified = self.entity_sets.get(entity_set)
        return self.types.get(qualified) if qualified else None

    def kind(self, prop: EdmProperty) -> str:
        """string, integer, decimal, date, datetime, boolean or other."""
        if prop.edm_type in self.enums:
            return "string"  # enumeration members are sent as their names
        if prop.edm_type == "Edm.DateTime" and (prop.display_format or "").lower() == "date":
            return "date"
        return _KINDS.get(prop.edm_type, "other")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_metadata(document: str | bytes, source: str) -> EdmModel:
    """The types and entity sets of a CSDL ``$metadata`` document of any OData version.

    Raises:
        SourceDataError: the document is not CSDL XML.
    """
    try:
        # The service's own metadata; expat (2.4.1 and later) refuses entity
        # expansion attacks and no external entity is ever fetched.
        root = ET.fromstring(document)  # noqa: S314
    except ET.ParseError as exc:
        raise SourceDataError(
            f"{source} sent a $metadata document that is not XML ({exc})."
        ) from None
    model = EdmModel()
    for schema in (el for el in root.iter() if _local(el.tag) == "Schema"):
        prefixes = [p for p in (schema.get("Namespace"), schema.get("Alias")) if p]
        for child in schema:
            kind, name = _local(child.tag), child.get("Name")
            if not name:
                continue
            names = [name, *(f"{prefix}.{name}" for prefix in prefixes)]
            if kind == "EnumType":
                model.enums.update(f"{prefix}.{name}" for prefix in prefixes)
            elif kind in ("EntityType", "ComplexType"):
                built = _structured(child, name)
                for key in names:
                    model.types[key] = built
            elif kind == "EntityContainer":
                for entity_set in child:
                    if _local(entity_set.tag) == "EntitySet" and entity_set.get("Name"):
                        model.entity_sets[str(entity_set.get("Name"))] = str(
                            entity_set.get("EntityType")
                        )
    if not model.types:
        raise SourceDataError(f"{source} sent a $metadata document without entity types.")
    return model


def _structured(element: ET.Element, name: str) -> StructuredType:
    properties = []
    navigation = []
    for child in element:
        kind = _local(child.tag)
        if kind == "Property" and child.get("Name"):
            properties.append(
                EdmProperty(
                    str(child.get("Name")),
                    str(child.get("Type") or ""),
                    child.get(f"{{{_SAP_NS}}}label"),
                    child.get(f"{{{_SAP_NS}}}display-format"),
                )
            )
        elif kind == "NavigationProperty" and child.get("Name"):
            navigation.append(str(child.get("Name")))
    return StructuredType(name, tuple(properties), tuple(navigation))


# -- errors ------------------------------------------------------------------


def sap_error(response: requests.Response) -> tuple[str | None, str | None]:
    """The ``(code, message)`` of an SAP error body; ``(None, None)`` without one.

    The message is the service's own ``message.value`` (or a plain ``message``),
    on one line, shortened and masked.
    """
    try:
        body = response.json()
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    message = error.get("message")
    if isinstance(message, Mapping):
        message = message.get("value")
    text = " ".join(str(message or "").split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    code = error.get("code")
    return (mask_text(str(code)) if code not in (None, "") else None), (
        mask_text(text) if text else None
    )
