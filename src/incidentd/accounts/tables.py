import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

accounts = sa.Table(
    "accounts",
    metadata,
    *org_key(),
    sa.Column("display_name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("domains", sa.JSON),
    sa.Column("external_refs", sa.JSON),
    sa.Column("websites", sa.JSON),
    sa.Column("tier", sa.String(64)),
    *audit_columns(),
)
