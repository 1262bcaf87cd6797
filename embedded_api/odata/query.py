"""System query options: read, checked, and turned into parts of one SQL query.

Every option the feed does not implement is refused (501) and every malformed
or unknown one is a 400: a client never gets an answer to a question it did
not ask. Custom options (no ``$``), such as ``api_key``, are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from werkzeug.datastructures import MultiDict

from embedded_api.odata.entities import EntitySet, Property
from embedded_api.odata.errors import BadRequest, NotImplementedFeature, ODataError
from embedded_api.odata.filters import filter_predicate
from embedded_api.odata.paging import Ordering

SUPPORTED = ("$filter", "$select", "$orderby", "$top", "$skip", "$count", "$skiptoken", "$format")
NOT_IMPLEMENTED: Mapping[str, str] = {
    "$expand": (
        "$expand is not supported: read the related set and join on its key "
        "(for example Forecasts with SeriesId against Series with Id)."
    ),
    "$search": "$search is not supported; use $filter with contains().",
    "$apply": "$apply (aggregation) is not supported; aggregate in the BI tool.",
    "$compute": "$compute is not supported.",
    "$levels": "$levels is not supported.",
    "$index": "$index is not supported.",
    "$schemaversion": "$schemaversion is not supported.",
    "$deltatoken": "Delta links are not supported.",
    "$id": "$id is not supported.",
}
_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_]\w*)(?:\s+(asc|desc))?\s*$")
_JSON_FORMATS = ("json", "application/json")
# Beyond this $top and $skip would overflow the store's 64-bit LIMIT and OFFSET.
_MAX_DIGITS = 18


@dataclass(frozen=True)
class Format:
    """What the client asked of the JSON: IEEE754Compatible numbers or not."""

    ieee754_compatible: bool = False


@dataclass(frozen=True)
class QueryOptions:
    """The checked system query options of one request."""

    where: ColumnElement[bool] | None
    filter_text: str | None
    select: tuple[Property, ...]
    select_text: str | None
    orderings: tuple[Ordering, ...]
    orderby_text: str | None
    top: int | None
    skip: int
    count: bool
    skiptoken: str | None
    format: Format


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise BadRequest(f"{name} may be given only once.", target=name)
    return values[0] if values else None


def check_options(args: MultiDict[str, str], allowed: Sequence[str] = SUPPORTED) -> None:
    """Refuse system query options that are unknown, unsupported or not allowed here."""
    for name in args:
        if name.startswith("@"):
            raise NotImplementedFeature("Parameter aliases (@name) are not supported.", target=name)
        if not name.startswith("$"):
            continue
        if name in NOT_IMPLEMENTED:
            raise NotImplementedFeature(NOT_IMPLEMENTED[name], target=name)
        if name not in SUPPORTED:
            known = {option.lower(): option for option in SUPPORTED}
            hint = f" Did you mean {known[name.lower()]}?" if name.lower() in known else ""
            raise BadRequest(f"Unknown system query option {name}.{hint}", target=name)
        if name not in allowed:
            raise BadRequest(f"{name} does not apply to this resource.", target=name)
        _single(args, name)


def parse_format(args: MultiDict[str, str], accept: str | None) -> Format:
    """Check ``$format`` (JSON only) and read IEEE754Compatible from it or from Accept."""
    value = _single(args, "$format")
    requested = value if value is not None else ""
    if value is not None:
        media = value.split(";", 1)[0].strip().lower()
        if media not in _JSON_FORMATS:
            raise ODataError(
                406,
                f"$format={value} is not available; this feed answers in JSON ($format=json).",
                code="NotAcceptable",
                target="$format",
            )
    else:
        requested = accept or ""
    compatible = "ieee754compatible=true" in requested.replace(" ", "").lower()
    return Format(ieee754_compatible=compatible)


def _non_negative(args: MultiDict[str, str], name: str) -> int | None:
    value = _single(args, name)
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequest(f"{name} must be a whole number of 0 or more; got {value!r}.", target=name)
    if len(value) > _MAX_DIGITS:
        raise BadRequest(f"{name} is too large.", target=name)
    return int(value)


def _property(entity_set: EntitySet, name: str, option: str) -> Property:
    prop = entity_set.property(name)
    if prop is not None:
        return prop
    if entity_set.navigation(name) is not None:
        raise NotImplementedFeature(
            f"{option} cannot use the navigation property {name}.", target=option
        )
    known = {p.name.lower(): p.name for p in entity_set.properties}
    hint = f" Did you mean {known[name.lower()]}?" if name.lower() in known else ""
    raise BadRequest(f"{entity_set.name} has no property {name!r}.{hint}", target=option)


def parse_select(entity_set: EntitySet, text: str | None) -> tuple[Property, ...]:
    """The selected properties, in declaration order; all of them for none or ``*``."""
    if text is None or text.strip() in ("", "*"):
        return entity_set.properties
    chosen: set[str] = set()
    for item in text.split(","):
        name = item.strip()
        if name == "*":
            return entity_set.properties
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise NotImplementedFeature(
                f"$select supports property names only; {name!r} is not one.", target="$select"
            )
        chosen.add(_property(entity_set, name, "$select").name)
    return tuple(p for p in entity_set.properties if p.name in chosen)


def parse_orderby(entity_set: EntitySet, text: str | None) -> tuple[Ordering, ...]:
    """The sort keys, always ending with the entity key so that the order is total."""
    orderings: list[Ordering] = []
    for item in (text or "").split(","):
        if not item.strip() and text is not None and text.strip():
            raise BadRequest("$orderby has an empty item.", target="$orderby")
        if not item.strip():
            continue
        match = _ORDER_ITEM.match(item)
        if match is None:
            raise NotImplementedFeature(
                f"$orderby supports property names with asc or desc only; got {item.strip()!r}.",
                target="$orderby",
            )
        prop = _property(entity_set, match.group(1), "$orderby")
        if any(o.prop.name == prop.name for o in orderings):
            raise BadRequest(f"$orderby names {prop.name} twice.", target="$orderby")
        orderings.append(Ordering(prop, descending=match.group(2) == "desc"))
    if not any(o.prop.name == entity_set.key.name for o in orderings):
        orderings.append(Ordering(entity_set.key))
    else:
        # Nothing after the key can change the order; keep the keyset short.
        cut = next(i for i, o in enumerate(orderings) if o.prop.name == entity_set.key.name)
        orderings = orderings[: cut + 1]
    return tuple(orderings)


def parse_count(args: MultiDict[str, str]) -> bool:
    value = _single(args, "$count")
    if value is None:
        return False
    if value not in ("true", "false"):
        raise BadRequest(f"$count must be true or false; got {value!r}.", target="$count")
    return value == "true"


def parse_options(
    entity_set: EntitySet, args: MultiDict[str, str], dialect: str, accept: str | None = None
) -> QueryOptions:
    """Every system query option of a collection request, checked."""
    check_options(args)
    filter_text = _single(args, "$filter")
    if filter_text is not None and not filter_text.strip():
        raise BadRequest("$filter is empty.", target="$filter")
    select_text = _single(args, "$select")
    orderby_text = _single(args, "$orderby")
    skiptoken = _single(args, "$skiptoken")
    if skiptoken is not None and not skiptoken:
        raise BadRequest("$skiptoken is empty.", target="$skiptoken")
    return QueryOptions(
        where=filter_predicate(entity_set, filter_text, dialect) if filter_text else None,
        filter_text=filter_text,
        select=parse_select(entity_set, select_text),
        select_text=select_text,
        orderings=parse_orderby(entity_set, orderby_text),
        orderby_text=orderby_text,
        top=_non_negative(args, "$top"),
        skip=_non_negative(args, "$skip") or 0,
        count=parse_count(args),
        skiptoken=skiptoken,
        format=parse_format(args, accept),
    )
