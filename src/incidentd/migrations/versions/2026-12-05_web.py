"""web: passwords, sessions and one-time login links of the web app

Three new tables, no change to existing rows: `user_passwords` (argon2 hashes, apart from `users` so that user
rows never carry them), `web_sessions` (server-side sessions by the SHA-256 of their cookie secret) and
`login_links` (one-time links by the SHA-256 of their secret).

Revision ID: 0009_web
Revises: 0006_roles
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0009_web"
down_revision = "0008_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table(
        "user_passwords",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("set_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "user_number", name="pk_user_passwords"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"], name="fk_user_passwords_users"
        ),
    )
    create_table(
        "web_sessions",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("dev_org_id", "session_hash", name="pk_web_sessions"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"], name="fk_web_sessions_users"
        ),
        sa.UniqueConstraint("session_hash", name="uq_web_sessions_session_hash"),
    )
    op.create_index("ix_web_sessions_dev_org_id_user_number", "web_sessions", ["dev_org_id", "user_number"])
    create_table(
        "login_links",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("link_hash", sa.String(64), nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("dev_org_id", "link_hash", name="pk_login_links"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"], name="fk_login_links_users"
        ),
        sa.UniqueConstraint("link_hash", name="uq_login_links_link_hash"),
    )


def downgrade() -> None:
    op.drop_table("login_links")
    op.drop_index("ix_web_sessions_dev_org_id_user_number", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("user_passwords")
