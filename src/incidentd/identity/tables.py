"""Storage rows of the identity domain (the migrations are the source of truth; this mirrors them)."""

import sqlalchemy as sa

from incidentd.db import metadata

dev_orgs = sa.Table(
    "dev_orgs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("created_date", sa.BigInteger, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True),
    sa.Column("user_type", sa.String(20), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("full_name", sa.String(256)),
    sa.Column("display_name", sa.String(256)),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("role", sa.String(20), nullable=False, server_default="member"),  # admin | member
    sa.Column("created_by", sa.BigInteger),
    sa.Column("created_date", sa.BigInteger, nullable=False),
    sa.Column("modified_by", sa.BigInteger),
    sa.Column("modified_date", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("dev_org_id", "email"),
)

auth_tokens = sa.Table(
    "auth_tokens",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True),
    sa.Column("user_number", sa.BigInteger, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("token_hint", sa.String(256)),
    sa.Column("requested_token_type", sa.String(80), nullable=False),
    sa.Column("scopes", sa.String(1024)),
    sa.Column("issued_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("revoked_at", sa.BigInteger),
    sa.Column("last_used_at", sa.BigInteger),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
    sa.Index(None, "dev_org_id", "user_number"),
)
