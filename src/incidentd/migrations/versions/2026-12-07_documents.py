"""incident documents: each incident's wire JSON, kept with the summaries version it was rendered under

Revision ID: 0015_documents
Revises: 0014_metrics_index
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_documents"
down_revision = "0014_metrics_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_documents",
        sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
        sa.Column("incident_number", sa.BigInteger, primary_key=True),
        sa.Column("summaries_version", sa.BigInteger, nullable=False),
        sa.Column("format", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("incident_documents")
