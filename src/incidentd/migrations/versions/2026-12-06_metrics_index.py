"""metrics index: the created_date index also holds what incidents.metrics reads of each incident

`ix_incidents_dev_org_id_created_date_number` becomes `ix_incidents_created_lifecycle`: the same leading columns
(lists sort and page by created_date through it as before) followed by severity and the lifecycle dates, so a
metrics request over a span of created dates reads the index alone instead of looking up every incident's wide
row (docs/performance.md, "Metrics"). Replacing the index rather than adding one keeps the count of index entries
a write maintains the same.

Revision ID: 0014_metrics_index
Revises: 0013_delivery_sweep
Create Date: 2026-12-06
"""

from alembic import op

revision = "0014_metrics_index"
down_revision = "0013_delivery_sweep"
branch_labels = None
depends_on = None

LIFECYCLE = [
    "severity",
    "identified_date",
    "acknowledged_date",
    "mitigated_date",
    "actual_close_date",
    "target_close_date",
]


def upgrade() -> None:
    op.create_index("ix_incidents_created_lifecycle", "incidents", ["dev_org_id", "created_date", "number", *LIFECYCLE])
    op.drop_index("ix_incidents_dev_org_id_created_date_number", "incidents")


def downgrade() -> None:
    op.create_index(
        "ix_incidents_dev_org_id_created_date_number", "incidents", ["dev_org_id", "created_date", "number"]
    )
    op.drop_index("ix_incidents_created_lifecycle", "incidents")
