"""Token-Based Authentication: OAuth 1.0a requests signed with HMAC-SHA256.

authlib builds the signature base string and the ``Authorization`` header; it
ships HMAC-SHA1 only, which NetSuite no longer accepts, so the HMAC-SHA256
method is registered here on a subclass (RFC 5849 section 3.4.2 with SHA-256
in place of SHA-1: the key is the two escaped secrets joined by ``&``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, ClassVar

from authlib.integrations.requests_client import OAuth1Auth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from authlib.oauth1.rfc5849.util import escape

from app.connectors.netsuite.account import Account
from app.redaction import register_secret

HMAC_SHA256 = "HMAC-SHA256"


def sign_hmac_sha256(client: Any, request: Any) -> str:
    """The ``oauth_signature`` of ``request`` for authlib's client ``client``."""
    base_string = generate_signature_base_string(request)
    key = f"{escape(client.client_secret or '')}&{escape(client.token_secret or '')}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class TokenAuth(OAuth1Auth):
    """Signs every request (a new nonce and timestamp each time) for one account."""

    SIGNATURE_METHODS: ClassVar[dict[str, Any]] = {
        **OAuth1Auth.SIGNATURE_METHODS,
        HMAC_SHA256: sign_hmac_sha256,
    }

    def __init__(
        self,
        account: Account,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
    ) -> None:
        for value in (consumer_key, consumer_secret, token_id, token_secret):
            register_secret(value)
        super().__init__(
            consumer_key,
            client_secret=consumer_secret,
            token=token_id,
            token_secret=token_secret,
            signature_method=HMAC_SHA256,
            realm=account.realm,
        )
