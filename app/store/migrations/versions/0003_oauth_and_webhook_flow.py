"""OAuth authorisations carry their outcome; webhook deliveries carry their body

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_states") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="pending")
        )
        # A vault token of the grant (tokens and what the provider said about the account).
        batch.add_column(sa.Column("result", sa.Text(), nullable=True))
        batch.add_column(sa.Column("account", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        # The preset, the Shopify shop and the organisations to pick from: nothing secret.
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
    with op.batch_alter_table("webhook_events") as batch:
        # The raw body, kept until the event is applied.
        batch.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_webhook_events_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_index("ix_webhook_events_status")
        batch.drop_column("attempts")
        batch.drop_column("body")
    with op.batch_alter_table("oauth_states") as batch:
        batch.drop_column("context")
        batch.drop_column("error")
        batch.drop_column("account")
        batch.drop_column("result")
        batch.drop_column("status")
