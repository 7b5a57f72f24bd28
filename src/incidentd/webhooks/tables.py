"""Storage of webhooks, the event outbox and deliveries (the migrations are the source of truth; this mirrors them)."""

import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

webhooks = sa.Table(
    "webhooks",
    metadata,
    *org_key(),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", sa.JSON, nullable=False),  # list of event type names
    sa.Column("headers", sa.JSON, nullable=False),  # list of {"name", "value"}
    sa.Column("secret_cipher", sa.String(256), nullable=False),  # AES-GCM of the secret (webhooks/secrets.py)
    sa.Column("status", sa.String(16), nullable=False),  # active | inactive | unverified
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),  # this url + secret answered
    sa.Column("failing", sa.Boolean, nullable=False, server_default=sa.false()),  # a delivery was dead-lettered
    # The last event sequence number fanned out into deliveries for this webhook.
    sa.Column("fanout_seq", sa.BigInteger, nullable=False, server_default="0"),
    # The verify handshake in progress: its challenge, when to try next, until when.
    sa.Column("verify_challenge", sa.String(64)),
    sa.Column("verify_next_at", sa.BigInteger),
    sa.Column("verify_until", sa.BigInteger),
    *audit_columns(),
    sa.Index(None, "status", "dev_org_id"),
)

# The outbox: one row per change, written in the change's transaction; `seq` is per org and commits in order.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("object_number", sa.BigInteger, nullable=False),  # the incident: deliveries keep its order
    sa.Column("payload", sa.Text, nullable=False),  # JSON of the `<type>` member of the envelope
    sa.Column("created_date", sa.BigInteger, nullable=False),
    sa.Index(None, "created_date"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
    sa.Column("webhook_number", sa.BigInteger, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("object_number", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | delivered | dead
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("first_attempt_at", sa.BigInteger),
    sa.Column("lease_until", sa.BigInteger),  # a process is sending it until then (PostgreSQL claims)
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.String(512)),
    sa.Column("latency_ms", sa.Integer),
    sa.Column("delivered_date", sa.BigInteger),
    sa.Column("created_date", sa.BigInteger, nullable=False),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_order", "dev_org_id", "webhook_number", "object_number", "seq"),
    # The retention sweep's (queue.sweep): finished deliveries by age, pending ones by event.
    sa.Index(
        "ix_webhook_deliveries_finished",
        "created_date",
        sqlite_where=sa.text("state <> 'pending'"),
        postgresql_where=sa.text("state <> 'pending'"),
    ),
    sa.Index(
        "ix_webhook_deliveries_pending",
        "dev_org_id",
        "seq",
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    ),
)
