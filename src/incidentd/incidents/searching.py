"""incidents.search: the incidents matching a full-text query and the list filters, most relevant first, each
with a highlighted snippet. Cursors hold the last row's (score, number): pages follow one another without
repeating or skipping an incident while the index stands still."""

from __future__ import annotations

from dataclasses import dataclass

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


async def search_incidents(db: Database, principal: Principal, request: IncidentsSearchRequest) -> SearchPage:
    """A page of the org's incidents matching the query and every filter, by relevance."""
    org = principal.org
    query = search.parse(request.query)
    limit = pages.page_limit(request.limit)
    fingerprint = reading.request_fingerprint(request, "incidents.search")
    after = _after(request.cursor, fingerprint)
    async with db.read() as conn:
        clauses = repository.where(org.dev_org_id, await reading.filter_spec(conn, org, request, now_ms()))
        matches = search.matches(db, org.dev_org_id, query)
        rows = list(
            await search_repository.ranked(conn, org.dev_org_id, matches, clauses, after=after, limit=limit + 1)
        )
        more = len(rows) > limit
        rows = rows[:limit]
        texts = await search.texts(conn, org.dev_org_id, [row.number for row in rows])
        rendered = await render(conn, org, rows)
    results = []
    for row, incident in zip(rows, rendered, strict=True):
        comments, tags = texts.get(row.number, (None, None))
        fields = (row.body, comments, row.title, tags)
        results.append(IncidentSearchResult(incident=incident, snippet=search.snippet(query, fields)))
    last = [CURSOR_KIND, rows[-1].score, rows[-1].number] if more else None
    return SearchPage(results, cursors.encode(last, "after", fingerprint) if last else None)


def _after(cursor: str | None, fingerprint: str) -> tuple[float, int] | None:
    """The (score, number) a cursor continues after; a cursor of another operation, or forged, is 400."""
    if not cursor:
        return None
    position = cursors.decode(cursor, fingerprint)
    values = position.values
    if len(values) != 3 or values[0] != CURSOR_KIND or position.direction != "after":
        raise BadRequestError("the cursor was made for another operation")
    score, number = values[1], values[2]
    if not isinstance(score, int | float) or isinstance(score, bool) or type(number) is not int:
        raise BadRequestError("the cursor is not valid")
    return float(score), number
