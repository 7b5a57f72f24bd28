"""Settings: the user's API tokens (create: the secret is shown once, on the answer to the POST; revoke),
through the identity service the API's /auth-tokens.* use."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from incidentd.errors import ApiError
from incidentd.identity import schemas as identity_schemas
from incidentd.identity import service as identity
from incidentd.logins.service import WebSession
from incidentd.webapp import forms, security
from incidentd.webapp.responses import page, redirect

MAX_HINT = 256  # the column's size


async def _settings_page(
    request: Request[Any, Any, Any], session: WebSession, status_code: int = 200, **context: Any
) -> Response[str]:
    tokens = await identity.list_tokens(
        request.app.state.db, session.principal, subject=None, requested_token_type=None
    )
    return page(
        "settings.html",
        status_code,
        session=session,
        nav="settings",
        tokens=sorted(tokens, key=lambda token: token.issued_at or "", reverse=True),
        **{"created": None, "errors": {}, "form": {"token_hint": "", "expires_in": ""}, **context},
    )


@get("/web/settings", include_in_schema=False)
async def settings_page(request: Request[Any, Any, Any]) -> Response[str]:
    return await _settings_page(request, await security.current_session(request))


@post("/web/settings/tokens", include_in_schema=False, status_code=200)
async def create_token(request: Request[Any, Any, Any]) -> Response[str]:
    """A new token of the logged-in user; its secret is in this answer only (never stored, never redirected)."""
    session = await security.current_session(request)
    form = await request.form()
    given = {
        "token_hint": forms.text(form, "token_hint", MAX_HINT)[:MAX_HINT],
        "expires_in": forms.text(form, "expires_in", 16),
    }
    try:
        document: dict[str, Any] = {"token_hint": given["token_hint"] or None}
        if given["expires_in"].strip():
            document["expires_in"] = (
                int(given["expires_in"]) if given["expires_in"].strip().isdigit() else given["expires_in"]
            )
        request_struct = forms.convert(document, identity_schemas.AuthTokensCreateRequest)
        issued = await identity.create_token(
            request.app.state.db,
            session.principal,
            act_as=None,
            expires_in_days=request_struct.expires_in,
            token_hint=request_struct.token_hint,
            requested_token_type=None,
            scope=None,
        )
    except ApiError as exc:
        return await _settings_page(request, session, 400, errors=forms.field_errors(exc), form=given)
    return await _settings_page(request, session, created=issued.secret)


@post("/web/settings/tokens/revoke", include_in_schema=False, status_code=303)
async def revoke_token(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    token_id = forms.text(await request.form(), "token_id", 256)
    try:
        await identity.revoke_token(request.app.state.db, session.principal.org, token_id, caller=session.principal)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _settings_page(request, session, exc.status, errors={"_": exc.message})
    return redirect(request, "/web/settings")


ROUTES = [settings_page, create_token, revoke_token]
