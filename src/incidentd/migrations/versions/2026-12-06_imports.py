"""imports: the import map (source record -> object of the org), which makes incidentd import idempotent

Revision ID: 0012_import
Revises: 0010_webhooks
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_import"
down_revision = "0011_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_map",
        sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(512), primary_key=True),
        sa.Column("object_kind", sa.String(40), nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64)),
        sa.Column("imported_date", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_map")
