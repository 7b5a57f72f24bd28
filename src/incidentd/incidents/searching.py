"""incidents.search: the incidents matching a full-text query and the list filters, most relevant first, each
with a highlighted snippet. Relevance is bounded (incidentd.search.service): the newest matches in tiers, then the
older ones. A page is read place by place (tier 0, 1, 2, then older), each newest first, until it is full. A
cursor holds the window the first page ranked (and its floor once a page needed it) and the last row's (place,
number): pages follow one another without repeating or skipping an incident while the index stands still."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.config import MAX_SEARCH_RANK_WINDOW
from incidentd.db import Database
from incidentd.errors import BadRequestError
from incidentd.incidents import reading, repository, search_repository
from incidentd.incidents.search_schemas import IncidentSearchResult, IncidentsSearchRequest
from incidentd.kit import cursors, pages
from incidentd.kit.time import now_ms
from incidentd.principal import Principal
from incidentd.search import service as search

CURSOR_KIND = "search"


@dataclass(frozen=True)
class SearchPage:
    results: list[IncidentSearchResult]
    next_cursor: str | None


@dataclass(frozen=True)
class Resume:
    """Where a cursor continues: the first page's window, and after the incident `number` in place `place`."""

    window: search.Window
    place: int
    number: int


async def search_incidents(
    db: Database, principal: Principal, request: IncidentsSearchRequest, *, encoded: bool = False
) -> SearchPage:
    """A page of the org's incidents matching the query and every filter, by relevance (incidents from their stored
    documents where current, `encoded` as in `reading.get`)."""
    org = principal.org
    query = search.parse(request.query)
    limit = pages.page_limit(request.limit)
    fingerprint = reading.request_fingerprint(request, "incidents.search")
    resume = _resume(request.cursor, fingerprint)
    async with db.read() as conn:
        clauses = repository.where(org.dev_org_id, await reading.filter_spec(conn, org, request, now_ms()))
        window = resume.window if resume else await search.open_window(db, conn, org.dev_org_id)
        placed: list[tuple[int, Row[Any]]] = []
        if window is not None:
            prepared = await search.prepare(db, conn, query)
            window, placed = await _placed(db, conn, org.dev_org_id, prepared, clauses, window, resume, limit + 1)
        more = len(placed) > limit
        placed = placed[:limit]
        rows = [row for _, row in placed]
        texts = await search.texts(conn, org.dev_org_id, [row.number for row in rows])
        rendered = await reading.from_documents(conn, org, rows, encoded=encoded)
    results = []
    for row, incident in zip(rows, rendered, strict=True):
        comments, tags = texts.get(row.number, (None, None))
        fields = (row.body, comments, row.title, tags)
        results.append(IncidentSearchResult(incident=incident, snippet=search.snippet(query, fields)))
    if not more or window is None:
        return SearchPage(results, None)
    last_place, last_row = placed[-1]
    last = [CURSOR_KIND, last_place, last_row.number, window.highest, window.size, window.lowest]
    return SearchPage(results, cursors.encode(last, "after", fingerprint))


async def _placed(
    db: Database,
    conn: AsyncConnection,
    dev_org_id: int,
    query: search.SearchQuery,
    clauses: list[Any],
    window: search.Window,
    resume: Resume | None,
    wanted: int,
) -> tuple[search.Window, list[tuple[int, Row[Any]]]]:
    """Up to `wanted` incidents in rank order, each with its place, read place by place and span by span newest
    first; and the window, with its floor if they needed it."""
    placed: list[tuple[int, Row[Any]]] = []
    for place in search.PLACES:
        if resume and place < resume.place:
            continue
        below = resume.number if resume and place == resume.place else None
        searched = 0  # of the place's spans
        while len(placed) < wanted:
            spans = search.spans(window, place)
            for low, high in spans[searched:]:
                high = high if below is None else min(high, below - 1)
                if low <= high and len(placed) < wanted:
                    matches = search.matches(db, dev_org_id, query, place, low, high)
                    found = await search_repository.newest(
                        conn, dev_org_id, matches, clauses, limit=wanted - len(placed)
                    )
                    placed += [(place, row) for row in found]
            searched = len(spans)
            if window.lowest is not None or len(placed) >= wanted:
                break
            # The page goes on below the span every window holds: find where this one ends.
            window = await search.find_floor(db, conn, dev_org_id, query, window)
    return window, placed


def _resume(cursor: str | None, fingerprint: str) -> Resume | None:
    """Where a cursor continues; a cursor of another operation, or forged, is 400."""
    if not cursor:
        return None
    position = cursors.decode(cursor, fingerprint)
    values = position.values
    if len(values) != 6 or values[0] != CURSOR_KIND or position.direction != "after":
        raise BadRequestError("the cursor was made for another operation")
    place, number, highest, size, lowest = values[1:]
    if not (
        _count(place)
        and place in search.PLACES
        and _count(number)
        and _count(highest)
        and _count(size)
        and 0 < size <= MAX_SEARCH_RANK_WINDOW
        and (lowest is None or _count(lowest))
    ):
        raise BadRequestError("the cursor is not valid")
    return Resume(search.Window(highest, size, lowest), place, number)


def _count(value: object) -> TypeGuard[int]:
    return type(value) is int and value >= 0
