"""Wire types of incidents.search (an extension: DevRev has no full-text search over incidents)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from incidentd.incidents.schemas import Incident, IncidentFilters
from incidentd.kit.bounds import Cursor
from incidentd.kit.pages import PageLimit
from incidentd.kit.wire import Response
from incidentd.search.query import MAX_QUERY


class IncidentsSearchRequest(IncidentFilters, kw_only=True):
    """Words, "phrases" and -exclusions (docs/compatibility.md), and every list filter."""

    query: Annotated[str, msgspec.Meta(max_length=MAX_QUERY)]
    cursor: Cursor | None = None
    limit: PageLimit | None = None


class IncidentSearchResult(Response, kw_only=True):
    incident: Incident
    # A few words of the best matching field, HTML-escaped; matching words wrapped in <mark>...</mark>.
    snippet: str


class IncidentsSearchResponse(Response):
    results: list[IncidentSearchResult]
    next_cursor: str | None = None
