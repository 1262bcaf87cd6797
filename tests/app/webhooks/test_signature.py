"""Shopify's webhook signature: base64 HMAC-SHA256 of the raw body."""

from __future__ import annotations

import json

from app.webhooks.signature import shopify_signature, signature_matches

SECRET = "hush-its-a-secret"
BODY = b'{"id":820982911946154508,"line_items":[]}'
# Computed apart from Python: printf BODY | openssl dgst -sha256 -hmac SECRET -binary | base64
EXPECTED = "9f6MdH7iNMXrC599FyDVqjnUVZu0erVQEkwSWN9pM0s="
EXPECTED_HEX = "f5fe8c747ee234c5eb0b9f7d1720d5aa39d4559bb47ab550124c1258df69334b"


def test_signature_is_base64_of_hmac_sha256_over_the_raw_body() -> None:
    assert shopify_signature(SECRET, BODY) == EXPECTED
    assert signature_matches(SECRET, BODY, EXPECTED)


def test_the_hex_digest_is_not_a_signature() -> None:
    assert not signature_matches(SECRET, BODY, EXPECTED_HEX)


def test_a_body_parsed_and_serialised_again_does_not_match() -> None:
    reserialised = json.dumps(json.loads(BODY)).encode()
    assert reserialised != BODY  # json.dumps adds spaces after separators
    assert not signature_matches(SECRET, reserialised, EXPECTED)


def test_tampered_body_wrong_secret_and_missing_header_do_not_match() -> None:
    assert not signature_matches(SECRET, BODY.replace(b"[]", b"[1]"), EXPECTED)
    assert not signature_matches("another-secret", BODY, EXPECTED)
    assert not signature_matches(SECRET, BODY, None)
    assert not signature_matches(SECRET, BODY, "")
    # Garbage of any kind is refused, not an error.
    assert not signature_matches(SECRET, BODY, "é" * 44)
    assert not signature_matches(SECRET, BODY, EXPECTED + " ")
