"""Page 2, declare (one form, lands on the incident), and page 3, the incident: every field editable in place
(PIA and playbook articles too), stage buttons for the moves its diagram allows. What the page shows is read in
incident_view; its timeline and links have their own routes (incident_timeline, incident_links). Writes go
through `incidents.create` / `incidents.update` as the logged-in user, so created_by / modified_by and every
rule are the API's."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from incidentd.errors import ApiError, NotFound
from incidentd.incidents import moves
from incidentd.incidents import schemas as incident_schemas
from incidentd.incidents import service as incidents
from incidentd.webapp import forms, security
from incidentd.webapp.incident_view import incident_context, render_incident
from incidentd.webapp.responses import page, redirect

MAX_CURSOR = 2048

# The incident fields the page edits, each a function from the form to the update request's fields.
EDITS: dict[str, Any] = {
    "title": lambda form: {"title": forms.text(form, "value", incidents.MAX_TITLE)},
    "body": lambda form: {"body": forms.text(form, "value") or None},
    "severity": lambda form: {"severity": forms.text(form, "value", 32) or None},
    "reported_by": lambda form: {"reported_by": forms.text(form, "value", 32) or None},
    "owned_by": lambda form: {"owned_by": {"set": forms.values(form, "value")}},
    "applies_to_parts": lambda form: {"applies_to_parts": {"set": forms.values(form, "value")}},
    "tags": lambda form: {"tags": {"set": [{"tag_id": tag} for tag in forms.values(form, "value")]}},
    "customer_ids": lambda form: {"impact": {"customer_ids": {"set": forms.values(form, "value")}}},
    "pia": lambda form: {"pia": {"set": forms.values(form, "value")}},
    "playbooks": lambda form: {"playbooks": {"set": forms.values(form, "value")}},
    **{
        name: (lambda form, name=name: {name: forms.rfc3339(forms.text(form, "value", 32))})
        for name in ("identified_date", "acknowledged_date", "mitigated_date", "target_close_date")
    },
}


@get("/web/incidents/{reference:path}", include_in_schema=False)
async def incident_page(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """The incident named by its display id (INC-12) or DON; 404 page for one that is not the user's org's.
    `?before=` shows the timeline from an older page (the "Load older entries" link without JavaScript)."""
    session = await security.current_session(request)
    reference = reference.lstrip("/")
    if not reference:
        raise NotFound("no incident is named")
    before = (request.query_params.get("before") or "")[:MAX_CURSOR] or None
    return page("incident.html", **await incident_context(request, session, reference, before))


async def _update(
    request: Request[Any, Any, Any], reference: str, document: dict[str, Any], notice: str
) -> Response[str]:
    """Apply an update as the logged-in user; the incident again, with the error next to its field if any."""
    session = await security.current_session(request)
    db = request.app.state.db
    errors: dict[str, str] = {}
    try:
        change = forms.convert({"id": reference, **document}, incident_schemas.IncidentsUpdateRequest)
        await incidents.update(db, session.principal, change)
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors = forms.field_errors(exc)
    if not errors and request.headers.get("hx-request") != "true":
        return redirect(request, f"/web/incidents/{reference}")
    template = "_incident.html" if request.headers.get("hx-request") == "true" else "incident.html"
    return await render_incident(
        request, session, reference, 400 if errors else 200, template, errors=errors, notice=None if errors else notice
    )


@post("/web/incident/{reference:str}/fields/{name:str}", include_in_schema=False, status_code=200)
async def edit_field(request: Request[Any, Any, Any], reference: str, name: str) -> Response[str]:
    edit = EDITS.get(name)
    if edit is None:
        raise NotFound(f"the incident has no editable field '{name[:64]}'")
    return await _update(request, reference, edit(await request.form()), f"Saved {name.replace('_', ' ')}.")


@post("/web/incident/{reference:str}/stage", include_in_schema=False, status_code=200)
async def move_stage(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    stage = forms.text(await request.form(), "stage", 256)
    return await _update(request, reference, {"stage": {"stage": stage}}, f"Moved to {stage}.")


@get("/web/incidents/new", include_in_schema=False)
async def declare_form(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    db = request.app.state.db
    stages = await moves.org_stages(db, session.principal)
    empty = {"title": "", "severity": "sev-2", "body": "", "owned_by": [session.principal.user_don]}
    return page(
        "declare.html",
        session=session,
        nav="declare",
        choices=await forms.choices(db, session.principal, [stage.name for stage in stages]),
        form={"applies_to_parts": [], "tags": [], "customer_ids": [], **empty},
        errors={},
    )


@post("/web/incidents/new", include_in_schema=False, status_code=303)
async def declare(request: Request[Any, Any, Any]) -> Response[str]:
    session = await security.current_session(request)
    db = request.app.state.db
    form = await request.form()
    given = {
        "title": forms.text(form, "title", incidents.MAX_TITLE),
        "severity": forms.text(form, "severity", 32),
        "body": forms.text(form, "body"),
        "owned_by": forms.values(form, "owned_by"),
        "applies_to_parts": forms.values(form, "applies_to_parts"),
        "tags": forms.values(form, "tags"),
        "customer_ids": forms.values(form, "customer_ids"),
    }
    document: dict[str, Any] = {"title": given["title"]}
    if given["severity"]:
        document["severity"] = given["severity"]
    if given["body"]:
        document["body"] = given["body"]
    for name in ("owned_by", "applies_to_parts"):
        if given[name]:
            document[name] = given[name]
    if given["tags"]:
        document["tags"] = [{"tag_id": tag} for tag in given["tags"]]
    if given["customer_ids"]:
        document["impact"] = {"customer_ids": given["customer_ids"]}
    try:
        created = await incidents.create(
            db, session.principal, forms.convert(document, incident_schemas.IncidentsCreateRequest)
        )
    except ApiError as exc:
        stages = await moves.org_stages(db, session.principal)
        return page(
            "declare.html",
            400,
            session=session,
            nav="declare",
            choices=await forms.choices(db, session.principal, [stage.name for stage in stages]),
            form=given,
            errors=forms.field_errors(exc),
        )
    return redirect(request, f"/web/incidents/{created.display_id}")


ROUTES = [incident_page, edit_field, move_stage, declare_form, declare]
