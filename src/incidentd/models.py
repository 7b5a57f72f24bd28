"""Imports every storage table so that the metadata is complete (alembic, schema drift test)."""

from incidentd.identity import tables as identity_tables
from incidentd.kit import counters

__all__ = ["counters", "identity_tables"]
