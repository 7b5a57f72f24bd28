import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

parts = sa.Table(
    "parts",
    metadata,
    *org_key(),
    sa.Column("part_type", sa.String(20), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("parent_number", sa.BigInteger),
    *audit_columns(),
    sa.ForeignKeyConstraint(["dev_org_id", "parent_number"], ["parts.dev_org_id", "parts.number"]),
    sa.Index(None, "dev_org_id", "parent_number"),
)

part_owners = sa.Table(
    "part_owners",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("part_number", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("user_number", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(["dev_org_id", "part_number"], ["parts.dev_org_id", "parts.number"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
)
