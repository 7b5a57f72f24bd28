"""incidents.search: the incidents matching a full-text query and the list filters, most relevant first, each
with a highlighted snippet. Relevance is bounded (incidentd.search.service): the newest matches in tiers, then the
older ones. A cursor holds the window the first page ranked and the last row's (place, number): pages follow one
another without repeating or skipping an incident while the index stands still, and later pages skip finding the
window again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row

from incidentd.db import Database
from incidentd.errors import BadRequestError
from incidentd.incidents import reading, repository, search_repository
from incidentd.incidents.rendering import render
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


async def search_incidents(db: Database, principal: Principal, request: IncidentsSearchRequest) -> SearchPage:
    """A page of the org's incidents matching the query and every filter, by relevance."""
    org = principal.org
    query = search.parse(request.query)
    limit = pages.page_limit(request.limit)
    fingerprint = reading.request_fingerprint(request, "incidents.search")
    resume = _resume(request.cursor, fingerprint)
    async with db.read() as conn:
        clauses = repository.where(org.dev_org_id, await reading.filter_spec(conn, org, request, now_ms()))
        window = resume.window if resume else await search.rank_window(db, conn, org.dev_org_id, query)
        placed: list[tuple[int, Row[Any]]] = []
        for place in search.places(window) if window else []:
            wanted = limit + 1 - len(placed)  # one more than the page: is there a next one?
            if wanted <= 0:
                break
            if resume and place.order < resume.place:
                continue
            below = resume.number if resume and place.order == resume.place else None
            matches = search.matches(db, org.dev_org_id, query, place, below=below)
            found = await search_repository.newest(conn, org.dev_org_id, matches, clauses, limit=wanted)
            placed += [(place.order, row) for row in found]
        more = len(placed) > limit
        placed = placed[:limit]
        rows = [row for _, row in placed]
        texts = await search.texts(conn, org.dev_org_id, [row.number for row in rows])
        rendered = await render(conn, org, rows)
    results = []
    for row, incident in zip(rows, rendered, strict=True):
        comments, tags = texts.get(row.number, (None, None))
        fields = (row.body, comments, row.title, tags)
        results.append(IncidentSearchResult(incident=incident, snippet=search.snippet(query, fields)))
    if not more or window is None:
        return SearchPage(results, None)
    last_place, last_row = placed[-1]
    last = [CURSOR_KIND, last_place, last_row.number, window.lowest, window.highest]
    return SearchPage(results, cursors.encode(last, "after", fingerprint))


def _resume(cursor: str | None, fingerprint: str) -> Resume | None:
    """Where a cursor continues; a cursor of another operation, or forged, is 400."""
    if not cursor:
        return None
    position = cursors.decode(cursor, fingerprint)
    values = position.values
    if len(values) != 5 or values[0] != CURSOR_KIND or position.direction != "after":
        raise BadRequestError("the cursor was made for another operation")
    place, number, lowest, highest = values[1:]
    if not all(type(value) is int and value >= 0 for value in (place, number, lowest, highest)):
        raise BadRequestError("the cursor is not valid")
    assert isinstance(place, int) and isinstance(number, int) and isinstance(lowest, int) and isinstance(highest, int)
    return Resume(search.Window(lowest, highest), place, number)
