"""SQL of incidents.search: the index's matches joined to the incidents the list filters keep, ranked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.incidents.tables import incidents
from incidentd.sqlite_inline import off_loop


async def ranked(
    conn: AsyncConnection,
    dev_org_id: int,
    matches: sa.Subquery,
    clauses: list[Any],
    *,
    after: tuple[float, int] | None,
    limit: int,
) -> Sequence[Row[Any]]:
    """Up to `limit` incidents (rows with their `score`) in rank order: score descending, then number descending,
    after the (score, number) of the previous page's last row. `clauses` are the list filters' (the org's first);
    with no other filter the page is cut from the matches before incidents are read."""
    keyset = []
    if after is not None:
        score, number = after
        keyset.append(sa.or_(matches.c.score < score, sa.and_(matches.c.score == score, matches.c.number < number)))
    order = (matches.c.score.desc(), matches.c.number.desc())
    if len(clauses) == 1:
        source = sa.select(matches.c.number, matches.c.score).where(*keyset).order_by(*order).limit(limit).subquery()
    else:
        source = matches
    query = (
        sa.select(incidents, source.c.score)
        .select_from(
            incidents.join(source, sa.and_(incidents.c.dev_org_id == dev_org_id, incidents.c.number == source.c.number))
        )
        .where(*clauses)
        .order_by(source.c.score.desc(), source.c.number.desc())
        .limit(limit)
    )
    if source is matches:
        query = query.where(*keyset)
    # Ranking reads every match (a common word may match most of an org): off the event loop on SQLite.
    with off_loop():
        return (await conn.execute(query)).all()
