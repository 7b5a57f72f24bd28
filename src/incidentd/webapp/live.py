"""`GET /web/events.stream`: the logged-in user's org's events as Server-Sent Events, for the pages' live updates
(static/live.js refreshes the board and the incident page when an event arrives; docs/web.md "Live updates").

The same stream as the API's `GET /events.stream` (webhooks.stream.open_stream: the same messages, resumption
from Last-Event-ID, per-org and per-process caps, shutdown), opened with the session cookie instead of a token.
The session is checked again every heartbeat under the pages' rules (revoked by logout or an admin, idle or
absolute expiry, user deactivated) without counting as activity, so a forgotten tab does not keep it alive."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Stream

from incidentd.errors import Unauthenticated
from incidentd.logins import service as logins
from incidentd.webapp import security
from incidentd.webhooks import stream


@get("/web/events.stream", include_in_schema=False, media_type="text/event-stream")
async def web_events_stream(request: Request[Any, Any, Any]) -> Stream:
    """401 without a live session: a redirect to the login page would be an HTML answer EventSource cannot use."""
    try:
        session = await security.current_session(request)
    except security.LoginRequired:
        raise Unauthenticated("log in to follow the events stream") from None
    db = request.app.state.db
    secret = request.cookies.get(security.SESSION_COOKIE, "")

    async def check() -> object:
        return await logins.session_of(db, secret, touch=False)

    after = stream.resume_point(request.headers.get("last-event-id"), None)
    frames = await stream.open_stream(db, session.principal, check, after)
    return Stream(frames, media_type="text/event-stream", headers=stream.HEADERS)


ROUTES = [web_events_stream]
