"""timeline: comments and change events on incidents (timeline_entries, their labels and private_to users)

Entries point at their parent by (object_kind, object_number) without a foreign key: change events outlive the
incident they record. On PostgreSQL entry numbers come from a sequence. Nothing exists to migrate; the downgrade
drops the three tables (and the sequence).

Revision ID: 0007_timeline
Revises: 0006_roles
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0007_timeline"
down_revision = "0006_roles"
branch_labels = None
depends_on = None


def _child(name: str, column: sa.Column) -> None:
    create_table(
        name,
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("entry_number", sa.BigInteger, nullable=False),
        column,
        sa.PrimaryKeyConstraint("dev_org_id", "entry_number", column.name, name=f"pk_{name}"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "entry_number"],
            ["timeline_entries.dev_org_id", "timeline_entries.number"],
            name=f"fk_{name}_timeline_entries",
            ondelete="CASCADE",
        ),
    )


def upgrade() -> None:
    create_table(
        "timeline_entries",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("object_kind", sa.String(40), nullable=False),
        sa.Column("object_number", sa.BigInteger, nullable=False),
        sa.Column("entry_type", sa.String(32), nullable=False),
        sa.Column("visibility", sa.String(16), nullable=False),
        sa.Column("collections", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("body_type", sa.String(16), nullable=True),
        sa.Column("labels", sa.JSON, nullable=True),
        sa.Column("external_ref", sa.String(512), nullable=True),
        sa.Column("event", sa.JSON, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("created_by", sa.BigInteger, nullable=False),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger, nullable=False),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_timeline_entries"),
        sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name="fk_timeline_entries_dev_orgs"),
        sa.UniqueConstraint(
            "dev_org_id", "object_kind", "object_number", "external_ref", name="uq_timeline_entries_external_ref"
        ),
    )
    op.create_index(
        "ix_timeline_entries_by_object", "timeline_entries", ["dev_org_id", "object_kind", "object_number", "number"]
    )
    op.create_index("ix_timeline_entries_expires_at", "timeline_entries", ["expires_at"])
    _child("timeline_entry_labels", sa.Column("label", sa.String(64), nullable=False))
    _child("timeline_private_to", sa.Column("user_number", sa.BigInteger, nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        # Entry numbers without a lock held to commit (see incidentd.timeline.repository.ENTRY_NUMBERS).
        op.execute("CREATE SEQUENCE timeline_entry_numbers")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE timeline_entry_numbers")
    op.drop_table("timeline_private_to")
    op.drop_table("timeline_entry_labels")
    op.drop_index("ix_timeline_entries_expires_at", table_name="timeline_entries")
    op.drop_index("ix_timeline_entries_by_object", table_name="timeline_entries")
    op.drop_table("timeline_entries")
