"""The feed's HTTP side: service document, ``$metadata``, entity sets, entities, navigation."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy import Boolean, Connection, Select, func, select
from sqlalchemy.exc import DataError, DBAPIError

from app.store.db import Database
from embedded_api.auth import require_key
from embedded_api.odata import driver_values
from embedded_api.odata.entities import ENTITY_SETS, EntitySet, Property
from embedded_api.odata.errors import (
    ODATA_VERSION,
    BadRequest,
    NotFound,
    NotImplementedFeature,
    ODataError,
    install_error_handlers,
)
from embedded_api.odata.metadata import metadata_document
from embedded_api.odata.page_cache import Page, PageCache
from embedded_api.odata.paging import (
    after,
    decode_token,
    encode_token,
    fingerprint,
    page_size,
)
from embedded_api.odata.query import (
    QueryOptions,
    check_options,
    parse_format,
    parse_options,
    parse_select,
)
from embedded_api.odata.serialize import PageWriter

blueprint = Blueprint("odata", __name__, url_prefix="/odata")
install_error_handlers(blueprint)

# The application's PageCache of rendered collection pages (None: every page is built).
PAGE_CACHE = "ODATA_PAGE_CACHE"

# Every method reaches a view, so that writes get the feed's own 405 in OData form.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_authenticated = require_key("odata", allow_basic=True, allow_query=True)
_RESOURCE = re.compile(r"^(?P<set>[A-Za-z_]\w*)(?:\((?P<key>[^()]*)\))?(?:/(?P<segment>[^/]+))?/?$")
_KEY = re.compile(r"^\s*(?:(?P<name>\w+)\s*=\s*)?(?P<value>-?\d{1,18})\s*$")
_LINK_SAFE = "$'(),:*"


def _content_type(ieee754_compatible: bool = False) -> str:
    compatible = "true" if ieee754_compatible else "false"
    return (
        "application/json;odata.metadata=minimal;odata.streaming=true;"
        f"IEEE754Compatible={compatible};charset=utf-8"
    )


def _database() -> Database:
    return current_app.config["RUNTIME"].database


# What request.url_root is made of, after the trusted proxy headers were applied.
_ROOT_PARTS = ("wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME")


def service_root() -> str:
    """The feed's absolute root URL, on the public URL when one is configured."""
    public_url = current_app.config["RUNTIME"].config.public_url
    base = public_url or request.url_root.rstrip("/")
    return f"{base}{blueprint.url_prefix}/"


def _read_only() -> None:
    if request.method not in ("GET", "HEAD"):
        raise ODataError(
            405,
            "The OData feed is read-only; read it with GET.",
            headers={"Allow": "GET, HEAD"},
        )


def _respond(body: Any, *, ieee754_compatible: bool = False) -> Response:
    response = Response(body)
    response.headers["Content-Type"] = _content_type(ieee754_compatible)
    response.headers["OData-Version"] = ODATA_VERSION
    return response


@blueprint.route("", methods=METHODS, strict_slashes=False)
@blueprint.route("/", methods=METHODS)
@_authenticated
def service_document() -> Response:
    """The entity sets, for clients that start at the service root."""
    _read_only()
    check_options(request.args, allowed=("$format",))
    parse_format(request.args, request.headers.get("Accept"))
    root = service_root()
    sets = [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in ENTITY_SETS.values()]
    return _respond(current_app.json.dumps({"@odata.context": f"{root}$metadata", "value": sets}))


@blueprint.route("/$metadata", methods=METHODS)
@_authenticated
def metadata() -> Response:
    """The CSDL XML document (always XML, whatever the Accept header says)."""
    _read_only()
    check_options(request.args, allowed=("$format",))
    requested = request.args.get("$format", "xml").split(";", 1)[0].strip().lower()
    if requested not in ("xml", "application/xml"):
        raise ODataError(
            406, "$metadata is available as XML only ($format=xml).", code="NotAcceptable"
        )
    response = Response(metadata_document())
    response.headers["Content-Type"] = "application/xml;charset=utf-8"
    response.headers["OData-Version"] = ODATA_VERSION
    return response


@blueprint.route("/<path:resource>", methods=METHODS)
@_authenticated
def resource(resource: str) -> Response:
    """An entity set, one entity by key, its navigation target, or a set's ``$count``."""
    _read_only()
    if resource.startswith("$"):
        name = resource.partition("/")[0]
        raise NotImplementedFeature(f"{name} is not supported by this feed.")
    match = _RESOURCE.match(resource)
    entity_set = ENTITY_SETS.get(match.group("set")) if match else None
    if match is None or entity_set is None:
        raise NotFound(
            f"No resource {resource!r}; the entity sets are {', '.join(ENTITY_SETS)} "
            "(names are case-sensitive)."
        )
    key_text, segment = match.group("key"), match.group("segment")
    if key_text is None:
        if segment is None:
            return _collection(entity_set)
        if segment == "$count":
            return _count(entity_set)
        raise NotFound(f"No resource {resource!r}: {segment} needs an entity, such as Series(1).")
    key = _parse_key(entity_set, key_text)
    if segment is None:
        return _entity(entity_set, key)
    return _navigate(entity_set, key, segment)


