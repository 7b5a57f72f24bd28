"""Helpers for migrations that must work on SQLite, PostgreSQL and a Citus coordinator alike.

`create_table` is `op.create_table`, except on a Citus coordinator whose tables the new table's foreign keys point
at are already Citus's (a database upgraded step by step, or after a downgrade): Citus refuses a foreign key from a
plain table to a distributed one. There the table is created without its foreign keys, handed to Citus
(`incidentd.citus.distribute`: distributed on dev_org_id, co-located, or a reference table when it has no
dev_org_id), and then the foreign keys are added, with the same names and rules. The schema is the same either way;
on SQLite, PostgreSQL and a Citus database migrated from empty in one run (distributed at the end) nothing differs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from incidentd import citus


def create_table(name: str, *elements: Any, **kw: Any) -> Any:
    """`op.create_table(name, *elements, **kw)` that also works on an already distributed Citus schema.

    Foreign keys must be `sa.ForeignKeyConstraint` elements (not `sa.ForeignKey` inside a column) to be deferred;
    a column's `sa.ForeignKey` to `dev_orgs` (a reference table) works on Citus as it is."""
    keys = [element for element in elements if isinstance(element, sa.ForeignKeyConstraint)]
    bind = op.get_bind()
    referred = {_referred_table(key) for key in keys}
    if not keys or not citus.is_citus(bind) or not citus.manages_any(bind, sorted(referred)):
        return op.create_table(name, *elements, **kw)
    deferred = {id(key) for key in keys}
    table = op.create_table(name, *(element for element in elements if id(element) not in deferred), **kw)
    citus.distribute(bind)
    for key in keys:
        assert isinstance(key.name, str), f"a foreign key of {name} without a name"
        op.create_foreign_key(
            key.name,
            name,
            _referred_table(key),
            [str(column) for column in key.column_keys],
            [element.target_fullname.split(".")[-1] for element in key.elements],
            onupdate=key.onupdate,
            ondelete=key.ondelete,
            deferrable=key.deferrable,
            initially=key.initially,
            match=key.match,
        )
    return table


def _referred_table(key: sa.ForeignKeyConstraint) -> str:
    tables = {element.target_fullname.rsplit(".", 1)[0] for element in key.elements}
    assert len(tables) == 1, f"{key.name} refers to {tables}"
    return tables.pop()
