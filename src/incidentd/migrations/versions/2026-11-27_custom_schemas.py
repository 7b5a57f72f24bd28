"""custom schema fragments (versioned), and the index of incidents' custom field values

Revision ID: 0005_custom_schemas
Revises: 0004_idempotency
Create Date: 2026-11-27
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0005_custom_schemas"
down_revision = "0004_idempotency"
branch_labels = None
depends_on = None

# The index key of one value, frozen here as `customization.fields.index_key` wrote it when this ran.
_MAX_KEY = 255


def _index_key(value: object) -> tuple[str, str | None]:
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(encoded) <= _MAX_KEY:
        return encoded, None
    return "#" + hashlib.sha256(encoded.encode()).hexdigest(), encoded


def upgrade() -> None:
    create_table(
        "schema_fragments",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("fragment_type", sa.String(32), nullable=False),
        sa.Column("leaf_type", sa.String(64), nullable=False),
        sa.Column("subtype", sa.String(128), nullable=True),
        sa.Column("app", sa.String(48), nullable=True),
        # Every version of one fragment shares its lineage (type, leaf type, subtype or app); versions count up.
        sa.Column("lineage", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_number", sa.BigInteger, nullable=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("is_deprecated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("stage_diagram_number", sa.BigInteger, nullable=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger, nullable=True),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_schema_fragments"),
        sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name="fk_schema_fragments_dev_orgs"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "stage_diagram_number"],
            ["stage_diagrams.dev_org_id", "stage_diagrams.number"],
            name="fk_schema_fragments_stage_diagrams",
        ),
        # Two concurrent sets of one fragment cannot both write the same next version.
        sa.UniqueConstraint("dev_org_id", "lineage", "version", name="uq_schema_fragments_dev_org_id_lineage_version"),
    )
    # One row per custom field value of an incident (one per distinct element of an array field, numbered from
    # 0): filters and group_by on custom fields are index range scans on (org, field, value) on both databases.
    create_table(
        "incident_custom_values",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("value_key", sa.String(255), nullable=False),
        sa.Column("long_value", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("dev_org_id", "incident_number", "name", "position", name="pk_incident_custom_values"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "incident_number"],
            ["incidents.dev_org_id", "incidents.number"],
            name="fk_incident_custom_values_incidents",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_incident_custom_values_by_value",
        "incident_custom_values",
        ["dev_org_id", "name", "value_key", "incident_number", "position"],
    )
    if op.get_bind().dialect.name == "postgresql":
        # A value's frequency depends on its field; PostgreSQL would multiply the two columns' frequencies as if
        # independent and, misjudging a filter's matches, sort thousands of rows where a page walks a few dozen.
        op.execute(
            "CREATE STATISTICS incident_custom_values_name_value (mcv, dependencies) "
            "ON name, value_key FROM incident_custom_values"
        )
    _index_existing_values()


def _index_existing_values() -> None:
    """Index the custom fields incidents already carry (written before fragments existed)."""
    connection = op.get_bind()
    incidents = sa.table("incidents", sa.column("dev_org_id"), sa.column("number"), sa.column("custom_fields", sa.JSON))
    values = sa.table(
        "incident_custom_values",
        sa.column("dev_org_id"),
        sa.column("incident_number"),
        sa.column("name"),
        sa.column("position"),
        sa.column("value_key"),
        sa.column("long_value"),
    )
    query = sa.select(incidents.c.dev_org_id, incidents.c.number, incidents.c.custom_fields).where(
        incidents.c.custom_fields.is_not(None)
    )
    rows = []
    for org, number, fields in connection.execute(query):
        for name, value in (fields or {}).items():
            keys: dict[str, str | None] = {}
            for element in value if isinstance(value, list) else [value]:
                if element is not None and not isinstance(element, dict | list):
                    keys.setdefault(*_index_key(element))
            for position, (key, long_value) in enumerate(keys.items()):
                rows.append(
                    {
                        "dev_org_id": org,
                        "incident_number": number,
                        "name": name[:128],
                        "position": position,
                        "value_key": key,
                        "long_value": long_value,
                    }
                )
    for start in range(0, len(rows), 1000):
        connection.execute(sa.insert(values), rows[start : start + 1000])


def downgrade() -> None:
    op.drop_table("incident_custom_values")
    op.drop_table("schema_fragments")