def _parse_key(entity_set: EntitySet, text: str) -> int:
    match = _KEY.match(text)
    if match is None or match.group("name") not in (None, entity_set.key.name):
        raise BadRequest(
            f"{entity_set.name}({text}) is not a valid key; use a number, such as "
            f"{entity_set.name}(1) or {entity_set.name}({entity_set.key.name}=1)."
        )
    return int(match.group("value"))


def _columns(props: Iterable[Property]) -> list[Any]:
    seen: dict[str, Property] = {}
    for prop in props:
        seen.setdefault(prop.name, prop)
    return [prop.column.label(name) for name, prop in seen.items()]


def _scope(entity_set: EntitySet, options: QueryOptions | None = None) -> list[Any]:
    in_scope: Any = entity_set.in_scope(g.principal.organisation_id)
    if _database().engine.dialect.name == "sqlite":
        # Without statistics SQLite takes a workspace for a few rows, reads all
        # of its rows through the workspace index and sorts them for every page.
        # Told that most rows are in scope, it walks the key's index instead and
        # stops after a page. (PostgreSQL's statistics lead it there by itself.)
        in_scope = func.likely(in_scope, type_=Boolean)
    conditions = [in_scope]
    if options is not None and options.where is not None:
        conditions.append(options.where)
    return conditions


@contextlib.contextmanager
def _connection() -> Iterator[Connection]:
    try:
        with _database().engine.connect() as connection:
            yield connection
    except DataError as exc:
        # PostgreSQL refuses some arithmetic ($filter=Horizon div 0 eq 1); SQLite gives null.
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise BadRequest(f"The query cannot be evaluated: {reason}", target="$filter") from None
    except OverflowError:
        # SQLite's driver cannot bind an integer beyond 64 bits (eq 9223372036854775808).
        raise BadRequest(
            "A number in the query is too large for any column.", target="$filter"
        ) from None


