"""Webhook signatures: HMAC-SHA256 over the raw body, as the sender computed it.

The digest is taken over the bytes exactly as they arrived: a body parsed and
serialised again (other key order, spacing or escapes) signs differently.
Shopify sends the digest base64-encoded, not hex.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def shopify_signature(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for ``body`` signed with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` signs ``body`` under ``secret``; compared in constant time."""
    if not header:
        return False
    expected = shopify_signature(secret, body).encode("ascii")
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))
