"""identity: dev orgs, per-org id counters, users (all principal kinds), API tokens

Revision ID: 0001_identity
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0001_identity"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "dev_orgs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dev_orgs"),
        sa.UniqueConstraint("slug", name="uq_dev_orgs_slug"),
    )
    create_table(
        "id_counters",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("last_value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "kind", name="pk_id_counters"),
        sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name="fk_id_counters_dev_orgs"),
    )
    create_table(
        "users",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("user_type", sa.String(20), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("full_name", sa.String(256), nullable=True),
        sa.Column("display_name", sa.String(256), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger, nullable=True),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_users"),
        sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name="fk_users_dev_orgs"),
        sa.UniqueConstraint("dev_org_id", "email", name="uq_users_dev_org_id_email"),
    )
    create_table(
        "auth_tokens",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_hint", sa.String(256), nullable=True),
        sa.Column("requested_token_type", sa.String(80), nullable=False),
        sa.Column("scopes", sa.String(1024), nullable=True),
        sa.Column("issued_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_auth_tokens"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"],
            ["users.dev_org_id", "users.number"],
            name="fk_auth_tokens_users",
        ),
        sa.UniqueConstraint("token_hash", name="uq_auth_tokens_token_hash"),
    )
    op.create_index("ix_auth_tokens_dev_org_id_user_number", "auth_tokens", ["dev_org_id", "user_number"])


def downgrade() -> None:
    op.drop_index("ix_auth_tokens_dev_org_id_user_number", table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_table("users")
    op.drop_table("id_counters")
    op.drop_table("dev_orgs")