def _rows(statement: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them (see ``driver_values``)."""
    with _connection() as connection:
        result = connection.execute(statement)
        driver_error = connection.dialect.loaded_dbapi.Error
        try:
            return list(result.cursor.fetchall())
        except driver_error as exc:
            # Raised as SQLAlchemy raises it, so that the handlers know it (DataError, 503s).
            raise DBAPIError.instance(None, None, exc, driver_error) from exc
        finally:
            result.close()


def _total(entity_set: EntitySet, options: QueryOptions) -> int:
    statement = (
        select(func.count()).select_from(entity_set.source).where(*_scope(entity_set, options))
    )
    with _connection() as connection:
        return int(connection.execute(statement).scalar_one())


def _context(entity_set: EntitySet, options_select: str | None, props: Sequence[Property]) -> str:
    selection = ""
    if options_select is not None and props != entity_set.properties:
        selection = "(" + ",".join(p.name for p in props) + ")"
    return f"{service_root()}$metadata#{entity_set.name}{selection}"


def _query_print(entity_set: EntitySet, options: QueryOptions) -> str:
    order = ",".join(
        f"{o.prop.name} {'desc' if o.descending else 'asc'}" for o in options.orderings
    )
    return fingerprint(entity_set.name, options.filter_text, order)


def _next_link(entity_set: EntitySet, remaining_top: int | None, token: str) -> str:
    # The client's other options (and custom ones such as api_key, for clients
    # that follow links verbatim) carry over; $skip was spent on the first page.
    params = [
        (name, value)
        for name, value in request.args.items(multi=True)
        if name not in ("$skiptoken", "$skip", "$top")
    ]
    if remaining_top is not None:
        params.append(("$top", str(remaining_top)))
    params.append(("$skiptoken", token))
    query = urlencode(params, quote_via=quote, safe=_LINK_SAFE)
    return f"{service_root()}{entity_set.name}?{query}"


def _collection(entity_set: EntitySet) -> Response:
    cache: PageCache | None = current_app.config.get(PAGE_CACHE)
    if cache is None:
        return _page_response(_build_page(entity_set))
    # The request as received, with the caller's scope: a page answered once
    # for these is the same page while the store is unchanged. The service
    # root's parts stand for the root itself, which is dearer to work out.
    environ = request.environ
    key = (
        g.principal.organisation_id,
        *(environ.get(name) for name in _ROOT_PARTS),
        entity_set.name,
        environ.get("QUERY_STRING", ""),
        environ.get("HTTP_ACCEPT"),
        environ.get("HTTP_PREFER"),
    )
    page, version = cache.lookup(key)
    if page is None:
        page = _build_page(entity_set)
        cache.keep(key, version, page)
    return _page_response(page)


def _page_response(page: Page) -> Response:
    return Response(page.body, headers=page.headers)


def _build_page(entity_set: EntitySet) -> Page:
    dialect = _database().engine.dialect.name
    options = parse_options(entity_set, request.args, dialect, request.headers.get("Accept"))
    size, applied = page_size(request.headers.get("Prefer"))
    query_print = _query_print(entity_set, options)
    continuation = (
        decode_token(options.skiptoken, options.orderings, query_print)
        if options.skiptoken
        else None
    )
    limit = size if options.top is None else min(size, options.top)
    count = None
    if options.count:
        if continuation is not None and continuation.count is not None:
            count = continuation.count
        else:
            count = _total(entity_set, options)
    rows: Sequence[tuple[Any, ...]] = []
    columns = _columns([*options.select, *(o.prop for o in options.orderings)])
    if limit > 0:
        statement = (
            select(*columns)
            .select_from(entity_set.source)
            .where(*_scope(entity_set, options))
            .order_by(*(o.clause() for o in options.orderings))
            .limit(limit + 1)
        )
        if continuation is not None:
            statement = statement.where(after(options.orderings, continuation.values))
        if options.skip:
            statement = statement.offset(options.skip)
        rows = _rows(statement)
    more = len(rows) > limit
    rows = rows[:limit]
    remaining_top = None if options.top is None else options.top - len(rows)
    control: dict[str, Any] = {
        "@odata.context": _context(entity_set, options.select_text, options.select)
    }
    if count is not None:
        control["@odata.count"] = count
    if more and (remaining_top is None or remaining_top > 0):
        last = dict(zip((column.name for column in columns), rows[-1], strict=True))
        sort_values = {
            o.prop.name: driver_values.value(o.prop, last[o.prop.name], dialect)
            for o in options.orderings
        }
        token = encode_token(options.orderings, sort_values, query_print, count)
        control["@odata.nextLink"] = _next_link(entity_set, remaining_top, token)
    writer = PageWriter(
        options.select, dialect, ieee754_compatible=options.format.ieee754_compatible
    )
    headers = [
        ("Content-Type", _content_type(options.format.ieee754_compatible)),
        ("OData-Version", ODATA_VERSION),
    ]
    if applied:
        headers.append(("Preference-Applied", f"odata.maxpagesize={size}"))
    return Page(writer.collection(control, rows), tuple(headers))


def _count(entity_set: EntitySet) -> Response:
    database = _database()
    options = parse_options(
        entity_set, request.args, database.engine.dialect.name, request.headers.get("Accept")
    )
    response = Response(str(_total(entity_set, options)))
    response.headers["Content-Type"] = "text/plain;charset=utf-8"
    response.headers["OData-Version"] = ODATA_VERSION
    return response


def _entity(entity_set: EntitySet, key: int) -> Response:
    check_options(request.args, allowed=("$select", "$format"))
    output = parse_format(request.args, request.headers.get("Accept"))
    select_text = request.args.get("$select")
    props = parse_select(entity_set, select_text)
    statement = (
        select(*_columns(props))
        .select_from(entity_set.source)
        .where(*_scope(entity_set), entity_set.key.column == key)
    )
    found = _rows(statement)
    if not found:
        raise NotFound(f"No {entity_set.type_name} with key {key} in {entity_set.name}.")
    control = {"@odata.context": _context(entity_set, select_text, props) + "/$entity"}
    writer = PageWriter(
        props, _database().engine.dialect.name, ieee754_compatible=output.ieee754_compatible
    )
    return _respond(writer.entity(control, found[0]), ieee754_compatible=output.ieee754_compatible)


def _navigate(entity_set: EntitySet, key: int, segment: str) -> Response:
    navigation = entity_set.navigation(segment)
    if navigation is None:
        if entity_set.property(segment) is not None:
            raise NotImplementedFeature(
                f"Property paths are not supported; use {entity_set.name}({key})?$select={segment}."
            )
        raise NotFound(f"{entity_set.type_name} has no navigation property {segment!r}.")
    via = entity_set.property(navigation.via)
    assert via is not None
    found = _rows(
        select(via.column.label(via.name))
        .select_from(entity_set.source)
        .where(*_scope(entity_set), entity_set.key.column == key)
    )
    if not found:
        raise NotFound(f"No {entity_set.type_name} with key {key} in {entity_set.name}.")
    target_key = found[0][0]
    if target_key is None:
        check_options(request.args, allowed=("$select", "$format"))
        response = Response(status=204)
        del response.headers["Content-Type"]
        response.headers["OData-Version"] = ODATA_VERSION
        return response
    return _entity(ENTITY_SETS[navigation.target], int(target_key))
