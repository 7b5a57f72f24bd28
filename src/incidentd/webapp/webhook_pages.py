"""Settings, webhooks (admins): create one (its signing secret shown once, on the answer to the POST), see its
status and deliveries (state, attempts, last status, latency), replay a delivery, send a test event, delete it.
Everything goes through the webhooks services the API's /webhooks.* use; their 403 and 404 are the pages'."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post

from incidentd.errors import ApiError
from incidentd.logins.service import WebSession
from incidentd.webapp import forms, security
from incidentd.webapp.responses import page, redirect
from incidentd.webapp.settings_pages import settings_page_response
from incidentd.webhooks import deliveries
from incidentd.webhooks import schemas as webhook_schemas
from incidentd.webhooks import service as webhooks

MAX_ID = 256
MAX_URL = 2048
MAX_CURSOR = 512
DELIVERIES_PAGE = 50


def _passes_through(exc: ApiError) -> bool:
    """Not allowed and not found are whole error pages; the rest is shown next to the form."""
    return exc.status in (401, 403, 404)


async def _webhook_page(
    request: Request[Any, Any, Any], session: WebSession, reference: str, status_code: int = 200, **context: Any
) -> Response[str]:
    db = request.app.state.db
    hook = await webhooks.get(db, session.principal, reference)
    cursor = (request.query_params.get("cursor") or "")[:MAX_CURSOR] or None
    listed = await deliveries.list_deliveries(
        db,
        session.principal,
        webhook_schemas.WebhooksDeliveriesListRequest(id=hook.id, cursor=cursor, limit=DELIVERIES_PAGE),
    )
    next_url = (
        f"/web/settings/webhook?{urlencode({'id': hook.id, 'cursor': listed.next_cursor})}"
        if listed.next_cursor
        else None
    )
    return page(
        "webhook.html",
        status_code,
        session=session,
        nav="settings",
        webhook=hook,
        deliveries=listed.deliveries,
        next_url=next_url,
        **{"tested": None, "notice": None, "error": None, **context},
    )


@post("/web/settings/webhooks", include_in_schema=False, status_code=200)
async def create_webhook(request: Request[Any, Any, Any]) -> Response[str]:
    """A new webhook; its secret (to check signatures) is shown in this answer only."""
    session = await security.current_session(request)
    form = await request.form()
    given = {"url": forms.text(form, "url", MAX_URL), "event_types": forms.values(form, "event_types")}
    try:
        created = await webhooks.create(
            request.app.state.db,
            session.principal,
            forms.convert(given, webhook_schemas.WebhooksCreateRequest),
        )
    except ApiError as exc:
        if _passes_through(exc):
            raise
        return await settings_page_response(
            request, session, 400, webhook_errors=forms.field_errors(exc), webhook_form=given
        )
    return await settings_page_response(request, session, webhook_created=created)


@get("/web/settings/webhook", include_in_schema=False)
async def webhook_page(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    return await _webhook_page(request, session, (request.query_params.get("id") or "")[:MAX_ID])


@post("/web/settings/webhook/test", include_in_schema=False, status_code=200)
async def test_webhook(request: Request[Any, Any, Any]) -> Response[str]:
    """Send a signed test event now and show what the receiver answered."""
    session = await security.current_session(request)
    reference = forms.text(await request.form(), "id", MAX_ID)
    tested = await deliveries.send_test(request.app.state.db, session.principal, reference)
    return await _webhook_page(request, session, reference, tested=tested)


@post("/web/settings/webhook/replay", include_in_schema=False, status_code=200)
async def replay_delivery(request: Request[Any, Any, Any]) -> Response[str]:
    """Send one delivery again (a new attempt due now, the same event id)."""
    session = await security.current_session(request)
    form = await request.form()
    reference = forms.text(form, "id", MAX_ID)
    event_id = forms.text(form, "event_id", 512)
    try:
        await deliveries.replay(
            request.app.state.db,
            session.principal,
            forms.convert({"id": reference, "event_id": event_id}, webhook_schemas.WebhooksReplayRequest),
        )
    except ApiError as exc:
        if _passes_through(exc):
            raise
        return await _webhook_page(request, session, reference, 400, error=exc.message)
    return await _webhook_page(request, session, reference, notice=f"Delivery {event_id} is queued again.")


@post("/web/settings/webhook/delete", include_in_schema=False, status_code=303)
async def delete_webhook(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    reference = forms.text(await request.form(), "id", MAX_ID)
    await webhooks.delete(request.app.state.db, session.principal, reference)
    return redirect(request, "/web/settings#webhooks-heading")


ROUTES = [create_webhook, webhook_page, test_webhook, replay_delivery, delete_webhook]
