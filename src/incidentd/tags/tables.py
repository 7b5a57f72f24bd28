import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

tags = sa.Table(
    "tags",
    metadata,
    *org_key(),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("name_key", sa.String(256), nullable=False),  # lower-cased name: unique per org
    sa.Column("description", sa.Text),
    sa.Column("style_color", sa.String(16)),
    *audit_columns(),
    sa.UniqueConstraint("dev_org_id", "name_key"),
)
