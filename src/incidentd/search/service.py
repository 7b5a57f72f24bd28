"""The search index's rules: which writes refresh which documents, and the matching that incidents.search ranks.

Every write of indexed text refreshes the documents it changed in its own transaction, so a committed write is
searchable at once and a rolled-back one never was: an incident's create, update (title, body or tags) and
delete; a comment's create, update and delete; a tag's rename and delete (every incident carrying the tag: the
cost of a rename grows with them). Comments that are private or expiring are not indexed (a search shows nothing
a member might not read); neither are change events.

Ranking is bounded (docs/compatibility.md, "Relevance"): the newest INCIDENTD_SEARCH_RANK_WINDOW matches of a
query come first, in tiers (every wanted part in the title; some in the title or tag names; the rest), newest
first within a tier; older matches follow, newest first. Each place in that order is one index expression read
newest first, span of numbers by span: first the org's newest `size` numbers (every match there is in the
window), then, only when a page needs more, the rest of the window, whose floor is found then. Nothing scores or
counts every match."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.search import repository
from incidentd.search.query import TIERS, SearchQuery, parse
from incidentd.search.snippets import snippet

__all__ = [
    "PLACES",
    "SearchQuery",
    "Window",
    "find_floor",
    "matches",
    "open_window",
    "parse",
    "prepare",
    "rebuild",
    "refresh",
    "refresh_tagged",
    "remove",
    "snippet",
    "spans",
    "texts",
]
OLDER = len(TIERS)  # the place of matches older than the window, after every tier
PLACES = (*TIERS, OLDER)


@dataclass(frozen=True)
class Window:
    """The incidents a search ranks in tiers: the `size` newest of those numbered up to `highest` (the org's
    newest when the search began) that match, from `lowest` (0 when they are all the matches; None until a page
    needs it). Every match numbered from `sure` up is in the window (its matches span at least `size` numbers),
    so a page found there needs no `lowest`: finding it reads the whole window."""

    highest: int
    size: int
    lowest: int | None = None

    @property
    def sure(self) -> int:
        return max(0, self.highest - self.size + 1)


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


async def prepare(db: Database, conn: AsyncConnection, query: SearchQuery) -> SearchQuery:
    """The query as this search reads it: on SQLite, its long prefix words replaced by the few words of the index
    they start (the same matches, read lazily instead of gathered whole)."""
    if not db.is_sqlite or not query.long_prefixes:
        return query
    expansions = await repository.words_starting_with(conn, query.long_prefixes)
    return dataclasses.replace(query, expansions=tuple(sorted(expansions.items())))


async def open_window(db: Database, conn: AsyncConnection, dev_org_id: int) -> Window | None:
    """The window of a new search (None: the org has no incident); later pages get it from their cursor, so that
    every page ranks the same incidents."""
    highest = await repository.newest_number(conn, dev_org_id)
    if highest is None:
        return None
    size = db.settings.search_rank_window
    return Window(highest, size, 0 if highest <= size else None)


async def find_floor(
    db: Database, conn: AsyncConnection, dev_org_id: int, query: SearchQuery, window: Window
) -> Window:
    """The window with its `lowest`: the oldest of the query's `size` newest matches (0 when there are fewer)."""
    if window.lowest is not None:
        return window
    expression = _expression(db, query, None)
    language = db.settings.search_language
    span = await repository.newest_span(conn, dev_org_id, expression, language, window.highest, window.size)
    found, lowest = span if span else (0, 0)
    return Window(window.highest, window.size, lowest if found >= window.size else 0)


def spans(window: Window, place: int) -> list[tuple[int, int]]:
    """The spans of numbers a place's matches are in, newest first, as far as the window is known (without its
    `lowest`, only the part of the tiers that every window holds)."""
    if window.lowest is None:
        return [] if place == OLDER else [(window.sure, window.highest)]
    if place == OLDER:
        return [(0, window.lowest - 1)]
    return [(window.sure, window.highest), (window.lowest, window.sure - 1)]


def matches(db: Database, dev_org_id: int, query: SearchQuery, place: int, low: int, high: int) -> sa.Subquery:
    """(number, position) of the org's incidents numbered `low` to `high` matching a parsed query in one place of
    the ranking; by position descending is the ranking's order within the place. A span no longer than the window
    is read number by number (at most that many documents tested), a longer one through the index's matches."""
    return repository.matches(
        "sqlite" if db.is_sqlite else "postgresql",
        dev_org_id,
        _expression(db, query, None if place == OLDER else place),
        db.settings.search_language,
        low,
        high,
        by_number=high - low < db.settings.search_rank_window,
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
    async with db.write(alone=True) as conn:
        await repository.clear(conn)
        await repository.rebuild(conn, db.settings.search_language)
        return await repository.count(conn)
