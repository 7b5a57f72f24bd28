import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

custom_states = sa.Table(
    "custom_states",
    metadata,
    *org_key(),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("is_final", sa.Boolean, nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    *audit_columns(),
)

custom_stages = sa.Table(
    "custom_stages",
    metadata,
    *org_key(),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("state_number", sa.BigInteger, nullable=False),
    *audit_columns(),
    sa.ForeignKeyConstraint(["dev_org_id", "state_number"], ["custom_states.dev_org_id", "custom_states.number"]),
)

# The stages of one leaf type (and subtype), where new objects start, and the allowed moves between stages.
stage_diagrams = sa.Table(
    "stage_diagrams",
    metadata,
    *org_key(),
    sa.Column("leaf_type", sa.String(40), nullable=False),
    sa.Column("subtype", sa.String(128)),
    sa.Column("start_stage_number", sa.BigInteger, nullable=False),
    *audit_columns(),
)

stage_transitions = sa.Table(
    "stage_transitions",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("diagram_number", sa.BigInteger, primary_key=True),
    sa.Column("from_stage_number", sa.BigInteger, primary_key=True),
    sa.Column("to_stage_number", sa.BigInteger, primary_key=True),
    sa.ForeignKeyConstraint(
        ["dev_org_id", "diagram_number"], ["stage_diagrams.dev_org_id", "stage_diagrams.number"], ondelete="CASCADE"
    ),
)

stage_diagram_stages = sa.Table(
    "stage_diagram_stages",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("diagram_number", sa.BigInteger, primary_key=True),
    sa.Column("stage_number", sa.BigInteger, primary_key=True),
    sa.ForeignKeyConstraint(
        ["dev_org_id", "diagram_number"], ["stage_diagrams.dev_org_id", "stage_diagrams.number"], ondelete="CASCADE"
    ),
    sa.ForeignKeyConstraint(["dev_org_id", "stage_number"], ["custom_stages.dev_org_id", "custom_stages.number"]),
)

# Custom schema fragments. A fragment is immutable: setting a changed fragment writes a new version (a new
# number) in the same lineage, and objects keep the number of the version they were written with.
schema_fragments = sa.Table(
    "schema_fragments",
    metadata,
    *org_key(),
    sa.Column("fragment_type", sa.String(32), nullable=False),  # tenant_fragment | custom_type_fragment | app_fragment
    sa.Column("leaf_type", sa.String(64), nullable=False),
    sa.Column("subtype", sa.String(128)),
    sa.Column("app", sa.String(48)),
    sa.Column("lineage", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous_number", sa.BigInteger),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("is_deprecated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("stage_diagram_number", sa.BigInteger),
    sa.Column("fields", sa.JSON, nullable=False),  # the field descriptors, as DevRev's schema-field-descriptor
    sa.Column("details", sa.JSON, nullable=False),  # display names and the other descriptive parts, echoed back
    *audit_columns(),
    sa.ForeignKeyConstraint(
        ["dev_org_id", "stage_diagram_number"], ["stage_diagrams.dev_org_id", "stage_diagrams.number"]
    ),
    sa.UniqueConstraint("dev_org_id", "lineage", "version"),
)
