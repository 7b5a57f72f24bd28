"""metrics indexes: the created_date and actual_close_date indexes also hold what incidents.metrics reads

`ix_incidents_dev_org_id_created_date_number` becomes `ix_incidents_created_lifecycle` and
`ix_incidents_dev_org_id_actual_close_date_number` becomes `ix_incidents_closed_lifecycle`: the same leading
columns (lists sort and page by these dates through them as before) followed by the severity and the other
lifecycle dates, so a metrics request over a span of created or closed dates reads the index alone instead of
looking up every incident's wide row (docs/performance.md, "Metrics"). Replacing indexes rather than adding them
keeps the count of index entries a write maintains the same.

Revision ID: 0014_metrics_index
Revises: 0013_delivery_sweep
Create Date: 2026-12-06
"""

from alembic import op

revision = "0014_metrics_index"
down_revision = "0013_delivery_sweep"
branch_labels = None
depends_on = None

# incidents.tables.LIFECYCLE as of this revision (a migration keeps its own copy: the app's may change later).
LIFECYCLE = [
    "created_date",
    "severity",
    "identified_date",
    "acknowledged_date",
    "mitigated_date",
    "actual_close_date",
    "target_close_date",
]
REPLACED = {
    "created_date": ("ix_incidents_dev_org_id_created_date_number", "ix_incidents_created_lifecycle"),
    "actual_close_date": ("ix_incidents_dev_org_id_actual_close_date_number", "ix_incidents_closed_lifecycle"),
}


def upgrade() -> None:
    for column, (old, new) in REPLACED.items():
        rest = [other for other in LIFECYCLE if other != column]
        op.create_index(new, "incidents", ["dev_org_id", column, "number", *rest])
        op.drop_index(old, "incidents")


def downgrade() -> None:
    for column, (old, new) in REPLACED.items():
        op.create_index(old, "incidents", ["dev_org_id", column, "number"])
        op.drop_index(new, "incidents")
