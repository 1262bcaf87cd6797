"""The ``$metadata`` document: CSDL XML built from the entity set declarations."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from xml.dom.minidom import Document, Element

from embedded_api.odata.entities import CONTAINER, ENTITY_SETS, NAMESPACE, EntitySet
from embedded_api.odata.filters import FUNCTIONS

EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"
CAPABILITIES = "Org.OData.Capabilities.V1"
CAPABILITIES_URI = (
    "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"
)


def _child(
    parent: Element | Document, tag: str, text: str | None = None, **attributes: str
) -> Element:
    document = parent if isinstance(parent, Document) else parent.ownerDocument
    element = document.createElement(tag)
    for name, value in attributes.items():
        element.setAttribute(name, value)
    if text is not None:
        element.appendChild(document.createTextNode(text))
    parent.appendChild(element)
    return element


def _annotation(parent: Element, term: str) -> Element:
    return _child(parent, "Annotation", Term=f"{CAPABILITIES}.{term}")


def _record_bool(parent: Element, term: str, prop: str, value: bool) -> None:
    record = _child(_annotation(parent, term), "Record")
    _child(record, "PropertyValue", Property=prop, Bool=str(value).lower())


def _entity_type(schema: Element, entity_set: EntitySet) -> None:
    entity_type = _child(schema, "EntityType", Name=entity_set.type_name)
    _child(_child(entity_type, "Key"), "PropertyRef", Name=entity_set.key.name)
    for prop in entity_set.properties:
        facets = {}
        if not prop.nullable:
            facets["Nullable"] = "false"
        if prop.max_length is not None:
            facets["MaxLength"] = str(prop.max_length)
        if prop.precision is not None:
            facets["Precision"] = str(prop.precision)
        if prop.scale is not None:
            facets["Scale"] = str(prop.scale)
        _child(entity_type, "Property", Name=prop.name, Type=prop.edm.value, **facets)
    for nav in entity_set.navigations:
        target = ENTITY_SETS[nav.target]
        via = entity_set.property(nav.via)
        assert via is not None
        facets = {} if via.nullable else {"Nullable": "false"}
        element = _child(
            entity_type,
            "NavigationProperty",
            Name=nav.name,
            Type=f"{NAMESPACE}.{target.type_name}",
            **facets,
        )
        _child(
            element,
            "ReferentialConstraint",
            Property=via.name,
            ReferencedProperty=target.key.name,
        )


def _container(schema: Element, entity_sets: Mapping[str, EntitySet]) -> None:
    container = _child(schema, "EntityContainer", Name=CONTAINER)
    for entity_set in entity_sets.values():
        element = _child(
            container,
            "EntitySet",
            Name=entity_set.name,
            EntityType=f"{NAMESPACE}.{entity_set.type_name}",
        )
        for nav in entity_set.navigations:
            _child(element, "NavigationPropertyBinding", Path=nav.name, Target=nav.target)
        # Tell clients up front what the feed does not do, rather than failing later.
        _record_bool(element, "InsertRestrictions", "Insertable", False)
        _record_bool(element, "UpdateRestrictions", "Updatable", False)
        _record_bool(element, "DeleteRestrictions", "Deletable", False)
        _record_bool(element, "ExpandRestrictions", "Expandable", False)
        _record_bool(element, "SearchRestrictions", "Searchable", False)
    functions = _child(_annotation(container, "FilterFunctions"), "Collection")
    for name in FUNCTIONS:
        _child(functions, "String", name)


@functools.cache
def metadata_document() -> bytes:
    """The CSDL XML of the whole service (it depends on nothing but the declarations)."""
    document = Document()
    root = _child(document, "edmx:Edmx", Version="4.0", **{"xmlns:edmx": EDMX_NS})
    reference = _child(root, "edmx:Reference", Uri=CAPABILITIES_URI)
    _child(reference, "edmx:Include", Namespace=CAPABILITIES, Alias="Capabilities")
    services = _child(root, "edmx:DataServices")
    schema = _child(services, "Schema", Namespace=NAMESPACE, xmlns=EDM_NS)
    for entity_set in ENTITY_SETS.values():
        _entity_type(schema, entity_set)
    _container(schema, ENTITY_SETS)
    return document.toxml(encoding="utf-8")
