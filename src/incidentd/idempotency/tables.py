"""Storage rows of idempotency keys (the migrations are the source of truth; this mirrors them)."""

import sqlalchemy as sa

from incidentd.db import metadata

# One row per (principal, key): the request's fingerprint and, once its effect committed, its answer. The row is
# written in the same transaction as the effect, so a committed effect always has its answer stored.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("user_number", sa.BigInteger, primary_key=True),
    sa.Column("idempotency_key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # NULL only inside the claiming transaction, before the answer is known; never committed so.
    sa.Column("status_code", sa.Integer),
    sa.Column("media_type", sa.String(255)),
    sa.Column("body", sa.LargeBinary),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
    sa.Index(None, "expires_at"),
)
