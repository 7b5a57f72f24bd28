"""idempotency keys: the stored answer of each (principal, Idempotency-Key), kept 24 hours

Revision ID: 0004_idempotency
Revises: 0003_incidents
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0004_idempotency"
down_revision = "0003_incidents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "idempotency_keys",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("media_type", sa.String(255), nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "user_number", "idempotency_key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"],
            ["users.dev_org_id", "users.number"],
            name="fk_idempotency_keys_users",
        ),
    )
    # The cleanup deletes expired rows in small batches, oldest first.
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
