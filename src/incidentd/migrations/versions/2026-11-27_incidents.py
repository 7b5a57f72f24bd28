"""incidents and their links to users, parts, articles, tags and accounts

Revision ID: 0003_incidents
Revises: 0002_objects
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0003_incidents"
down_revision = "0002_objects"
branch_labels = None
depends_on = None

_INCIDENT = ["dev_org_id", "incident_number"]


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        _INCIDENT,
        ["incidents.dev_org_id", "incidents.number"],
        name=f"fk_{table}_incidents",
        ondelete="CASCADE",
    )


def _target_fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["dev_org_id", column],
        [f"{target}.dev_org_id", f"{target}.number"],
        name=f"fk_{table}_{target}",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    create_table(
        "incidents",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        # Byte order on both databases ("C" on PostgreSQL = SQLite's BINARY), so sorting by title and cursors
        # over it behave the same everywhere.
        sa.Column("title", sa.String(256).with_variant(sa.String(256, collation="C"), "postgresql"), nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("severity", sa.Integer, nullable=True),
        sa.Column("reported_by", sa.Integer, nullable=True),
        sa.Column("source", sa.Integer, nullable=True),
        sa.Column("stage_number", sa.BigInteger, nullable=False),
        sa.Column("subtype", sa.String(128), nullable=True),
        sa.Column("identified_date", sa.BigInteger, nullable=True),
        sa.Column("acknowledged_date", sa.BigInteger, nullable=True),
        sa.Column("mitigated_date", sa.BigInteger, nullable=True),
        sa.Column("target_close_date", sa.BigInteger, nullable=True),
        sa.Column("actual_close_date", sa.BigInteger, nullable=True),
        sa.Column("impact_count", sa.Integer, nullable=True),
        sa.Column("is_staged", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("staged_info", sa.JSON, nullable=True),
        sa.Column("sync_external_reference", sa.Text, nullable=True),
        sa.Column("sync_origin_system", sa.String(256), nullable=True),
        sa.Column("sync_in_status", sa.String(32), nullable=True),
        sa.Column("sync_in_date", sa.BigInteger, nullable=True),
        sa.Column("sync_in_unit", sa.String(512), nullable=True),
        sa.Column("sync_in_history", sa.String(512), nullable=True),
        sa.Column("sync_out_status", sa.String(32), nullable=True),
        sa.Column("sync_out_date", sa.BigInteger, nullable=True),
        sa.Column("sync_out_unit", sa.String(512), nullable=True),
        sa.Column("sync_out_history", sa.String(512), nullable=True),
        sa.Column("external_created_date", sa.BigInteger, nullable=True),
        sa.Column("external_modified_date", sa.BigInteger, nullable=True),
        sa.Column("external_closed_date", sa.BigInteger, nullable=True),
        sa.Column("custom_fields", sa.JSON, nullable=True),
        sa.Column("custom_schema_fragments", sa.JSON, nullable=True),
        sa.Column("stage_notes", sa.Text, nullable=True),
        sa.Column("created_by", sa.BigInteger, nullable=False),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger, nullable=False),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_incidents"),
        sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name="fk_incidents_dev_orgs"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "stage_number"],
            ["custom_stages.dev_org_id", "custom_stages.number"],
            name="fk_incidents_custom_stages",
        ),
    )
    # Keyset pagination: each sort key with the id as tie breaker, per org.
    for column in (
        "created_date",
        "modified_date",
        "identified_date",
        "acknowledged_date",
        "mitigated_date",
        "target_close_date",
        "actual_close_date",
        "severity",
        "title",
    ):
        op.create_index(f"ix_incidents_dev_org_id_{column}_number", "incidents", ["dev_org_id", column, "number"])
    op.create_index(
        "ix_incidents_dev_org_id_stage_number_created_date_number",
        "incidents",
        ["dev_org_id", "stage_number", "created_date", "number"],
    )
    op.create_index(
        "ix_incidents_dev_org_id_severity_created_date_number",
        "incidents",
        ["dev_org_id", "severity", "created_date", "number"],
    )
    create_table(
        "incident_owners",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "incident_number", "position", name="pk_incident_owners"),
        _incident_fk("incident_owners"),
        _target_fk("incident_owners", "user_number", "users"),
    )
    op.create_index(
        "ix_incident_owners_by_target",
        "incident_owners",
        ["dev_org_id", "user_number", "incident_number"],
    )
    create_table(
        "incident_parts",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("part_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "incident_number", "position", name="pk_incident_parts"),
        _incident_fk("incident_parts"),
        _target_fk("incident_parts", "part_number", "parts"),
    )
    op.create_index(
        "ix_incident_parts_by_target",
        "incident_parts",
        ["dev_org_id", "part_number", "incident_number"],
    )
    # pia, playbooks and related_docs: articles in one of three roles.
    create_table(
        "incident_articles",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.BigInteger, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("article_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "incident_number", "role", "position", name="pk_incident_articles"),
        _incident_fk("incident_articles"),
        _target_fk("incident_articles", "article_number", "articles"),
    )
    op.create_index(
        "ix_incident_articles_by_target",
        "incident_articles",
        ["dev_org_id", "article_number", "role", "incident_number"],
    )
    create_table(
        "incident_tags",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("tag_number", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("dev_org_id", "incident_number", "position", name="pk_incident_tags"),
        _incident_fk("incident_tags"),
        _target_fk("incident_tags", "tag_number", "tags"),
    )
    op.create_index(
        "ix_incident_tags_by_target",
        "incident_tags",
        ["dev_org_id", "tag_number", "incident_number"],
    )
    create_table(
        "incident_customers",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("incident_number", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("account_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "incident_number", "position", name="pk_incident_customers"),
        _incident_fk("incident_customers"),
        _target_fk("incident_customers", "account_number", "accounts"),
    )
    op.create_index(
        "ix_incident_customers_by_target",
        "incident_customers",
        ["dev_org_id", "account_number", "incident_number"],
    )


def downgrade() -> None:
    for table in ("incident_customers", "incident_tags", "incident_articles", "incident_parts", "incident_owners"):
        op.drop_table(table)
    op.drop_table("incidents")
