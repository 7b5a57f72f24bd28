"""Imports every storage table so that the metadata is complete (alembic, schema drift test)."""

from incidentd.accounts import tables as accounts_tables
from incidentd.articles import tables as articles_tables
from incidentd.artifacts import tables as artifacts_tables
from incidentd.customization import tables as customization_tables
from incidentd.idempotency import tables as idempotency_tables
from incidentd.identity import tables as identity_tables
from incidentd.imports import tables as imports_tables
from incidentd.incidents import tables as incidents_tables
from incidentd.kit import counters
from incidentd.links import tables as links_tables
from incidentd.logins import tables as logins_tables
from incidentd.parts import tables as parts_tables
from incidentd.tags import tables as tags_tables
from incidentd.timeline import tables as timeline_tables
from incidentd.webhooks import tables as webhooks_tables

__all__ = [
    "accounts_tables",
    "articles_tables",
    "artifacts_tables",
    "counters",
    "customization_tables",
    "idempotency_tables",
    "identity_tables",
    "imports_tables",
    "incidents_tables",
    "links_tables",
    "logins_tables",
    "parts_tables",
    "tags_tables",
    "timeline_tables",
    "webhooks_tables",
]
