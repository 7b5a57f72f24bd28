"""Settings: the user's API tokens (create: the secret is shown once, on the answer to the POST; revoke), through
the identity service the API's /auth-tokens.* use; the org's webhooks (`webhook_pages`) and users
(`user_pages`); the stage diagram and custom fields of incidents, read-only. One page; each section's forms post
to their own routes, which answer with this page (errors next to the field) or redirect back to it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from incidentd.customization import schemas as customization_schemas
from incidentd.customization import service as customization
from incidentd.customization.service import StageDiagram, StageInfo
from incidentd.errors import ApiError
from incidentd.identity import schemas as identity_schemas
from incidentd.identity import service as identity
from incidentd.incidents import moves
from incidentd.logins.service import WebSession
from incidentd.webapp import forms, security
from incidentd.webapp.responses import page, redirect
from incidentd.webhooks import schemas as webhook_schemas
from incidentd.webhooks import service as webhooks_service

MAX_HINT = 256  # the column's size


MAX_LISTED = 100  # users and schema fragments listed (the first page, in id order)
# The event types incidentd sends (the rest of DevRev's list never happens here); a new webhook takes the
# incident events unless told otherwise.
INCIDENT_EVENTS = ("incident_created", "incident_updated", "incident_deleted")
SENT_EVENTS = webhooks_service.SENT_EVENT_TYPES
DEFAULTS: dict[str, Any] = {
    "created": None,
    "errors": {},
    "form": {"token_hint": "", "expires_in": ""},
    "webhook_created": None,
    "webhook_errors": {},
    "webhook_form": {"url": "", "event_types": list(INCIDENT_EVENTS)},
    "user_errors": {},
    "user_form": {"email": "", "display_name": ""},
    "login_link": None,
    "user_notice": None,
}


async def settings_page_response(
    request: Request[Any, Any, Any], session: WebSession, status_code: int = 200, **context: Any
) -> Response[str]:
    """The settings page as the session's user may see it (webhooks for admins only), with `context` on top."""
    db = request.app.state.db
    principal = session.principal
    tokens = await identity.list_tokens(db, principal, subject=None, requested_token_type=None)
    webhooks = (
        await webhooks_service.list_webhooks(db, principal, webhook_schemas.WebhooksListRequest())
        if principal.is_admin
        else []
    )
    users = await identity.list_dev_users(db, principal, identity_schemas.DevUsersListRequest(limit=MAX_LISTED))
    diagram = await moves.org_diagram(db, principal)
    fragments, _, _ = await customization.list_fragments(
        db, principal, customization_schemas.CustomSchemaFragmentsListRequest(leaf_type=["incident"], limit=MAX_LISTED)
    )
    return page(
        "settings.html",
        status_code,
        session=session,
        nav="settings",
        tokens=sorted(tokens, key=lambda token: token.issued_at or "", reverse=True),
        webhooks=webhooks,
        sent_events=SENT_EVENTS,
        users=users.dev_users,
        stages=stage_rows(diagram),
        custom_fields=[(fragment, field) for fragment in fragments for field in fragment.fields or []],
        **{**DEFAULTS, **context},
    )


def stage_rows(diagram: StageDiagram) -> list[tuple[StageInfo, bool, list[StageInfo]]]:
    """(stage, is the start, the stages it may move to) in diagram order."""
    ordered = sorted(diagram.stages.values(), key=lambda stage: (stage.ordinal, stage.number))
    return [(stage, stage.number == diagram.start, diagram.allowed_from(stage.number)) for stage in ordered]


@get("/web/settings", include_in_schema=False)
async def settings_page(request: Request[Any, Any, Any]) -> Response[str]:
    return await settings_page_response(request, await security.current_session(request))


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
        return await settings_page_response(request, session, 400, errors=forms.field_errors(exc), form=given)
    return await settings_page_response(request, session, created=issued.secret)


@post("/web/settings/tokens/revoke", include_in_schema=False, status_code=303)
async def revoke_token(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    token_id = forms.text(await request.form(), "token_id", 256)
    try:
        await identity.revoke_token(request.app.state.db, session.principal.org, token_id, caller=session.principal)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await settings_page_response(request, session, exc.status, errors={"_": exc.message})
    return redirect(request, "/web/settings")


ROUTES = [settings_page, create_token, revoke_token]
