"""Who a web request acts as (the session cookie), CSRF checks on every POST, cookie flags and the login
throttle. HTTP-side only: the rules of sessions live in `logins.service`."""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

import structlog
from limits import RateLimitItemPerSecond
from limits.aio.strategies import FixedWindowRateLimiter
from litestar import Request
from litestar.datastructures import Cookie

from incidentd.config import Settings
from incidentd.errors import Forbidden, TooManyRequests, Unauthenticated
from incidentd.logins import service as logins
from incidentd.ratelimit import open_storage

log = structlog.get_logger("incidentd")

SESSION_COOKIE = "incidentd_session"
# Before a session exists (the login forms), CSRF is a double submit: this cookie must equal the form's field.
LOGIN_CSRF_COOKIE = "incidentd_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# POSTs that need no session (their CSRF token is the login cookie's).
LOGIN_POSTS = ("/web/login", "/web/login/link")


class LoginRequired(Exception):
    """The page needs a session and the request has none (or a dead one): go to the login page."""


def is_https(request: Request[Any, Any, Any], settings: Settings) -> bool:
    """Served over HTTPS, directly or behind a proxy the settings trust to say so (X-Forwarded-Proto)."""
    if request.url.scheme == "https":
        return True
    if settings.web_trust_forwarded_proto:
        forwarded = request.headers.get("x-forwarded-proto", "")
        return forwarded.split(",")[0].strip().lower() == "https"
    return False


def cookie(request: Request[Any, Any, Any], key: str, value: str, max_age: int) -> Cookie:
    """A cookie scripts cannot read, sent on top-level navigations from other sites but not on their POSTs."""
    settings: Settings = request.app.state.settings
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request, settings),
    )


def expired_cookie(request: Request[Any, Any, Any], key: str) -> Cookie:
    return cookie(request, key, "", 0)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


async def current_session(request: Request[Any, Any, Any]) -> logins.WebSession:
    """The request's live session (read once per request); LoginRequired without one."""
    found = request.scope.get("state", {}).get("web_session")
    if isinstance(found, logins.WebSession):
        return found
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise LoginRequired()
    try:
        session = await logins.session_of(request.app.state.db, secret)
    except Unauthenticated:
        raise LoginRequired() from None
    request.scope.setdefault("state", {})["web_session"] = session  # type: ignore[typeddict-unknown-key]
    return session


async def check_csrf(request: Request[Any, Any, Any]) -> None:
    """Every POST to the web app carries the CSRF token of its session (form field or X-CSRF-Token header, as
    htmx sends it); the login forms carry their double-submit cookie's value. 403 otherwise."""
    if request.method != "POST":
        return
    given = request.headers.get(CSRF_HEADER)
    if not given:
        given = (await request.form()).get(CSRF_FIELD)
    if request.url.path in LOGIN_POSTS:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    else:
        expected = (await current_session(request)).csrf_token
    if not isinstance(given, str) or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("the form's CSRF token is missing or does not match; reload the page and try again")


class LoginThrottle:
    """Login attempts per window, counted per email and per client address with the `limits` storage the API's
    rate limits use (memory:// or Redis). Storage failures let the attempt through (like the API's limits)."""

    def __init__(self, settings: Settings) -> None:
        self.item = RateLimitItemPerSecond(settings.web_login_attempts, settings.web_login_window_seconds)
        self.limiter = FixedWindowRateLimiter(open_storage(settings.rate_limit_storage))

    async def count(self, *keys: str) -> None:
        """Count one attempt under each key; TooManyRequests when any is over its limit."""
        for key in keys:
            try:
                allowed = await self.limiter.hit(self.item, "web-login", key)
                reset, _ = (0.0, 0) if allowed else await self.limiter.get_window_stats(self.item, "web-login", key)
            except Exception as exc:
                log.warning("login throttle storage unreachable; not counting", error=str(exc))
                return
            if not allowed:
                retry_after = max(1, int(reset - time.time()) + 1)
                raise TooManyRequests(
                    f"too many login attempts; try again in {retry_after} seconds", retry_after=retry_after
                )


def login_throttle(request: Request[Any, Any, Any]) -> LoginThrottle:
    state = request.app.state
    throttle = state.get("login_throttle")
    if throttle is None:
        throttle = state.login_throttle = LoginThrottle(state.settings)
    assert isinstance(throttle, LoginThrottle)
    return throttle
