"""webhooks: subscriptions, the event outbox (one row per change, per-org sequence) and deliveries

Revision ID: 0010_webhooks
Revises: 0006_roles
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_webhooks"
down_revision = "0009_web"
branch_labels = None
depends_on = None


def _audit() -> list[sa.Column[int]]:
    return [
        sa.Column("created_by", sa.BigInteger),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("secret_cipher", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failing", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("fanout_seq", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("verify_challenge", sa.String(64)),
        sa.Column("verify_next_at", sa.BigInteger),
        sa.Column("verify_until", sa.BigInteger),
        *_audit(),
    )
    op.create_index("ix_webhooks_status_dev_org_id", "webhooks", ["status", "dev_org_id"])
    op.create_table(
        "webhook_events",
        sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("object_number", sa.BigInteger, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_date", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhook_events_created_date", "webhook_events", ["created_date"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
        sa.Column("webhook_number", sa.BigInteger, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("object_number", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("first_attempt_at", sa.BigInteger),
        sa.Column("lease_until", sa.BigInteger),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(512)),
        sa.Column("latency_ms", sa.Integer),
        sa.Column("delivered_date", sa.BigInteger),
        sa.Column("created_date", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_state_next_attempt_at", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index(
        "ix_webhook_deliveries_order",
        "webhook_deliveries",
        ["dev_org_id", "webhook_number", "object_number", "seq"],
    )


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
