"""The incident page's links: add a link to another incident (type + its display id), remove one, and merge
this incident into another (a confirmed form). `links.create` / `links.delete` / `incidents.merge` as the
logged-in user, with the API's rules and errors next to the field they name."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from incidentd.errors import ApiError, InvalidField, NotFound
from incidentd.links import merging
from incidentd.links import schemas as link_schemas
from incidentd.links import service as links
from incidentd.webapp import forms, security
from incidentd.webapp.incident_timeline import answer
from incidentd.webapp.incident_view import require_incident
from incidentd.webapp.responses import redirect

MAX_ID = 256
CONFIRMED = "yes"


def _errors(exc: ApiError, names: dict[str, str]) -> dict[str, str]:
    return {names.get(name, "_"): message for name, message in forms.field_errors(exc).items()}


@post("/web/incident/{reference:str}/links", include_in_schema=False, status_code=200)
async def add_link(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """This incident (the source) linked to the incident named in the form (the target)."""
    session = await security.current_session(request)
    db = request.app.state.db
    incident = await require_incident(db, session.principal, reference)
    form = await request.form()
    document = {
        "link_type": forms.text(form, "link_type", MAX_ID),
        "source": incident.id,
        "target": forms.text(form, "target", MAX_ID).strip(),
    }
    errors: dict[str, str] = {}
    try:
        if not document["target"]:
            raise InvalidField("name the incident to link to (its id, like INC-12)", field_name="target")
        await links.create(db, session.principal, forms.convert(document, link_schemas.LinksCreateRequest))
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors = _errors(exc, {"link_type": "link_type", "target": "link_target", "source": "link_target"})
    overrides = {"link_errors": errors, "link_form": document if errors else {}}
    return await answer(request, session, incident.display_id, overrides)


@post("/web/incident/{reference:str}/links/delete", include_in_schema=False, status_code=200)
async def remove_link(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """Remove a link of this incident."""
    session = await security.current_session(request)
    db = request.app.state.db
    incident = await require_incident(db, session.principal, reference)
    link_id = forms.text(await request.form(), "link", MAX_ID)
    errors: dict[str, str] = {}
    status = 400
    try:
        link = await links.get(db, session.principal, link_id)
        if incident.id not in (link.source.id, link.target.id):
            raise NotFound(f"link '{link_id[:MAX_ID]}' does not exist")
        await links.delete(db, session.principal, link.id)
    except ApiError as exc:
        if exc.status in (400, 404):  # a malformed link id names nothing
            raise NotFound(f"link '{link_id[:MAX_ID]}' does not exist") from None
        errors, status = {"_": exc.message}, exc.status
    return await answer(request, session, incident.display_id, {"link_errors": errors}, status)


@post("/web/incident/{reference:str}/merge", include_in_schema=False, status_code=200)
async def merge(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """Merge this incident into the one chosen: it moves to `duplicate` with an is_merged_into link. The form's
    confirmation box must be ticked (a merge closes this incident)."""
    session = await security.current_session(request)
    db = request.app.state.db
    incident = await require_incident(db, session.principal, reference)
    form = await request.form()
    target = forms.text(form, "target", MAX_ID).strip()
    errors: dict[str, str] = {}
    try:
        if not target:
            raise InvalidField("choose the incident to merge into", field_name="target")
        if forms.text(form, "confirm", 16) != CONFIRMED:
            message = f"tick the box to confirm that {incident.display_id} closes as a duplicate"
            raise InvalidField(message, field_name="confirm")
        request_struct = forms.convert({"source": incident.id, "target": target}, link_schemas.IncidentsMergeRequest)
        await merging.merge(db, session.principal, request_struct)
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors = _errors(exc, {"target": "merge_target", "source": "merge_target", "confirm": "merge_confirm"})
    if not errors:  # the incident's stage and fields changed: the whole page again
        return redirect(request, f"/web/incidents/{incident.display_id}")
    return await answer(request, session, incident.display_id, {"link_errors": errors, "merge_choice": target})


ROUTES = [add_link, remove_link, merge]
