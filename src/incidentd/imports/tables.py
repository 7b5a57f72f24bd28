"""Storage of imports: which source record became which object of the org (what makes a second run idempotent)."""

import sqlalchemy as sa

from incidentd.kit.tables import metadata

# One row per imported record: (org, source, the record's id in the source) -> the object it became, with the
# digest of the record as last imported (an unchanged record is skipped; a changed one rewrites its object).
import_map = sa.Table(
    "import_map",
    metadata,
    sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),  # "ndjson" | "dispatch"
    sa.Column("source_id", sa.String(512), primary_key=True),  # the source incident's DON, an entry's id, ...
    sa.Column("object_kind", sa.String(40), nullable=False),  # "incident" | "timeline_entry"
    sa.Column("number", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64)),
    sa.Column("imported_date", sa.BigInteger, nullable=False),
)
