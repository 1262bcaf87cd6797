"""API keys, received webhook deliveries and pending OAuth authorisations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.store.models.base import Base, created_at_column


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash; ``prefix`` is the visible part."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    # Comma-separated subset of read, write, odata.
    scopes: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = created_at_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class WebhookEvent(Base):
    """A received webhook delivery, kept so a redelivery is processed once."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "delivery_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int | None] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), default=None, index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The raw body, kept until the event is applied.
    body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    received_at: Mapped[dt.datetime] = created_at_column()
    processed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class OAuthState(Base):
    """The ``state`` of an authorisation in flight, checked on the callback."""

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(128), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    connector_id: Mapped[int | None] = mapped_column(
        ForeignKey("connectors.id", ondelete="CASCADE"), default=None
    )
    # A vault token, bound to this state: the PKCE verifier is a secret too.
    code_verifier: Mapped[str | None] = mapped_column(Text, default=None)
    redirect_uri: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at_column()
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # pending, complete (``result`` holds the grant) or failed (``error`` says why).
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    # A vault token of the grant: tokens and what the provider said about the account.
    result: Mapped[str | None] = mapped_column(Text, default=None)
    account: Mapped[str | None] = mapped_column(String(200), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # What the flow started with and learnt that is not secret: the preset, the
    # Shopify shop, the organisations the operator must pick from.
    context: Mapped[dict[str, Any] | None] = mapped_column(default=None)
