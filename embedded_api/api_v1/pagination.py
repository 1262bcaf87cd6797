"""Pages of a list: a JSON array, with the next page in ``Link`` and ``X-Next-Cursor``.

A bare array is what Zapier's polling triggers and Make's list modules read
without configuration; the cursor travels in headers so that it never mixes
with the items. A cursor is opaque: base64url of a JSON array holding the
list's kind and the sort key of the page's last item.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, current_app, request

from embedded_api.api_v1.links import external_url
from embedded_api.api_v1.params import MAX_ID
from embedded_api.problems import ProblemError

NEXT_CURSOR_HEADER = "X-Next-Cursor"

# The types a cursor position can hold, by name.
ID = "id"
TIMESTAMP = "timestamp"


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    plain = [kind, *(v.isoformat() if isinstance(v, dt.datetime) else v for v in values)]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _bad_cursor() -> ProblemError:
    return ProblemError(
        400,
        "The cursor is not valid for this list; start again from the first page without it.",
        invalid_params=[{"name": "cursor", "reason": "not a cursor of this list"}],
    )


def _typed(value: Any, kind: str) -> Any:
    if kind == ID and type(value) is int and 1 <= value <= MAX_ID:
        return value
    if kind == TIMESTAMP and isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _bad_cursor() from None
        if parsed.tzinfo is not None:
            return parsed
    raise _bad_cursor()


def decode_cursor(token: str | None, kind: str, shape: Sequence[str]) -> tuple[Any, ...] | None:
    """The position a cursor of list ``kind`` holds, typed by ``shape``; None without a cursor."""
    if token is None:
        return None
    try:
        plain = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(plain, list) or len(plain) != len(shape) + 1 or plain[0] != kind:
        raise _bad_cursor()
    return tuple(_typed(value, type_) for value, type_ in zip(plain[1:], shape, strict=True))


def split_page(
    rows: list[dict[str, Any]], limit: int, position: Callable[[dict[str, Any]], Sequence[Any]]
) -> tuple[list[dict[str, Any]], Sequence[Any] | None]:
    """The page out of ``limit + 1`` fetched rows, and where the next page starts (or None)."""
    if len(rows) > limit:
        return rows[:limit], position(rows[limit - 1])
    return rows, None


def page_response(
    items: list[dict[str, Any]], kind: str, next_position: Sequence[Any] | None
) -> Response:
    """The items as a JSON array, with a link to the next page when there is one."""
    response = current_app.json.response(items)
    if next_position is not None:
        cursor = encode_cursor(kind, next_position)
        # The REST API takes no key in the query; never echo one into a header.
        query = {k: v for k, v in request.args.items() if k not in ("cursor", "api_key")}
        query["cursor"] = cursor
        response.headers["Link"] = f'<{external_url(request.path, query)}>; rel="next"'
        response.headers[NEXT_CURSOR_HEADER] = cursor
    return response
