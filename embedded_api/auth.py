"""API key authentication, scopes, the plan gate and per-key rate limits.

The REST API takes ``Authorization: Bearer <key>``. The OData feed also takes
HTTP Basic with the key as the password (Power BI and Tableau send that) and
the key in the ``api_key`` query parameter (Power BI's "Web API" credential
kind), and asks for Basic credentials on a 401 so BI tools prompt for them.

A verified key is remembered for ``KEY_CACHE_SECONDS`` so that a busy feed does
not look its key up on every page; a revoked key therefore stops working within
that many seconds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from sqlalchemy import select, update

from app.services.api_keys import KEY_PREFIX, hash_key
from app.store.models import ApiKey, Organisation, Plan
from app.store.types import utcnow
from embedded_api.problems import ProblemError

QUERY_PARAMETER = "api_key"
REALM = "AccuPredix"
MINIMUM_PLAN = Plan.GROWTH
KEY_CACHE_SECONDS = 5.0
# Keys (valid or not) remembered at most; a caller trying random keys cannot grow it.
MAX_REMEMBERED_KEYS = 10_000
# last_used_at is written at most this often per key, not on every request.
LAST_USED_EVERY = 60.0
# Token bucket per key: a sustained rate and a burst (a BI refresh pulls pages fast).
RATE_PER_SECOND = 50.0
BURST = 200.0

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key and its organisation."""

    key_id: int
    prefix: str
    organisation_id: int
    scopes: frozenset[str]
    plan: Plan


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class KeyRegistry:
    """Per-process memory of verified keys, last-used writes and rate buckets."""

    def __init__(
        self,
        rate: float = RATE_PER_SECOND,
        burst: float = BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[float, Principal | None]] = {}
        self._last_used: dict[int, float] = {}
        self._buckets: dict[int, _Bucket] = {}

    def lookup(self, secret: str, database: Any) -> Principal | None:
        """The key's principal (None: unknown or revoked), at most KEY_CACHE_SECONDS old."""
        digest = hash_key(secret)
        now = self._clock()
        with self._lock:
            cached = self._verified.get(digest)
        if cached is not None and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        principal = _load(secret, digest, database)
        with self._lock:
            if len(self._verified) >= MAX_REMEMBERED_KEYS:
                self._verified = {
                    d: entry
                    for d, entry in self._verified.items()
                    if now - entry[0] < KEY_CACHE_SECONDS
                }
                if len(self._verified) >= MAX_REMEMBERED_KEYS:
                    self._verified.clear()
            self._verified[digest] = (now, principal)
        return principal

    def touch(self, principal: Principal, database: Any) -> None:
        """Record the key's last use in the store, at most once per LAST_USED_EVERY."""
        now = self._clock()
        with self._lock:
            if now - self._last_used.get(principal.key_id, -math.inf) < LAST_USED_EVERY:
                return
            self._last_used[principal.key_id] = now
        with database.session() as session:
            session.execute(
                update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=utcnow())
            )

    def take(self, key_id: int) -> float | None:
        """Spend one request from the key's bucket; returns seconds to wait when empty."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key_id)
            if bucket is None:
                bucket = self._buckets[key_id] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / self.rate


def _load(secret: str, digest: str, database: Any) -> Principal | None:
    if not secret.startswith(KEY_PREFIX) or secret.count("_") < 2:
        return None
    prefix = secret[: secret.index("_", len(KEY_PREFIX))]
    with database.session() as session:
        row = session.execute(
            select(ApiKey, Organisation.plan)
            .join(Organisation, Organisation.id == ApiKey.organisation_id)
            .where(ApiKey.prefix == prefix)
        ).first()
    if row is None:
        return None
    key, plan = row
    if key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return Principal(key.id, key.prefix, key.organisation_id, key.scope_set, plan)


def _credentials(allow_basic: bool, allow_query: bool) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        # The key is the password; BI tools make the user name up.
        return decoded.partition(":")[2] or None
    if allow_query:
        return request.args.get(QUERY_PARAMETER) or None
    return None


def authenticate(scope: str, *, allow_basic: bool = False, allow_query: bool = False) -> Principal:
    """The caller's principal, or a ProblemError (401, 403, 429) to answer with."""
    runtime = current_app.config["RUNTIME"]
    registry: KeyRegistry = current_app.config["KEY_REGISTRY"]
    challenge = f'Basic realm="{REALM}", charset="UTF-8"' if allow_basic else "Bearer"
    secret = _credentials(allow_basic, allow_query)
    if secret is None:
        raise ProblemError(
            401,
            "An API key is required: send it as 'Authorization: Bearer <key>'"
            + (
                f", as the password of HTTP Basic, or in the {QUERY_PARAMETER} parameter."
                if allow_basic
                else "."
            ),
            headers={"WWW-Authenticate": challenge},
        )
    principal = registry.lookup(secret, runtime.database)
    if principal is None:
        raise ProblemError(
            401, "The API key is not valid or was revoked.", headers={"WWW-Authenticate": challenge}
        )
    if scope not in principal.scopes:
        raise ProblemError(403, f"This API key lacks the '{scope}' scope.", required_scope=scope)
    if principal.plan.rank < MINIMUM_PLAN.rank:
        raise ProblemError(
            403,
            f"The API and the OData feed need the {MINIMUM_PLAN.value.title()} plan or higher; "
            f"this organisation is on {principal.plan.value.title()}.",
            type="urn:accupredix:problem:plan-required",
            required_plan=MINIMUM_PLAN.value,
            current_plan=principal.plan.value,
        )
    wait = registry.take(principal.key_id)
    if wait is not None:
        raise ProblemError(
            429,
            "Too many requests with this API key; slow down.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    registry.touch(principal, runtime.database)
    g.principal = principal
    return principal


def require_key(
    scope: str, *, allow_basic: bool = False, allow_query: bool = False
) -> Callable[[F], F]:
    """View decorator: authenticate with ``scope`` before the view runs."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate(scope, allow_basic=allow_basic, allow_query=allow_query)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
