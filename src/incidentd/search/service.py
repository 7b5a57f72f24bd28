"""The search index's rules: which writes refresh which documents, and the matching that incidents.search ranks.

Every write of indexed text refreshes the documents it changed in its own transaction, so a committed write is
searchable at once and a rolled-back one never was: an incident's create, update (title, body or tags) and
delete; a comment's create, update and delete; a tag's rename and delete (every incident carrying the tag: the
cost of a rename grows with them). Comments that are private or expiring are not indexed (a search shows nothing
a member might not read); neither are change events."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.search import repository
from incidentd.search.query import SearchQuery, parse
from incidentd.search.snippets import snippet

__all__ = ["SearchQuery", "matches", "parse", "rebuild", "refresh", "refresh_tagged", "remove", "snippet", "texts"]


async def refresh(
    db: Database, conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int], *, new: bool = False
) -> None:
    """Rebuild these incidents' documents inside the caller's transaction (`new`: they were just created)."""
    await repository.write(conn, dev_org_id, sorted(set(numbers)), db.settings.search_language, new=new)


async def remove(conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]) -> None:
    """Drop the documents of deleted incidents."""
    await repository.remove(conn, dev_org_id, sorted(set(numbers)))


async def tagged(conn: AsyncConnection, dev_org_id: int, tag_number: int) -> list[int]:
    """The incidents whose documents hold a tag's name (read before the tag goes, refreshed after)."""
    return await repository.tagged(conn, dev_org_id, tag_number)


async def refresh_tagged(db: Database, conn: AsyncConnection, dev_org_id: int, tag_number: int) -> None:
    """After a tag's rename: every incident carrying it."""
    await refresh(db, conn, dev_org_id, await tagged(conn, dev_org_id, tag_number))


def matches(db: Database, dev_org_id: int, query: SearchQuery) -> sa.Subquery:
    """(number, score) of the org's incidents matching a parsed query; a higher score ranks first."""
    if db.is_sqlite:
        return repository.matches("sqlite", dev_org_id, query.fts5(), db.settings.search_language)
    return repository.matches("postgresql", dev_org_id, query.tsquery(), db.settings.search_language)


async def texts(
    conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]
) -> dict[int, tuple[str | None, str | None]]:
    """{number: (comments, tag names)} as indexed (the snippet's other fields)."""
    return await repository.texts(conn, dev_org_id, numbers)


async def rebuild(db: Database) -> int:
    """Rebuild every org's index in one transaction (after changing INCIDENTD_SEARCH_LANGUAGE); the documents."""
    async with db.write() as conn:
        await repository.clear(conn)
        await repository.rebuild(conn, db.settings.search_language)
        return await repository.count(conn)
