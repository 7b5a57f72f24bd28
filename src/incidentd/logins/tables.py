"""Storage rows of the logins domain (the migrations are the source of truth; this mirrors them).

Secrets are stored as hashes only: argon2 for passwords (people choose them), SHA-256 for session and login-link
secrets (32 random bytes each: nothing to guess, so a fast hash suffices and lookups stay one index seek)."""

import sqlalchemy as sa

from incidentd.db import metadata

# Apart from `users`: user rows are read everywhere (summaries, lists), and a secret's hash should not travel
# with them.
user_passwords = sa.Table(
    "user_passwords",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("user_number", sa.BigInteger, primary_key=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("set_at", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("user_number", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # the absolute end, whatever the activity
    sa.Column("revoked_at", sa.BigInteger),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
    sa.UniqueConstraint("session_hash"),
    sa.Index(None, "dev_org_id", "user_number"),
)

login_links = sa.Table(
    "login_links",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("link_hash", sa.String(64), primary_key=True),
    sa.Column("user_number", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("used_at", sa.BigInteger),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
    sa.UniqueConstraint("link_hash"),
)
