"""SAP presets: S/4HANA's sales order OData v2 API and Business One's Service Layer.

Both speak OData, in different dialects: S/4HANA answers OData v2 JSON
(``{"d": {"results": [...], "__next": ...}}``, ``/Date(...)/`` values) behind
Basic or OAuth client-credentials auth; the Service Layer answers OData v3/v4
JSON (``value``, ``odata.nextLink``) behind a session cookie from ``Login``.
The shared pieces are the error bodies, the ``$metadata`` documents and the
date formats (:mod:`.odata`) and the HTTP client's SAP messages and TLS
settings (:mod:`.client`).
"""
