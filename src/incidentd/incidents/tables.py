import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import org_key

SORTABLE = (
    "created_date",
    "modified_date",
    "identified_date",
    "acknowledged_date",
    "mitigated_date",
    "target_close_date",
    "actual_close_date",
    "severity",
    "title",
)

# What incidents.metrics reads of an incident (metrics_repository).
LIFECYCLE = (
    "created_date",
    "severity",
    "identified_date",
    "acknowledged_date",
    "mitigated_date",
    "actual_close_date",
    "target_close_date",
)
# The dates metrics buckets by: their indexes sort and page by the date as the other sortable columns' do, and
# also hold the rest of LIFECYCLE, so a metrics request over a span of these dates reads the index alone, not
# the wide rows (1,000,000 incidents: see docs/performance.md, "Metrics").
LIFECYCLE_INDEXES = {
    "created_date": "ix_incidents_created_lifecycle",
    "actual_close_date": "ix_incidents_closed_lifecycle",
}

incidents = sa.Table(
    "incidents",
    metadata,
    *org_key(),
    sa.Column("title", sa.String(256).with_variant(sa.String(256, collation="C"), "postgresql"), nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("severity", sa.Integer),
    sa.Column("reported_by", sa.Integer),
    sa.Column("source", sa.Integer),
    sa.Column("stage_number", sa.BigInteger, nullable=False),
    sa.Column("subtype", sa.String(128)),
    sa.Column("identified_date", sa.BigInteger),
    sa.Column("acknowledged_date", sa.BigInteger),
    sa.Column("mitigated_date", sa.BigInteger),
    sa.Column("target_close_date", sa.BigInteger),
    sa.Column("actual_close_date", sa.BigInteger),
    sa.Column("impact_count", sa.Integer),
    sa.Column("is_staged", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("staged_info", sa.JSON),
    sa.Column("sync_external_reference", sa.Text),
    sa.Column("sync_origin_system", sa.String(256)),
    sa.Column("sync_in_status", sa.String(32)),
    sa.Column("sync_in_date", sa.BigInteger),
    sa.Column("sync_in_unit", sa.String(512)),
    sa.Column("sync_in_history", sa.String(512)),
    sa.Column("sync_out_status", sa.String(32)),
    sa.Column("sync_out_date", sa.BigInteger),
    sa.Column("sync_out_unit", sa.String(512)),
    sa.Column("sync_out_history", sa.String(512)),
    sa.Column("external_created_date", sa.BigInteger),
    sa.Column("external_modified_date", sa.BigInteger),
    sa.Column("external_closed_date", sa.BigInteger),
    sa.Column("custom_fields", sa.JSON),
    sa.Column("custom_schema_fragments", sa.JSON),
    sa.Column("stage_notes", sa.Text),
    sa.Column("created_by", sa.BigInteger, nullable=False),
    sa.Column("created_date", sa.BigInteger, nullable=False),
    sa.Column("modified_by", sa.BigInteger, nullable=False),
    sa.Column("modified_date", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(["dev_org_id", "stage_number"], ["custom_stages.dev_org_id", "custom_stages.number"]),
    *(
        sa.Index(f"ix_incidents_dev_org_id_{column}_number", "dev_org_id", column, "number")
        for column in SORTABLE
        if column not in LIFECYCLE_INDEXES
    ),
    *(
        sa.Index(name, "dev_org_id", column, "number", *(other for other in LIFECYCLE if other != column))
        for column, name in LIFECYCLE_INDEXES.items()
    ),
    sa.Index(None, "dev_org_id", "stage_number", "created_date", "number"),
    sa.Index(None, "dev_org_id", "severity", "created_date", "number"),
)


def _link(name: str, column: str, target: str, *extra: sa.Column, key: tuple[str, ...] = ("position",)) -> sa.Table:
    """A table of (incident, position) -> referenced object, indexed the other way for filters."""
    return sa.Table(
        name,
        metadata,
        sa.Column("dev_org_id", sa.Integer, primary_key=True),
        sa.Column("incident_number", sa.BigInteger, primary_key=True),
        *(sa.Column(part, sa.String(16) if part == "role" else sa.Integer, primary_key=True) for part in key),
        sa.Column(column, sa.BigInteger, nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["dev_org_id", "incident_number"], ["incidents.dev_org_id", "incidents.number"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dev_org_id", column], [f"{target}.dev_org_id", f"{target}.number"], ondelete="CASCADE"
        ),
        sa.Index(
            f"ix_{name}_by_target", "dev_org_id", column, *(part for part in key if part == "role"), "incident_number"
        ),
    )


incident_owners = _link("incident_owners", "user_number", "users")
incident_parts = _link("incident_parts", "part_number", "parts")
incident_articles = _link("incident_articles", "article_number", "articles", key=("role", "position"))
incident_tags = _link("incident_tags", "tag_number", "tags", sa.Column("value", sa.Text))
incident_customers = _link("incident_customers", "account_number", "accounts")

# The index of custom field values: one row per field of an incident (per distinct element of an array field,
# positions counted from 0), keyed by the value's canonical JSON (`customization.fields.index_key`).
# `incidents.custom_fields` stays the source of truth; the repository rewrites these rows with it, in the same
# transaction.
incident_custom_values = sa.Table(
    "incident_custom_values",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("incident_number", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("value_key", sa.String(255), nullable=False),
    sa.Column("long_value", sa.Text),  # the value's JSON when value_key is its digest (values over 255 characters)
    sa.ForeignKeyConstraint(
        ["dev_org_id", "incident_number"], ["incidents.dev_org_id", "incidents.number"], ondelete="CASCADE"
    ),
    # position last: counting incidents that have a value (position 0) reads this index alone. (On PostgreSQL the
    # migration also creates multi-column statistics on (name, value_key), which SQLAlchemy cannot express.)
    sa.Index("ix_incident_custom_values_by_value", "dev_org_id", "name", "value_key", "incident_number", "position"),
)

# Each incident's answer as DevRev's JSON, written in the same transaction as every change of the incident, with
# the org's summaries version it was rendered under (`kit.counters.SUMMARIES`, raised by every change of a part,
# tag, account, article or artifact) and the format it was rendered in (`incidents.documents.FORMAT`). A get whose
# document is current answers these bytes without rendering (docs/performance.md, "Stored documents").
incident_documents = sa.Table(
    "incident_documents",
    metadata,
    sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
    sa.Column("incident_number", sa.BigInteger, primary_key=True),
    sa.Column("summaries_version", sa.BigInteger, nullable=False),
    sa.Column("format", sa.BigInteger, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)
