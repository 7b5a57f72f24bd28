"""objects an incident points at: tags, parts, accounts, articles, artifacts, stage diagrams

Revision ID: 0002_objects
Revises: 0001_identity
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from incidentd.migrations.tables import create_table

revision = "0002_objects"
down_revision = "0001_identity"
branch_labels = None
depends_on = None


def _audit() -> list[sa.Column]:
    return [
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger, nullable=True),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
    ]


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["dev_org_id"], ["dev_orgs.id"], name=f"fk_{table}_dev_orgs")


def upgrade() -> None:
    create_table(
        "tags",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("name_key", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("style_color", sa.String(16), nullable=True),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_tags"),
        _org_fk("tags"),
        sa.UniqueConstraint("dev_org_id", "name_key", name="uq_tags_dev_org_id_name_key"),
    )
    create_table(
        "accounts",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("display_name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("domains", sa.JSON, nullable=True),
        sa.Column("external_refs", sa.JSON, nullable=True),
        sa.Column("websites", sa.JSON, nullable=True),
        sa.Column("tier", sa.String(64), nullable=True),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_accounts"),
        _org_fk("accounts"),
    )
    create_table(
        "parts",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("part_type", sa.String(20), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("parent_number", sa.BigInteger, nullable=True),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_parts"),
        _org_fk("parts"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "parent_number"],
            ["parts.dev_org_id", "parts.number"],
            name="fk_parts_parts",
        ),
    )
    op.create_index("ix_parts_dev_org_id_parent_number", "parts", ["dev_org_id", "parent_number"])
    create_table(
        "part_owners",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("part_number", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "part_number", "position", name="pk_part_owners"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "part_number"],
            ["parts.dev_org_id", "parts.number"],
            name="fk_part_owners_parts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"],
            ["users.dev_org_id", "users.number"],
            name="fk_part_owners_users",
        ),
    )
    create_table(
        "articles",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("article_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("resource_url", sa.Text, nullable=True),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_articles"),
        _org_fk("articles"),
    )
    create_table(
        "article_owners",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("article_number", sa.BigInteger, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("user_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "article_number", "position", name="pk_article_owners"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "article_number"],
            ["articles.dev_org_id", "articles.number"],
            name="fk_article_owners_articles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "user_number"],
            ["users.dev_org_id", "users.number"],
            name="fk_article_owners_users",
        ),
    )
    # An artifact belongs to at most one parent (an incident, an article, ...): parent_kind + parent_number.
    create_table(
        "artifacts",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("file_name", sa.String(512), nullable=False),
        sa.Column("file_type", sa.String(256), nullable=True),
        sa.Column("file_size", sa.BigInteger, nullable=True),
        sa.Column("storage_key", sa.String(256), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("uploaded_date", sa.BigInteger, nullable=True),
        sa.Column("parent_kind", sa.String(40), nullable=True),
        sa.Column("parent_number", sa.BigInteger, nullable=True),
        sa.Column("parent_position", sa.Integer, nullable=True),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_artifacts"),
        _org_fk("artifacts"),
    )
    op.create_index(
        "ix_artifacts_dev_org_id_parent_kind_parent_number",
        "artifacts",
        ["dev_org_id", "parent_kind", "parent_number"],
    )
    create_table(
        "custom_states",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("is_final", sa.Boolean, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_custom_states"),
        _org_fk("custom_states"),
    )
    create_table(
        "custom_stages",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("state_number", sa.BigInteger, nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_custom_stages"),
        _org_fk("custom_stages"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "state_number"],
            ["custom_states.dev_org_id", "custom_states.number"],
            name="fk_custom_stages_custom_states",
        ),
    )
    # A stage diagram: the stages of one leaf type (and subtype), where to start, and the allowed moves.
    create_table(
        "stage_diagrams",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("leaf_type", sa.String(40), nullable=False),
        sa.Column("subtype", sa.String(128), nullable=True),
        sa.Column("start_stage_number", sa.BigInteger, nullable=False),
        *_audit(),
        sa.PrimaryKeyConstraint("dev_org_id", "number", name="pk_stage_diagrams"),
        _org_fk("stage_diagrams"),
    )
    create_table(
        "stage_transitions",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("diagram_number", sa.BigInteger, nullable=False),
        sa.Column("from_stage_number", sa.BigInteger, nullable=False),
        sa.Column("to_stage_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "dev_org_id", "diagram_number", "from_stage_number", "to_stage_number", name="pk_stage_transitions"
        ),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "diagram_number"],
            ["stage_diagrams.dev_org_id", "stage_diagrams.number"],
            name="fk_stage_transitions_stage_diagrams",
            ondelete="CASCADE",
        ),
    )
    create_table(
        "stage_diagram_stages",
        sa.Column("dev_org_id", sa.Integer, nullable=False),
        sa.Column("diagram_number", sa.BigInteger, nullable=False),
        sa.Column("stage_number", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dev_org_id", "diagram_number", "stage_number", name="pk_stage_diagram_stages"),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "diagram_number"],
            ["stage_diagrams.dev_org_id", "stage_diagrams.number"],
            name="fk_stage_diagram_stages_stage_diagrams",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_org_id", "stage_number"],
            ["custom_stages.dev_org_id", "custom_stages.number"],
            name="fk_stage_diagram_stages_custom_stages",
        ),
    )


def downgrade() -> None:
    for table in (
        "stage_diagram_stages",
        "stage_transitions",
        "stage_diagrams",
        "custom_stages",
        "custom_states",
        "artifacts",
        "article_owners",
        "articles",
        "part_owners",
        "parts",
        "accounts",
        "tags",
    ):
        op.drop_table(table)
