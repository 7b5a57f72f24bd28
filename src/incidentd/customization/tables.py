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
