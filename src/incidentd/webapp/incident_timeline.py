"""The incident page's timeline routes: older entries ("Load older entries"), the comment box (markdown, files
attached as artifacts), deleting a comment, and attachments as download links. Every write is
`timeline.create` / `timeline.delete` / `artifacts.prepare` as the logged-in user, so the API's rules and errors
hold (a member deletes only their own comments)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile

from incidentd.artifacts import schemas as artifact_schemas
from incidentd.artifacts import service as artifacts
from incidentd.errors import ApiError, InvalidField, NotFound
from incidentd.logins.service import WebSession
from incidentd.principal import Principal
from incidentd.timeline import schemas as timeline_schemas
from incidentd.timeline import service as timeline
from incidentd.webapp import forms, security
from incidentd.webapp.incident_view import page_names, render_incident, require_incident, timeline_context
from incidentd.webapp.responses import page, redirect

MAX_FILES = timeline_schemas.MAX_ARTIFACTS_CHANGE
# The comment form's whole body: each file's own limit is max_artifact_bytes, enforced while it is stored; this
# bounds what the form parser spools to disk before that.
MAX_COMMENT_REQUEST = 100 * 1024 * 1024 + 1024 * 1024
READ_CHUNK = 256 * 1024
MAX_CURSOR = 2048


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


async def answer(
    request: Request[Any, Any, Any], session: WebSession, display_id: str, errors: dict[str, Any], status: int = 400
) -> Response[str]:
    """After a form of the incident page: htmx gets the incident again (errors next to their fields, the new
    state otherwise); a plain form gets a redirect back, or the page with its errors. `errors` holds the
    template's error dicts (and what the form sent back); any non-empty one means the form failed."""
    failed = any(errors.values())
    if is_htmx(request):
        return await render_incident(
            request, session, display_id, status if failed else 200, template="_incident.html", **errors
        )
    if failed:
        return await render_incident(request, session, display_id, status, **errors)
    return redirect(request, f"/web/incidents/{display_id}")


@get("/web/incident/{reference:str}/timeline", include_in_schema=False)
async def older_entries(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """A page of older entries and the next "Load older entries" link (what htmx fetches)."""
    session = await security.current_session(request)
    db = request.app.state.db
    incident = await require_incident(db, session.principal, reference)
    cursor = (request.query_params.get("cursor") or "")[:MAX_CURSOR] or None
    try:
        context = await timeline_context(db, session, incident, await page_names(db, session.principal), cursor)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return page("_timeline_page.html", exc.status, timeline={"entries": []}, error=exc.message)
    return page("_timeline_page.html", session=session, incident=incident, timeline=context)


def _comment_errors(exc: ApiError) -> dict[str, str]:
    found = forms.field_errors(exc)
    names = {"body": "comment_body", "artifacts": "comment_files", "files": "comment_files"}
    return {names.get(name, "_"): message for name, message in found.items()}


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while piece := await upload.read(READ_CHUNK):
        yield piece


async def _store(request: Request[Any, Any, Any], principal: Principal, upload: UploadFile) -> str:
    """One attached file as a new artifact, prepared and then given its content (as artifacts.prepare and the
    upload form do for the API): its id."""
    db = request.app.state.db
    prepare = forms.convert(
        {"file_name": upload.filename, "file_type": upload.content_type or None},
        artifact_schemas.ArtifactsPrepareRequest,
    )
    prepared = await artifacts.prepare(db, principal, prepare, base_url=str(request.base_url))
    await artifacts.receive(db, principal, prepared.id, data=_chunks(upload), content_type=upload.content_type)
    return prepared.id


@post(
    "/web/incident/{reference:str}/comments",
    include_in_schema=False,
    status_code=200,
    request_max_body_size=MAX_COMMENT_REQUEST,
)
async def add_comment(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """Comment as the logged-in user, with files attached; the incident again, the comment on top."""
    session = await security.current_session(request)
    db = request.app.state.db
    incident = await require_incident(db, session.principal, reference)
    form = await request.form()
    body = forms.text(form, "body", timeline_schemas.MAX_BODY)
    files = [item for item in form.getall("files", []) if isinstance(item, UploadFile) and item.filename]
    errors: dict[str, str] = {}
    try:
        if not body.strip() and not files:
            raise InvalidField("write a comment or attach a file", field_name="body")
        if len(files) > MAX_FILES:
            raise InvalidField(f"attach at most {MAX_FILES} files to one comment", field_name="files")
        document: dict[str, Any] = {"type": "timeline_comment", "object": incident.id, "body": body or None}
        forms.convert(document, timeline_schemas.TimelineEntriesCreateRequest)  # its bounds, before any upload
        try:
            document["artifacts"] = [await _store(request, session.principal, upload) for upload in files]
        except ApiError as exc:  # whatever the upload refused (a name too long, a file too large) is the file's
            raise InvalidField(exc.message, field_name="files") from None
        comment = forms.convert(document, timeline_schemas.TimelineEntriesCreateRequest)
        await timeline.create(db, session.principal, comment)
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors = _comment_errors(exc)
    finally:
        for upload in files:
            await upload.close()
    shown = {"comment_errors": errors, "draft": body if errors else ""}
    return await answer(request, session, incident.display_id, shown)


@post("/web/incident/{reference:str}/comments/delete", include_in_schema=False, status_code=200)
async def delete_comment(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """Delete a comment of this incident (one's own, or anyone's for an admin: the service decides)."""
    session = await security.current_session(request)
    db = request.app.state.db
    incident = await require_incident(db, session.principal, reference)
    entry = forms.text(await request.form(), "entry", 512)
    if not entry.startswith(f"{incident.id}:"):
        raise NotFound(f"timeline entry '{entry[:300]}' does not exist")
    errors: dict[str, str] = {}
    status = 400
    try:
        await timeline.delete(db, session.principal, entry)
    except ApiError as exc:
        if exc.status == 404:
            raise
        errors, status = {"_": exc.message}, exc.status
    return await answer(request, session, incident.display_id, {"comment_errors": errors}, status)


@get("/web/artifacts/{reference:str}", include_in_schema=False)
async def download_artifact(request: Request[Any, Any, Any], reference: str) -> Response[str]:
    """An attachment: a fresh signed download link (artifacts.locate, as the logged-in user) followed at once,
    so that a page left open for hours still has working links."""
    session = await security.current_session(request)
    try:
        located = await artifacts.locate(
            request.app.state.db, session.principal, reference, base_url=str(request.base_url)
        )
    except ApiError as exc:
        if exc.status == 400:
            raise NotFound(f"artifact '{reference[:100]}' does not exist") from None
        raise
    return redirect(request, located.url)


ROUTES = [older_entries, add_comment, delete_comment, download_artifact]
