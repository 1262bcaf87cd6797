"""Hypothesis strategies for hostile input: query values, OData `$filter` expressions, deliveries.

Each strategy mixes input that is merely unusual (unicode, huge numbers,
repeated parameters) with input built to hurt (NUL bytes, quotes that would
close a SQL string, expressions nested past any sane depth), so that one run
of a test covers both.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass

from hypothesis import strategies as st

# --- values for query parameters ------------------------------------------------------------

HUGE_NUMBERS = st.sampled_from(
    [
        "0",
        "-1",
        "2147483648",
        "9223372036854775808",
        "-9223372036854775809",
        "1" + "0" * 40,
        "1e309",
        "-0",
        "+5",
        "0x10",
        "1_000",
        "\uff11",  # a full-width digit one
        "NaN",
        "Infinity",
    ]
)
DATE_LIKE = st.sampled_from(
    [
        "2025-02-30",
        "2025-13-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2025-01-01T00:00:00+24:00",
        "2025-01-01T25:61:61Z",
        "2025-W01",
        "20250101T000000Z",
        "2025-01-01T00:00:00.9999999999Z",
        "2025-01-01 00:00:00 01:00",
    ]
)
CONTROL = st.text(st.characters(max_codepoint=0x1F), min_size=1, max_size=4)
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)


def query_value() -> st.SearchStrategy[str]:
    """A value for any query parameter: numbers, dates, text, NUL and control bytes."""
    return st.one_of(
        HUGE_NUMBERS,
        DATE_LIKE,
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        ANY_TEXT,
        CONTROL,
        st.builds(lambda a, b: a + "\x00" + b, ANY_TEXT, ANY_TEXT),
        st.integers(min_value=600, max_value=20_000).map(lambda n: "9" * n),
        st.sampled_from(["true", "false", "complete", "queued", "", " ", "%", "'", '"']),
    )


# --- OData $filter ---------------------------------------------------------------------------

COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
ARITHMETIC = ("add", "sub", "mul", "div", "mod")
FUNCTIONS = (
    "contains", "startswith", "endswith", "tolower", "toupper", "length", "trim",
    "year", "month", "day", "date",
    # Valid OData the feed does not translate, and names that are not OData at all.
    "substring", "concat", "round", "indexof", "now", "cast", "drop", "sqlite_version",
)  # fmt: skip
# Integer literals past 64 bits, which no column holds.
OUT_OF_RANGE_FILTERS = (
    "LeadTimeDays eq 9223372036854775808",
    "LeadTimeDays eq -9223372036854775809",
    "Id eq 99999999999999999999999999999",
    "year(TrendChangedAt) eq 99999999999999999999",
)
# Each of these went wrong somewhere once: SQL quoting, deep recursion, parser
# limits, type confusion.
ADVERSARIAL_FILTERS = (
    "Sku eq 'x'' or ''1''=''1'",
    "Sku eq 'x'; DROP TABLE series; --'",
    "Sku eq 'x' union select * from api_keys",
    "Sku eq '\x00'",
    "contains(Sku, '%') or contains(Sku, '_')",
    "LeadTimeDays mul 9223372036854775807 mul 9223372036854775807 gt 1",
    "LeadTimeDays div 0 eq 1",
    "ServiceLevel eq 1e400",
    "TrendChangedAt gt 9999-12-31T23:59:59Z",
    "date(TrendChangedAt) eq 2024-02-30",
    "(" * 3000 + "Sku eq 'a'" + ")" * 3000,
    "not " * 5000 + "(Sku eq 'a')",
    " or ".join(f"Id eq {n}" for n in range(10_500)),
    " and ".join(["Id gt 0"] * 700),
    "Sku in (" + ",".join(f"'{n}'" for n in range(11_000)) + ")",
    "Sku eq '" + "x" * 100_000 + "'",
    "Sku/any(x: x eq 'a')",
    "$it/Sku eq 'a'",
    "Sku eq @p",
    "\u202eSku eq 'a'",
)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _literals() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.text(st.characters(codec="utf-8"), max_size=20).map(_quoted),
        st.sampled_from(["true", "false", "null", "INF", "NaN", "-0", "1e308", "1.5e-320"]),
        st.dates().map(dt.date.isoformat),
        st.datetimes(timezones=st.just(dt.UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
        st.sampled_from(["2024-02-30", "2024-13-01T00:00:00Z", "12:00:00", "duration'P1D'"]),
    )


def filter_expression(properties: list[str]) -> st.SearchStrategy[str]:
    """``$filter`` text over ``properties``: grammatical, nearly so, and not at all."""
    names = st.one_of(
        st.sampled_from(properties),
        st.sampled_from(properties).map(str.lower),  # a near miss: wrong case
        st.sampled_from(["Nope", "Secrets", "api_keys", "1Sku", "_"]),
    )
    atoms = st.one_of(names, _literals())
    functions = st.builds(
        lambda name, args: f"{name}({', '.join(args)})",
        st.sampled_from(FUNCTIONS),
        st.lists(atoms, min_size=0, max_size=3),
    )
    terms = st.one_of(atoms, functions)
    comparisons = st.one_of(
        st.builds(lambda a, op, b: f"{a} {op} {b}", terms, st.sampled_from(COMPARISONS), terms),
        st.builds(
            lambda a, values: f"{a} in ({', '.join(values)})",
            names,
            st.lists(_literals(), min_size=1, max_size=6),
        ),
        st.builds(
            lambda a, op, b, c, cmp: f"{a} {op} {b} {cmp} {c}",
            names,
            st.sampled_from(ARITHMETIC),
            _literals(),
            _literals(),
            st.sampled_from(COMPARISONS),
        ),
    )
    grammatical = st.recursive(
        comparisons,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} and {b}", inner, inner),
            st.builds(lambda a, b: f"{a} or {b}", inner, inner),
            inner.map(lambda a: f"not ({a})"),
            inner.map(lambda a: f"({a})"),
        ),
        max_leaves=8,
    )
    return st.one_of(
        grammatical,
        st.text(st.characters(codec="utf-8"), max_size=80),
        # The short ones: a long example's repr would be most of a failure report.
        st.sampled_from([f for f in ADVERSARIAL_FILTERS if len(f) < 200] + [*OUT_OF_RANGE_FILTERS]),
    )


# --- Shopify deliveries ----------------------------------------------------------------------


def shopify_signature(secret: str, body: bytes) -> str:
    """What Shopify sends: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Delivery:
    """One POST to the webhook route and whether its signature is right."""

    target: str  # which connector id it names: "shop", or a kind of wrong one
    body: bytes
    headers: dict[str, str]
    signed: bool

    @property
    def delivery_id(self) -> str:
        """The id the receiver de-duplicates on: Shopify's header, else the body's hash."""
        given = self.headers.get("X-Shopify-Webhook-Id", "").strip()
        if given and len(given) <= 128:
            return given
        return "sha256:" + hashlib.sha256(self.body).hexdigest()


