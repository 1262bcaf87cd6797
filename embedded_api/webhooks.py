"""``POST /webhooks/connectors/shopify/{id}``: Shopify order deliveries.

No API key: the delivery's HMAC signature is its credential. The raw body is
read first, under a hard size limit, and checked as received; the delivery is
recorded and answered at once, and applied by the background applier
(:mod:`app.webhooks`) right after, well inside Shopify's 5 s.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.runtime import Runtime
from app.webhooks.doorbell import ring
from app.webhooks.receive import WebhookRefused, receive_shopify
from embedded_api.problems import problem

log = logging.getLogger(__name__)

# Order payloads are a few KiB to a few hundred; a body past this is not an order.
MAX_WEBHOOK_BYTES = 1024 * 1024
_CHUNK = 64 * 1024

blueprint = Blueprint("webhooks", __name__)


class _TooLarge(Exception):
    pass


def _raw_body(limit: int) -> bytes:
    """The request body as sent, read up to ``limit`` bytes.

    Raises:
        _TooLarge: the declared or the actual length is over ``limit``.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge  # refused on the header alone, nothing read
    # Per request, so that the app's smaller limit for API bodies does not apply here.
    request.max_content_length = limit
    chunks: list[bytes] = []
    size = 0
    try:
        stream = request.stream
        while chunk := stream.read(min(_CHUNK, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _TooLarge
    except RequestEntityTooLarge:
        raise _TooLarge from None
    return b"".join(chunks)


@blueprint.post("/webhooks/connectors/shopify/<int:connector_id>")
def shopify_delivery(connector_id: int) -> Response:
    """Check and record one Shopify delivery; 200 once it is safely stored."""
    try:
        body = _raw_body(MAX_WEBHOOK_BYTES)
    except _TooLarge:
        log.info("webhook for connector %s refused: body too large", connector_id)
        return problem(413, f"The body is larger than {MAX_WEBHOOK_BYTES} bytes.")
    runtime: Runtime = current_app.config["RUNTIME"]
    try:
        receipt = receive_shopify(
            runtime.database,
            runtime.vault,
            runtime.config,
            connector_id=connector_id,
            body=body,
            headers=request.headers,
        )
    except WebhookRefused as exc:
        return problem(exc.status, exc.message)
    if receipt.event_id is not None:
        ring()
    return jsonify(status=receipt.outcome)
