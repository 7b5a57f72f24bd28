"""delivery sweep: partial indexes that let the retention sweep find what it deletes without reading every delivery

The sweep deletes finished deliveries older than the retention (it scanned the whole table every minute, under
the writer lock) and events no pending delivery still needs (for each expired event it read every delivery of the
org). `ix_webhook_deliveries_finished` holds only finished deliveries by creation date; `..._pending` only
pending ones by (org, seq).

Revision ID: 0013_delivery_sweep
Revises: 0012_import
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_delivery_sweep"
down_revision = "0012_import"
branch_labels = None
depends_on = None

FINISHED = "state <> 'pending'"
PENDING = "state = 'pending'"


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_finished",
        "webhook_deliveries",
        ["created_date"],
        sqlite_where=sa.text(FINISHED),
        postgresql_where=sa.text(FINISHED),
    )
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["dev_org_id", "seq"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending", "webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_finished", "webhook_deliveries")