def reserialised(body: bytes) -> bytes:
    """The body as a JSON library writes it back (compact), or changed by a byte if not JSON."""
    try:
        return json.dumps(json.loads(body), separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return body + b"\n"


# Header values as http.client can send them: Latin-1, no line breaks, no leading
# whitespace (requests refuses it; NEL and NBSP are whitespace to it).
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f\x85\xa0"),
    max_size=60,
)
_ORDER = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(min_value=-(2**64), max_value=2**64), ANY_TEXT, st.none()),
        "line_items": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.integers(min_value=0, max_value=2**40),
                    "sku": st.one_of(ANY_TEXT, st.none()),
                    "quantity": st.one_of(st.integers(-5, 5), ANY_TEXT, st.floats()),
                    "price": st.one_of(st.just("19.90"), ANY_TEXT),
                }
            ),
            max_size=3,
        ),
        "created_at": st.one_of(st.just("2025-03-01T04:30:00-05:00"), ANY_TEXT),
        "updated_at": st.one_of(st.just("2025-03-01T04:30:00-05:00"), ANY_TEXT),
    }
)
BODIES = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=200).map(str.encode),
    _ORDER.map(lambda order: json.dumps(order).encode()),
    st.sampled_from([b"", b"{}", b"[]", b"null", b"{" * 5000, b'{"id": 1, "line_items": 7}']),
)


def deliveries(secret: str, shop: str, targets: list[str]) -> st.SearchStrategy[Delivery]:
    """Deliveries to ``targets``, signed right (with ``secret``) or in one of many wrong ways."""

    @st.composite
    def build(draw: st.DrawFn) -> Delivery:
        body = draw(BODIES)
        way = draw(
            st.sampled_from(
                ["right"] * 3 + ["none", "garbage", "hex", "other-secret", "reserialised", "empty"]
            )
        )
        signature = {
            "right": shopify_signature(secret, body),
            "none": None,
            "garbage": draw(_HEADER_TEXT),
            # The two mistakes other tools made: hex instead of base64, a re-serialised body.
            "hex": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "other-secret": shopify_signature(secret + "x", body),
            "reserialised": shopify_signature(secret, reserialised(body)),
            "empty": "",
        }[way]
        headers = {"Content-Type": draw(st.sampled_from(["application/json", "text/plain"]))}
        if signature is not None:
            headers["X-Shopify-Hmac-Sha256"] = signature
        headers["X-Shopify-Topic"] = draw(
            st.one_of(
                st.sampled_from(["orders/create", "orders/updated", "app/uninstalled"]),
                _HEADER_TEXT,
            )
        )
        headers["X-Shopify-Shop-Domain"] = draw(
            st.sampled_from([shop, shop.upper(), "evil.myshopify.com", ""])
        )
        headers["X-Shopify-Webhook-Id"] = draw(
            st.one_of(st.uuids().map(str), st.just(""), _HEADER_TEXT, st.just("w" * 300))
        )
        target = draw(st.sampled_from(targets))
        # Whatever the way, what counts is whether the header is the body's signature.
        signed = signature == shopify_signature(secret, body)
        return Delivery(target, body, headers, signed=signed)

    return build()
