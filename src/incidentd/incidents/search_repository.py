"""SQL of incidents.search: the index's matches in one place of the ranking joined to the incidents the list
filters keep, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.incidents.tables import incidents
from incidentd.sqlite_inline import off_loop


async def newest(
    conn: AsyncConnection, dev_org_id: int, matches: sa.Subquery, clauses: list[Any], *, limit: int
) -> Sequence[Row[Any]]:
    """Up to `limit` incidents among `matches` that the list filters keep, newest first. `clauses` are the list
    filters' (the org's first); with no other filter the page is cut from the matches before incidents are read."""
    source = matches
    if len(clauses) == 1:
        source = (
            sa.select(matches.c.number, matches.c.position)
            .order_by(matches.c.position.desc())
            .limit(limit)
            .subquery("newest")
        )
    query = (
        sa.select(incidents)
        .select_from(
            incidents.join(source, sa.and_(incidents.c.dev_org_id == dev_org_id, incidents.c.number == source.c.number))
        )
        .where(*clauses)
        .order_by(source.c.position.desc())
        .limit(limit)
    )
    # With filters that keep few incidents, a place's matches are read until the page fills: off the event loop
    # on SQLite.
    with off_loop():
        return (await conn.execute(query)).all()
