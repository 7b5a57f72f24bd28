"""The web app: server-rendered pages (Jinja2 + htmx) for responders, served at `/` and under `/web`, beside the
API (whose paths are unchanged). A delivery layer like the API routes: it calls the same services as the
logged-in user, and holds no rules of its own. See docs/web.md."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.exceptions import NotFoundException

from incidentd.web import handle_exception
from incidentd.webapp import (
    assets,
    board,
    incident_links,
    incident_pages,
    incident_timeline,
    login_pages,
    security,
    settings_pages,
)
from incidentd.webapp.responses import web_exception

# Paths the API's token authentication leaves alone (regular expression; the pages use sessions).
AUTH_EXCLUDE = r"^/$|^/web(/.*)?$"


def is_web_path(path: str) -> bool:
    return path in ("/", "/web") or path.startswith("/web/")


@get(f"{assets.STATIC_PATH}/{{name:str}}", include_in_schema=False)
async def static_file(name: str) -> Response[bytes]:
    """A static file by its hashed name, cacheable for a year (its name changes when its content does)."""
    found = assets.find(name)
    if found is None:
        raise NotFoundException()
    return Response(found.content, media_type=found.media_type, headers={"cache-control": assets.IMMUTABLE})


def router() -> Router:
    """Every page; each POST passes the CSRF check first."""
    return Router(
        path="/",
        route_handlers=[
            *login_pages.ROUTES,
            *board.ROUTES,
            *incident_pages.ROUTES,
            *incident_timeline.ROUTES,
            *incident_links.ROUTES,
            *settings_pages.ROUTES,
            static_file,
        ],
        before_request=security.check_csrf,
        include_in_schema=False,
    )


def handle_any_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The app's exception handler: HTML pages for web paths (a missing page too), DevRev errors for the API."""
    # The scope's path, not request.url: building the URL decodes the query string, which may not be UTF-8.
    if is_web_path(request.scope["path"]):
        return web_exception(request, exc)
    return handle_exception(request, exc)
