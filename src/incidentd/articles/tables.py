import sqlalchemy as sa

from incidentd.db import metadata
from incidentd.kit.tables import audit_columns, org_key

articles = sa.Table(
    "articles",
    metadata,
    *org_key(),
    sa.Column("title", sa.String(256), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("article_type", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32)),
    sa.Column("resource_url", sa.Text),
    *audit_columns(),
)

article_owners = sa.Table(
    "article_owners",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("article_number", sa.BigInteger, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("user_number", sa.BigInteger, nullable=False),
    sa.ForeignKeyConstraint(
        ["dev_org_id", "article_number"], ["articles.dev_org_id", "articles.number"], ondelete="CASCADE"
    ),
    sa.ForeignKeyConstraint(["dev_org_id", "user_number"], ["users.dev_org_id", "users.number"]),
)
