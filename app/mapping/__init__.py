"""Field mappings: turning source records into canonical demand lines.

A mapping is plain JSON, stored per connector and shipped as the presets'
defaults under ``resources/mappings/``::

    {
      "columns": {
        "order_id":   {"path": "id"},
        "line_id":    {"path": "line_items[].id"},
        "order_date": {"path": "created_at",
                       "transforms": [{"type": "date", "timezone": "Europe/Berlin"}]},
        "sku":        {"path": "line_items[].sku", "transforms": [{"type": "strip"}]},
        "quantity":   {"path": "line_items[].quantity",
                       "transforms": [{"type": "decimal"},
                                      {"type": "multiply", "by": -1,
                                       "when": {"path": "kind", "in": ["refund"]}}]},
        "currency":   {"const": "EUR"},
        "product_name": {"concat": ["line_items[].title", "line_items[].variant_title"],
                         "separator": " - "},
        "status":     {"path": "financial_status",
                       "transforms": [{"type": "map", "values": {"paid": "fulfilled"},
                                       "default": "open"}]},
        "location":   {"path": "location_id", "default": "default"}
      }
    }

Columns are those of ``app.canonical``; every required one must be mapped.

Paths
    Keys separated by dots: ``customer.id``. A number is an index into a list
    (``items.0.sku``, or ``items[0].sku``; ``[-1]`` is the last item); on an
    object it reads the key of that name. A key holding anything other than
    letters, digits, ``_`` and ``-`` may be written in brackets as a JSON
    string, and must be when it contains ``.``, ``[``, ``]`` or ``"`` or has
    spaces at its ends: ``["Unit Price"]``, ``order["ship.to"].city``,
    ``["say \\"hi\\""]``. (Inner spaces are also fine unquoted: ``Unit Price``.)

    ``[]`` expands a list: the record gives one row per item. Every path with
    ``[]`` must expand the same list (``line_items[]``), or a list inside its
    items (``lines[].lots[].qty``: one row per lot of each line); paths without
    ``[]`` are repeated on each row. A missing, null or empty list gives no
    rows; an object where a list was expected counts as a list of one; any other
    value gives one row whose expanded cells say what was found.

Column sources
    Exactly one of ``path``, ``const`` (a fixed value) and ``concat`` (a list
    of paths joined with ``separator``, default ``""``; missing parts are left
    out). ``default`` stands in for a value that is missing, null or blank,
    before the transforms, which apply to it as to any source value.

Transforms (``type``), in order; a missing value passes through untouched
    - ``date``: ``format`` ``"iso"`` (default), ``"epoch"``, ``"epoch_ms"`` or a
      strptime format (``"%d.%m.%Y"``); ``timezone`` (IANA name) is the zone of
      values without an offset, and values with one are converted to it before
      the date is taken (23:30 UTC is the next day in Europe/Berlin). Without a
      zone, a value with an offset keeps its own calendar date, and a naive one
      is read as UTC for ``source_updated_at``. Only for date and timestamp
      columns.
    - ``decimal``: a number from text; ``decimal_comma: true`` reads
      ``1.234,50``, otherwise ``1,234.50``. Currency symbols and codes, spaces,
      accounting parentheses and trailing minus signs are understood; thousands
      groups must have three digits, so ambiguous text is refused.
    - ``multiply`` (``by``: a number) and ``negate``, each with an optional
      ``when``: ``{"path": ..., "in": [...]}`` or ``{"path": ..., "equals": ...}``,
      read on the same (expanded) row and compared as text, ignoring case and
      surrounding spaces (``null`` matches a missing value).
    - ``map``: ``values`` from source text to canonical value, optional
      ``default``; an exact match wins, then one ignoring case. Without a
      default, an unmapped value is an error that names it.
    - ``strip`` (optional ``chars`` to strip as well as spaces), ``lower``,
      ``upper``, ``prefix`` and ``suffix`` (``value``), ``split``
      (``separator``, ``index``, default 0; a part that is not there is missing).

Canonical types, after the transforms
    Text is trimmed and limited to its column's length; whole numbers lose
    ``.0``. Dates read ISO text; decimals read numbers and numeric text (with a
    decimal point) up to 14 digits before the point; timestamps become aware
    UTC. ``currency`` is upper-cased and must have three letters; ``status``
    must be one of ``open``, ``fulfilled``, ``cancelled``, ``refunded``;
    ``location`` is ``default`` when missing.

Use :func:`validate_mapping` once, then :func:`apply_mapping` per record: it
never raises for bad data, but reports each bad cell in ``MappedRow.errors``.
:func:`discover_fields` and :func:`suggest_mapping` help the mapping wizard
start from a sample, and :func:`preview_rows` shows the result.
"""

from app.mapping.apply import MappedRow, apply_mapping, preview_rows
from app.mapping.discovery import FieldInfo, discover_fields
from app.mapping.errors import MappingError
from app.mapping.spec import Mapping, validate_mapping
from app.mapping.suggest import suggest_mapping
from app.mapping.transforms import TRANSFORM_TYPES

__all__ = [
    "TRANSFORM_TYPES",
    "FieldInfo",
    "MappedRow",
    "Mapping",
    "MappingError",
    "apply_mapping",
    "discover_fields",
    "preview_rows",
    "suggest_mapping",
    "validate_mapping",
]
