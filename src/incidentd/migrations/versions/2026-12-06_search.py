"""search: the full-text index of incidents (title, body, comments, tag names), built for the incidents that exist

SQLite: an FTS5 table; PostgreSQL: a table of tsvector documents with a GIN index, built with the configured text
search language (INCIDENTD_SEARCH_LANGUAGE, default `simple`). See incidentd/search/repository.py. The backfill
writes every existing incident's document with the statement the server uses to rebuild the index; the downgrade
drops the index.

Revision ID: 0011_search
Revises: 0010_webhooks
Create Date: 2026-12-06
"""

import os

import sqlalchemy as sa
from alembic import op

from incidentd.search.repository import rebuild_statements

revision = "0011_search"
down_revision = "0010_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE incident_search USING fts5(dev_org_id UNINDEXED, incident_number UNINDEXED, "
            "title, body, comments, tags, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    else:
        op.execute(
            "CREATE TABLE incident_search (dev_org_id integer NOT NULL, incident_number bigint NOT NULL, "
            "comments text, tags text, document tsvector NOT NULL, PRIMARY KEY (dev_org_id, incident_number), "
            "FOREIGN KEY (dev_org_id, incident_number) REFERENCES incidents (dev_org_id, number) ON DELETE CASCADE)"
        )
        op.execute("CREATE INDEX ix_incident_search_document ON incident_search USING gin (document)")
    language = os.environ.get("INCIDENTD_SEARCH_LANGUAGE", "simple")
    for statement, parameters in rebuild_statements(dialect, language):
        op.get_bind().execute(sa.text(statement), parameters)


def downgrade() -> None:
    op.execute("DROP TABLE incident_search")
