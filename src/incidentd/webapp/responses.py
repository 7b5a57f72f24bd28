"""HTML responses of the web app, and the one function that turns an exception on a web page into an HTML page
(the API's JSON errors stay the API's)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotFoundException

from incidentd.errors import ApiError
from incidentd.web import handle_exception
from incidentd.webapp import rendering
from incidentd.webapp.security import LoginRequired

HTML = "text/html; charset=utf-8"
# Pages are about one user's data: never kept by shared caches, and never framed by another site.
PAGE_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # a login link's secret is in its URL
    "content-security-policy": "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}
HEADINGS = {403: "Not allowed", 404: "Not found", 429: "Slow down", 503: "Unavailable"}


def page(template: str, status_code: int = 200, cookies: list[Cookie] | None = None, **context: Any) -> Response[str]:
    return Response(
        rendering.render(template, **context),
        status_code=status_code,
        media_type=HTML,
        headers=PAGE_HEADERS,
        cookies=cookies or [],
    )


def redirect(request: Request[Any, Any, Any], location: str, cookies: list[Cookie] | None = None) -> Response[str]:
    """303 to `location`; for htmx, an HX-Redirect so that the whole page goes there."""
    if request.headers.get("hx-request") == "true":
        return Response("", status_code=200, headers={**PAGE_HEADERS, "hx-redirect": location}, cookies=cookies or [])
    return Response("", status_code=303, headers={**PAGE_HEADERS, "location": location}, cookies=cookies or [])


def web_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Exceptions on web pages: no session -> the login page; errors -> an HTML page with the API's status and
    message (unexpected ones are logged with a reference id by the API's handler)."""
    if isinstance(exc, LoginRequired):
        target = request.url.path if request.method == "GET" else "/web/incidents"
        query = f"?{request.url.query}" if request.method == "GET" and request.url.query else ""
        return redirect(request, "/web/login?" + urlencode({"next": target + query}))
    if isinstance(exc, NotFoundException):
        status, message = 404, "There is no page at this address."
    elif isinstance(exc, ApiError) and exc.status < 500:
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException) and exc.status_code < 500:
        status, message = exc.status_code, str(exc.detail)
    else:
        answer = handle_exception(request, exc)  # logs it; the body carries the reference id
        status = answer.status_code or 500
        body = msgspec.json.decode(answer.content) if isinstance(answer.content, bytes) else {}
        message = str(body.get("message", "something went wrong")) + (
            f" (reference {body['reference_id']})" if "reference_id" in body else ""
        )
    session = request.scope.get("state", {}).get("web_session")
    response = page(
        "error.html",
        status,
        heading=HEADINGS.get(status, "Something went wrong"),
        code=status,
        message=message,
        session=session,
    )
    if isinstance(exc, ApiError):
        response.headers.update(exc.headers())
    return response
