"""links: typed relations between an incident and another incident, a part, an article or an account

A new table; no existing rows change. Each end is named by its link-endpoint type and number, and repeated in the
column of its kind (`source_incident`, `target_part`, ...), whose foreign key deletes the link with that end.

Revision ID: 0008_links
Revises: 0007_timeline
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0008_links"
down_revision = "0007_timeline"
branch_labels = None
depends_on = None

_KIND_TABLES = {"incident": "incidents", "part": "parts", "article": "articles", "account": "accounts"}
_COLUMNS = [(f"{side}_{kind}", table) for side in ("source", "target") for kind, table in _KIND_TABLES.items()]


def upgrade() -> None:
    create_table(
        "links",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("link_type", sa.String(32), nullable=False),
        sa.Column("source_type", sa.String(32), nullable=False),
        sa.Column("source_number", sa.BigInteger, nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_number", sa.BigInteger, nullable=False),
        *(sa.Column(column, sa.BigInteger, nullable=True) for column, _ in _COLUMNS),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger, nullable=True),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_links"),
        sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name="fk_links_dev_orgs"),
        *(
            sa.ForeignKeyConstraint(
                ["dev_org_id", column],
                [f"{table}.dev_org_id", f"{table}.number"],
                name=f"fk_links_{column}",
                ondelete="CASCADE",
            )
            for column, table in _COLUMNS
        ),
        sa.UniqueConstraint(
            "dev_org_id",
            "source_type",
            "source_number",
            "link_type",
            "target_type",
            "target_number",
            name="uq_links_endpoints",
        ),
    )
    for column, _ in _COLUMNS:
        op.create_index(f"ix_links_{column}", "links", ["dev_org_id", column, "number"])


def downgrade() -> None:
    op.drop_table("links")
