"""Logging in (password or one-time link) and out. The session secret goes into an HttpOnly cookie once."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from incidentd.errors import ApiError, Unauthenticated
from incidentd.identity import service as identity
from incidentd.logins import service as logins
from incidentd.webapp import forms, security
from incidentd.webapp.responses import page, redirect

LOGIN_CSRF_SECONDS = 3600


def _safe_next(value: Any) -> str:
    """Where to go after logging in: a path of this site only (never `//host` or a scheme: no open redirect)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value[:2048]
    return "/web/incidents"


async def _several_orgs(request: Request[Any, Any, Any]) -> bool:
    async with request.app.state.db.read() as conn:
        return len(await identity.list_orgs(conn)) > 1


def _login_page(request: Request[Any, Any, Any], status: int = 200, **context: Any) -> Response[str]:
    token = security.new_login_csrf()
    return page(
        "login.html",
        status,
        cookies=[security.cookie(request, security.LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_SECONDS)],
        login_csrf=token,
        session=None,
        **context,
    )


@get("/web/login", include_in_schema=False)
async def login_form(request: Request[Any, Any, Any]) -> Response[str]:
    return _login_page(
        request,
        next=_safe_next(request.query_params.get("next")),
        ask_org=await _several_orgs(request),
        org="",
        email="",
        error=None,
    )


@post("/web/login", include_in_schema=False, status_code=303)
async def log_in(request: Request[Any, Any, Any]) -> Response[str]:
    form = await request.form()
    email = forms.text(form, "email", logins.MAX_EMAIL).strip()
    password = forms.text(form, "password", logins.MAX_PASSWORD)
    org = forms.text(form, "org", 64).strip()
    target = _safe_next(form.get("next"))
    client = request.client.host if request.client else "unknown"
    await security.login_throttle(request).count(f"address/{client}", f"email/{org}/{email.lower()}")
    try:
        session = await logins.log_in(request.app.state.db, org or None, email, password)
    except ApiError as exc:  # a wrong password, or several orgs and none named
        status = 401 if isinstance(exc, Unauthenticated) else exc.status
        return _login_page(
            request, status, next=target, ask_org=await _several_orgs(request), org=org, email=email, error=exc.message
        )
    return _start(request, session, target)


def _start(request: Request[Any, Any, Any], session: logins.IssuedSession, target: str) -> Response[str]:
    cookies = [
        security.cookie(request, security.SESSION_COOKIE, session.secret, session.max_age_seconds),
        security.expired_cookie(request, security.LOGIN_CSRF_COOKIE),
    ]
    return redirect(request, target, cookies)


@get("/web/login/link/{secret:str}", include_in_schema=False)
async def login_link_form(request: Request[Any, Any, Any], secret: str) -> Response[str]:
    """A page with one button: link checkers that fetch the URL do not use the link up."""
    token = security.new_login_csrf()
    return page(
        "login_link.html",
        cookies=[security.cookie(request, security.LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_SECONDS)],
        login_csrf=token,
        secret=secret[:128],
        session=None,
        error=None,
    )


@post("/web/login/link", include_in_schema=False, status_code=303)
async def log_in_with_link(request: Request[Any, Any, Any]) -> Response[str]:
    form = await request.form()
    client = request.client.host if request.client else "unknown"
    await security.login_throttle(request).count(f"address/{client}")
    try:
        session = await logins.redeem_login_link(request.app.state.db, forms.text(form, "secret", 128))
    except Unauthenticated as exc:
        token = security.new_login_csrf()
        return page(
            "login_link.html",
            401,
            cookies=[security.cookie(request, security.LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_SECONDS)],
            login_csrf=token,
            secret="",
            session=None,
            error=exc.message,
        )
    return _start(request, session, "/web/incidents")


@post("/web/logout", include_in_schema=False, status_code=303)
async def log_out(request: Request[Any, Any, Any]) -> Response[str]:
    """End the session (its row is revoked, so a copy of the cookie stops working too)."""
    await security.current_session(request)  # the CSRF check has read it
    await logins.end_session(request.app.state.db, request.cookies.get(security.SESSION_COOKIE, ""))
    return redirect(request, "/web/login", [security.expired_cookie(request, security.SESSION_COOKIE)])


ROUTES = [login_form, log_in, login_link_form, log_in_with_link, log_out]
