"""Page 1, the board: open incidents first, filters, sort, cursor pages, counts per stage, refreshed on the
events stream's incident events (static/live.js, webapp.live) or else by htmx polling. Everything comes from
`incidents.list_incidents` / `group_incidents`, as the API's list and group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get

from incidentd.errors import ApiError
from incidentd.incidents import moves
from incidentd.incidents import schemas as incident_schemas
from incidentd.incidents import service as incidents
from incidentd.webapp import forms, security
from incidentd.webapp.responses import page

BOARD_PAGE = 25
SORTS = [
    ("created_date:desc", "Newest first"),
    ("created_date:asc", "Oldest first"),
    ("modified_date:desc", "Recently changed"),
    ("severity:asc", "Most severe first"),
    ("title:asc", "Title A to Z"),
]
STATUSES = ("open", "closed", "all")
MAX_CURSOR = 2048


@dataclass
class BoardFilters:
    status: str = "open"
    q: str = ""
    sort: str = SORTS[0][0]
    stage: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    owner: list[str] = field(default_factory=list)
    part: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> BoardFilters:
        query = request.query_params

        def many(name: str) -> list[str]:
            return [value[:256] for value in query.getall(name, []) if value][:50]

        status = query.get("status") or "open"
        sort = query.get("sort") or SORTS[0][0]
        return cls(
            status=status if status in STATUSES else "open",
            q=(query.get("q") or "").strip()[:256],
            sort=sort if sort in {value for value, _ in SORTS} else SORTS[0][0],
            stage=many("stage"),
            severity=many("severity"),
            owner=many("owner"),
            part=many("part"),
            tag=many("tag"),
        )

    def query(self, **extra: str | None) -> str:
        pairs: list[tuple[str, str]] = [("status", self.status), ("sort", self.sort)]
        if self.q:
            pairs.append(("q", self.q))
        for name in ("stage", "severity", "owner", "part", "tag"):
            pairs += [(name, value) for value in getattr(self, name)]
        pairs += [(name, value) for name, value in extra.items() if value]
        return urlencode(pairs)

    def request_filters(self, stages: list[moves.StageInfo], *, with_stage: bool = True) -> dict[str, Any]:
        """The filters of incidents.list / incidents.group this board shows."""
        document: dict[str, Any] = {}
        if with_stage:
            if self.stage:
                document["stage"] = self.stage
            elif self.status != "all":
                wanted_final = self.status == "closed"
                document["stage"] = [stage.name for stage in stages if stage.is_final == wanted_final]
        elif self.status != "all" and not self.stage:
            wanted_final = self.status == "closed"
            document["stage"] = [stage.name for stage in stages if stage.is_final == wanted_final]
        if self.severity:
            document["severity"] = self.severity
        if self.owner:
            document["owned_by"] = self.owner
        if self.part:
            document["applies_to_parts"] = self.part
        if self.tag:
            document["tags"] = self.tag
        if self.q:
            document["title_contains"] = self.q
        return document


async def _results(request: Request[Any, Any, Any], filters: BoardFilters, stages: list[Any]) -> dict[str, Any]:
    """The board's rows (one page) and its page links."""
    session = await security.current_session(request)
    cursor = (request.query_params.get("cursor") or "")[:MAX_CURSOR] or None
    mode = request.query_params.get("mode")
    document = {
        **filters.request_filters(stages),
        "sort_by": [filters.sort],
        "limit": BOARD_PAGE,
        "cursor": cursor,
        "mode": mode if mode in ("after", "before") else None,
    }
    refresh = request.app.state.settings.web_board_refresh_seconds
    context: dict[str, Any] = {
        "incidents": [],
        "next_url": None,
        "prev_url": None,
        "error": None,
        "refresh_seconds": refresh,
        "results_url": f"/web/incidents/results?{filters.query(cursor=cursor, mode=document['mode'])}",
    }
    try:
        listing = forms.convert(document, incident_schemas.IncidentsListRequest)
        found = await incidents.list_incidents(request.app.state.db, session.principal, listing)
    except ApiError as exc:
        context["error"] = f"These filters cannot be shown: {exc.message}"
        return context
    context["incidents"] = found.incidents
    if found.next_cursor and len(found.incidents) == BOARD_PAGE:
        context["next_url"] = f"/web/incidents?{filters.query(cursor=found.next_cursor, mode='after')}"
    if cursor and found.prev_cursor:
        context["prev_url"] = f"/web/incidents?{filters.query(cursor=found.prev_cursor, mode='before')}"
    return context


@get(["/", "/web", "/web/incidents"], include_in_schema=False)
async def board(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    db = request.app.state.db
    stages = await moves.org_stages(db, session.principal)
    filters = BoardFilters.of(request)
    choices = await forms.choices(db, session.principal, [stage.name for stage in stages])
    results = await _results(request, filters, stages)
    return page(
        "board.html",
        400 if results["error"] else 200,
        session=session,
        nav="board",
        filters=filters,
        choices=choices,
        sorts=SORTS,
        counts_url=f"/web/incidents/counts?{filters.query()}",
        **results,
    )


@get("/web/incidents/results", include_in_schema=False)
async def board_results(request: Request[Any, Any, Any]) -> Response[str]:
    """The board's rows alone: what htmx fetches (on an event, or polling) to keep the board current."""
    session = await security.current_session(request)
    stages = await moves.org_stages(request.app.state.db, session.principal)
    results = await _results(request, BoardFilters.of(request), stages)
    return page("_board_results.html", 400 if results["error"] else 200, **results)


@get("/web/incidents/counts", include_in_schema=False)
async def board_counts(request: Request[Any, Any, Any]) -> Response[str]:
    """Incidents per stage under the board's filters (stage and open/closed aside), from incidents.group."""
    session = await security.current_session(request)
    db = request.app.state.db
    stages = await moves.org_stages(db, session.principal)
    filters = BoardFilters.of(request)
    document = {
        **filters.request_filters(stages, with_stage=False),
        "group_by": "stage",
        "limit": 100,
        "limit_per_group": 1,
    }
    try:
        grouping = forms.convert(document, incident_schemas.IncidentsGroupRequest)
        found = await incidents.group_incidents(db, session.principal, grouping)
    except ApiError as exc:
        return page(
            "error.html",
            exc.status,
            session=session,
            heading="Counts unavailable",
            status=exc.status,
            message=exc.message,
        )
    counts = [(group.key.name or str(group.key.value), group.total) for group in found.groups]
    return page("_board_counts.html", counts=counts)


ROUTES = [board, board_results, board_counts]
