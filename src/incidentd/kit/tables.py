"""The schema every domain's storage tables belong to, and column helpers they share."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def audit_columns() -> list[sa.Column[int]]:
    """created_by / created_date / modified_by / modified_date (user numbers and epoch milliseconds)."""
    return [
        sa.Column("created_by", sa.BigInteger),
        sa.Column("created_date", sa.BigInteger, nullable=False),
        sa.Column("modified_by", sa.BigInteger),
        sa.Column("modified_date", sa.BigInteger, nullable=False),
    ]


def org_key() -> list[sa.Column[int]]:
    """The leading key of every table: the dev org, then the object's per-org number."""
    return [
        sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True),
    ]
