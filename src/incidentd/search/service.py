"""The search index's rules: which writes refresh which documents, and the matching that incidents.search ranks.

Every write of indexed text refreshes the documents it changed in its own transaction, so a committed write is
searchable at once and a rolled-back one never was: an incident's create, update (title, body or tags) and
delete; a comment's create, update and delete; a tag's rename and delete (every incident carrying the tag: the
cost of a rename grows with them). Comments that are private or expiring are not indexed (a search shows nothing
a member might not read); neither are change events.

Ranking is bounded (docs/compatibility.md, "Relevance"): the newest INCIDENTD_SEARCH_RANK_WINDOW matches of a
query come first, in tiers (every wanted part in the title; some in the title or tag names; the rest), newest
first within a tier; older matches follow, newest first. Each place in that order is one span of incident
numbers and one index expression, read newest first from the index: nothing scores every match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.search import repository
from incidentd.search.query import TIERS, SearchQuery, parse
from incidentd.search.snippets import snippet

__all__ = [
    "Place",
    "SearchQuery",
    "Window",
    "matches",
    "parse",
    "places",
    "rank_window",
    "rebuild",
    "refresh",
    "refresh_tagged",
    "remove",
    "snippet",
    "texts",
]
OLDER = len(TIERS)  # the place of matches older than the window, after every tier


@dataclass(frozen=True)
class Window:
    """The span of incident numbers whose matches are ranked in tiers: from the oldest of the query's newest
    INCIDENTD_SEARCH_RANK_WINDOW matches (0 when they are all of them) to the newest."""

    lowest: int
    highest: int


@dataclass(frozen=True)
class Place:
    """One place of the ranking: the matches in one tier (None: any) numbered `low` to `high`, newest first."""

    order: int
    tier: int | None
    low: int
    high: int


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


async def rank_window(db: Database, conn: AsyncConnection, dev_org_id: int, query: SearchQuery) -> Window | None:
    """The window of a query's newest matches (None: nothing matches); a later page gets it from its cursor, so
    that every page ranks the same incidents."""
    size = db.settings.search_rank_window
    span = await repository.newest_span(
        conn, dev_org_id, _expression(db, query, None), db.settings.search_language, size
    )
    if span is None:
        return None
    found, lowest, highest = span
    return Window(lowest if found >= size else 0, highest)


def places(window: Window) -> list[Place]:
    """The ranking's places in order: the window's tiers, then the matches older than the window."""
    ranked = [Place(tier, tier, window.lowest, window.highest) for tier in TIERS]
    return ranked + ([Place(OLDER, None, 0, window.lowest - 1)] if window.lowest > 0 else [])


def matches(
    db: Database, dev_org_id: int, query: SearchQuery, place: Place, *, below: int | None = None
) -> sa.Subquery:
    """(number, position) of the org's incidents matching a parsed query in one place of the ranking (numbered
    under `below`, when given); by position descending is the ranking's order within the place."""
    high = place.high if below is None else min(place.high, below - 1)
    return repository.matches(
        "sqlite" if db.is_sqlite else "postgresql",
        dev_org_id,
        _expression(db, query, place.tier),
        db.settings.search_language,
        place.low,
        high,
    )


def _expression(db: Database, query: SearchQuery, tier: int | None) -> str:
    return query.fts5(tier) if db.is_sqlite else query.tsquery(tier)


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
