"""Settings, users: admins invite a dev user (email and display name) and get a one-time login link to hand
over, as `incidentd login-link` prints one; they issue a new link for a user and make users admins or members.
Members see the list only. The rules (admins only, never the last admin) are the services'."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from incidentd.errors import ApiError
from incidentd.identity import schemas as identity_schemas
from incidentd.identity import service as identity
from incidentd.logins import service as logins
from incidentd.webapp import forms, security
from incidentd.webapp.settings_pages import settings_page_response

MAX_ID = 256
MAX_NAME = 256
MAX_EMAIL = 320


def _link(request: Request[Any, Any, Any], secret: str) -> str:
    """The login link as the browser reached this server (the path `login_pages` serves)."""
    return f"{str(request.base_url).rstrip('/')}/web/login/link/{secret}"


@post("/web/settings/users", include_in_schema=False, status_code=200)
async def invite_user(request: Request[Any, Any, Any]) -> Response[str]:
    """A new dev user (a member) and their one-time login link, shown in this answer only."""
    session = await security.current_session(request)
    form = await request.form()
    given = {
        "email": forms.text(form, "email", MAX_EMAIL).strip(),
        "display_name": forms.text(form, "display_name", MAX_NAME).strip(),
    }
    try:
        checked = forms.convert(
            {"email": given["email"], "display_name": given["display_name"] or None, "state": "active"},
            identity_schemas.DevUsersCreateRequest,
        )
        user, secret = await logins.invite(
            request.app.state.db, session.principal, email=checked.email, display_name=checked.display_name
        )
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await settings_page_response(request, session, 400, user_errors=forms.field_errors(exc), user_form=given)
    return await settings_page_response(request, session, login_link=(user, _link(request, secret)))


@post("/web/settings/users/link", include_in_schema=False, status_code=200)
async def new_login_link(request: Request[Any, Any, Any]) -> Response[str]:
    """A new one-time login link for a user of the org (someone who lost theirs, or has no password)."""
    session = await security.current_session(request)
    reference = forms.text(await request.form(), "user_id", MAX_ID)
    db = request.app.state.db
    try:
        secret = await logins.link_for(db, session.principal, reference)
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await settings_page_response(request, session, 400, user_errors={"_": exc.message})
    user = await identity.get_dev_user(db, session.principal, reference)
    return await settings_page_response(request, session, login_link=(user, _link(request, secret)))


@post("/web/settings/users/role", include_in_schema=False, status_code=200)
async def set_role(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    form = await request.form()
    reference = forms.text(form, "user_id", MAX_ID)
    role = forms.text(form, "role", 16)
    try:
        user = await identity.change_role(request.app.state.db, session.principal, reference, role)
    except ApiError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await settings_page_response(request, session, exc.status, user_errors={"_": exc.message})
    name = user.display_name or user.email or user.display_id
    return await settings_page_response(request, session, user_notice=f"{name} is now {role}.")


ROUTES = [invite_user, new_login_link, set_role]
