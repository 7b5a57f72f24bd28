"""Statements built once: rows of an org by their numbers.

Building a SQLAlchemy statement (coercing columns and values, computing its cache key from scratch) costs more than
SQLite takes to answer it: 170 µs against 65 µs for the same lookup by number with the statement built once and
its values bound at execution. Rendering an incident runs such lookups for every kind of object it points at.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

ORG: sa.BindParameter[int] = sa.bindparam("dev_org_id", type_=sa.Integer)
NUMBERS: sa.BindParameter[list[int]] = sa.bindparam("numbers", expanding=True)


class RowsByNumber:
    """`select` (default: every column of `table`) of the rows of one org whose `key` (default: `number`) is among
    some numbers, as {key: row}; one query, none for no numbers."""

    def __init__(self, table: sa.Table, select: sa.Select[Any] | None = None, key: str = "number") -> None:
        self.key = key
        self.statement = (select if select is not None else sa.select(table)).where(
            table.c.dev_org_id == ORG, table.c[key].in_(NUMBERS)
        )

    async def __call__(self, conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, Row[Any]]:
        wanted = sorted(set(numbers))
        if not wanted:
            return {}
        rows = (await conn.execute(self.statement, {"dev_org_id": dev_org_id, "numbers": wanted})).all()
        return {getattr(row, self.key): row for row in rows}
