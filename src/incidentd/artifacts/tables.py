import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

artifacts = sa.Table(
    "artifacts",
    metadata,
    *org_key(),
    sa.Column("file_name", sa.String(512), nullable=False),
    sa.Column("file_type", sa.String(256)),
    sa.Column("file_size", sa.BigInteger),
    sa.Column("storage_key", sa.String(256), nullable=False),
    sa.Column("sha256", sa.String(64)),
    sa.Column("uploaded_date", sa.BigInteger),
    # The one parent the artifact is attached to: a kind (incident, article, ...) and its number.
    sa.Column("parent_kind", sa.String(40)),
    sa.Column("parent_number", sa.BigInteger),
    sa.Column("parent_position", sa.Integer),
    *audit_columns(),
    sa.Index(None, "dev_org_id", "parent_kind", "parent_number"),
)
