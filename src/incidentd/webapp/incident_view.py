"""What the incident page shows, read through the services as the logged-in user: the incident and its stage
moves, the choices of its selects, its timeline (comments and change events as words), its links and the
incidents it could be merged into, its PIA and playbook articles. The route modules (incident_pages,
incident_timeline, incident_links) render from here."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from litestar import Request, Response

from incidentd.articles import schemas as article_schemas
from incidentd.articles import service as articles
from incidentd.artifacts import schemas as artifact_schemas
from incidentd.db import Database
from incidentd.errors import ApiError, NotFound
from incidentd.incidents import moves
from incidentd.incidents import schemas as incident_schemas
from incidentd.incidents import service as incidents
from incidentd.kit import ids
from incidentd.kit.enums import REPORTED_BY, SEVERITY, SOURCE
from incidentd.links import schemas as link_schemas
from incidentd.links import service as links
from incidentd.logins.service import WebSession
from incidentd.principal import Principal
from incidentd.timeline import schemas as timeline_schemas
from incidentd.timeline import service as timeline
from incidentd.webapp import forms
from incidentd.webapp.rendering import duration, local_input, parse_time
from incidentd.webapp.responses import page

TIMELINE_PAGE = 20
LINKS_SHOWN = 100
MERGE_CHOICES = 100  # open incidents offered as merge targets, most recently changed first
SHOWN_TEXT = 200  # a changed text field (the description) is shown cut to this many characters
# The link types a responder adds by hand (is_merged_into is the merge action's).
LINK_TYPES = [
    ("is_related_to", "is related to"),
    ("is_duplicate_of", "is a duplicate of"),
    ("is_follow_up_of", "is a follow-up of"),
    ("is_parent_of", "is the parent of"),
]
LINK_WORDS = {**dict(LINK_TYPES), "is_merged_into": "is merged into"}
FIELD_LABELS = {
    "owned_by": "owners",
    "applies_to_parts": "parts",
    "impact.customer_ids": "customers",
    "impact.count": "customers affected",
    "pia": "PIA",
    "body": "description",
    "reported_by": "reported by",
}
ENUMS = {"severity": SEVERITY, "reported_by": REPORTED_BY, "source": SOURCE}


async def require_incident(db: Database, principal: Principal, reference: str) -> incident_schemas.Incident:
    """The incident a page's URL names; another org's, an unknown or a malformed id is the 404 page."""
    try:
        return await incidents.get(db, principal, reference)
    except ApiError as exc:
        if exc.status == 400:  # not an incident id at all: as absent as any other
            raise NotFound(f"incident '{reference[:100]}' does not exist") from None
        raise


async def article_choices(db: Database, principal: Principal) -> list[tuple[str, str]]:
    """The articles the PIA and playbook selects offer (the first page, as the other selects)."""
    found = await articles.list_articles(db, principal, article_schemas.ArticlesListRequest(limit=forms.CHOICES_LIMIT))
    return [(article.id, f"{article.title or article.display_id} ({article.display_id})") for article in found.articles]


def names_of(choices: forms.Choices, article_options: list[tuple[str, str]]) -> dict[str, str]:
    """DON -> label of everything the page offers in its selects (what change events name by DON)."""
    return dict([*choices.users, *choices.parts, *choices.accounts, *article_options])


async def page_names(db: Database, principal: Principal) -> dict[str, str]:
    stages = await moves.org_stages(db, principal)
    choices = await forms.choices(db, principal, [stage.name for stage in stages])
    return names_of(choices, await article_choices(db, principal))


# the timeline ------------------------------------------------------------------------------------------


@dataclass
class Delta:
    label: str
    old: str
    new: str


@dataclass
class EntryView:
    id: str
    kind: str  # comment | event
    who: str
    created_date: str | None
    body: str | None = None
    attachments: list[artifact_schemas.ArtifactSummary] = field(default_factory=list)
    can_delete: bool = False
    summary: str = ""
    deltas: list[Delta] = field(default_factory=list)


def _name_of(don: str, names: dict[str, str]) -> str:
    if don in names:
        return names[don]
    parsed = ids.try_parse(don)
    return ids.to_display(parsed.kind.name, parsed.number) if parsed is not None else don


def value_text(name: str, value: timeline_schemas.FieldValue | None, names: dict[str, str]) -> str:
    """A field-value in words: enum ids as their labels, DONs as the names the page knows, dates in UTC."""
    if value is None:
        return "(none)"
    if value.type == "stage":
        return str(value.name)
    if isinstance(value.values, list):
        if value.type == "tag_summary_list":
            shown = [str(item.get("name") or item.get("tag_id")) for item in value.values if isinstance(item, dict)]
        elif value.type == "id_list":
            shown = [_name_of(str(item), names) for item in value.values]
        else:
            shown = [str(item) for item in value.values]
        return ", ".join(shown) or "(none)"
    raw = value.value
    if name in ENUMS and isinstance(raw, int):
        return ENUMS[name].labels.get(raw, str(raw))
    if value.type == "date_time" and isinstance(raw, str):
        return local_input(raw).replace("T", " ") + " UTC"
    if value.type == "bool":
        return "yes" if raw else "no"
    text = str(raw)
    return text if len(text) <= SHOWN_TEXT else text[:SHOWN_TEXT] + "…"


def _end_text(end: dict[str, Any] | None) -> str:
    if not end:
        return "(unknown)"
    display = str(end.get("display_id") or end.get("id"))
    title = end.get("title") or end.get("name") or end.get("display_name")
    return f"{display} {title}" if title else display


def _event_view(event: timeline_schemas.ChangeEvent | None, names: dict[str, str]) -> tuple[str, list[Delta]]:
    """(what happened, the field deltas) of a change event."""
    if event is None:
        return "changed the incident", []
    if event.type == "created":
        return "declared the incident", []
    if event.type == "updated" and event.updated is not None:
        deltas = [
            Delta(
                FIELD_LABELS.get(delta.name, delta.name.replace("_", " ")),
                value_text(delta.name, delta.old_value, names),
                value_text(delta.name, delta.new_value, names),
            )
            for delta in event.updated.field_deltas
        ]
        return "changed", deltas
    if event.type == "linked" and event.linked is not None and event.linked.link:
        link = event.linked.link
        words = LINK_WORDS.get(str(link.get("link_type")), str(link.get("link_type")))
        return f"linked {_end_text(link.get('source'))} {words} {_end_text(link.get('target'))}", []
    if event.type == "deleted":
        deleted = event.deleted.object_id if event.deleted is not None else None
        return ("removed a link" if deleted and ":link/" in deleted else "deleted the incident"), []
    return f"{event.type} the incident", []


def entry_view(entry: timeline_schemas.TimelineEntry, principal: Principal, names: dict[str, str]) -> EntryView:
    who = entry.created_by
    shown = EntryView(
        id=entry.id,
        kind="comment" if entry.type == "timeline_comment" else "event",
        who=str((who.display_name or who.full_name or who.email or who.display_id) if who else "someone"),
        created_date=entry.created_date,
    )
    if shown.kind == "comment":
        shown.body = entry.body
        shown.attachments = list(entry.artifacts or [])
        # The service decides; this only spares a button that would answer 403.
        shown.can_delete = principal.is_admin or (who is not None and who.id == principal.user_don)
    else:
        shown.summary, shown.deltas = _event_view(entry.event, names)
    return shown


async def timeline_context(
    db: Database, session: WebSession, incident: incident_schemas.Incident, names: dict[str, str], cursor: str | None
) -> dict[str, Any]:
    """One page of the timeline, newest first, and the URLs of the next (older) page."""
    listing = forms.convert(
        {"object": incident.id, "limit": TIMELINE_PAGE, "mode": "before", "cursor": cursor or None},
        timeline_schemas.TimelineEntriesListRequest,
    )
    found = await timeline.list_entries(db, session.principal, listing)
    older = found.prev_cursor
    return {
        "entries": [entry_view(entry, session.principal, names) for entry in reversed(found.entries)],
        "more_url": f"/web/incident/{incident.display_id}/timeline?cursor={quote(older)}" if older else None,
        "more_page_url": f"/web/incidents/{incident.display_id}?before={quote(older)}#timeline" if older else None,
    }


# links and merge ---------------------------------------------------------------------------------------


@dataclass
class LinkView:
    id: str
    words: str  # "is related to", from this incident's side
    other_display_id: str
    other_title: str
    other_href: str | None  # incidents have pages; parts, articles and accounts are shown as text
    outgoing: bool  # this incident is the link's source


def _end_title(end: Any) -> str:
    return str(getattr(end, "title", None) or getattr(end, "name", None) or getattr(end, "display_name", None) or "")


def link_view(link: link_schemas.Link, incident_id: str) -> LinkView:
    outgoing = link.source.id == incident_id
    other = link.target if outgoing else link.source
    words = LINK_WORDS.get(link.link_type, link.link_type.replace("_", " "))
    display_id = str(other.display_id or other.id)
    is_incident = isinstance(other, incident_schemas.IncidentSummary)
    return LinkView(
        id=link.id,
        words=words,
        other_display_id=display_id,
        other_title=_end_title(other),
        other_href=f"/web/incidents/{display_id}" if is_incident else None,
        outgoing=outgoing,
    )


async def links_context(
    db: Database, principal: Principal, incident: incident_schemas.Incident, open_stages: list[str]
) -> dict[str, Any]:
    """The incident's links (newest first), whether it is merged already, and the open incidents it could be
    merged into."""
    found = await links.list_links(
        db, principal, link_schemas.LinksListRequest(object=incident.id, limit=LINKS_SHOWN, mode="before")
    )
    shown = [link_view(link, incident.id) for link in reversed(found.links)]
    merged_into = next((view for view in shown if view.outgoing and view.words == LINK_WORDS["is_merged_into"]), None)
    listing = forms.convert(
        {"stage": open_stages, "sort_by": ["modified_date:desc"], "limit": MERGE_CHOICES},
        incident_schemas.IncidentsListRequest,
    )
    candidates = (await incidents.list_incidents(db, principal, listing)).incidents if open_stages else []
    return {
        "links": shown,
        "merged_into": merged_into,
        "link_types": LINK_TYPES,
        "merge_targets": [
            (other.display_id, f"{other.display_id} {other.title}") for other in candidates if other.id != incident.id
        ],
    }


# the whole page ----------------------------------------------------------------------------------------


def durations(incident: incident_schemas.Incident) -> list[tuple[str, str]]:
    """Time to acknowledge, mitigate and resolve, from identification (else creation); still running: so far."""
    start = parse_time(incident.identified_date) or parse_time(incident.created_date) or time.time()
    now = time.time()
    shown = []
    for label, moment in (
        ("To acknowledge", incident.acknowledged_date),
        ("To mitigate", incident.mitigated_date),
        ("To resolve", incident.actual_close_date),
    ):
        end = parse_time(moment)
        shown.append((label, duration(end - start) if end else f"{duration(now - start)} so far"))
    return shown


async def incident_context(
    request: Request[Any, Any, Any], session: WebSession, reference: str, timeline_cursor: str | None = None
) -> dict[str, Any]:
    """Everything the incident page shows."""
    db = request.app.state.db
    principal = session.principal
    incident = await require_incident(db, principal, reference)
    stage_moves = await moves.stage_moves(db, principal, incident.id)
    stages = await moves.org_stages(db, principal)
    choices = await forms.choices(db, principal, [stage.name for stage in stages])
    article_options = await article_choices(db, principal)
    selected = {
        "owned_by": [user.id for user in incident.owned_by or []],
        "applies_to_parts": [part.id for part in incident.applies_to_parts or []],
        "tags": [tag.tag.id for tag in incident.tags or []],
        "customer_ids": [account.id for account in (incident.impact.customer_ids or [])] if incident.impact else [],
        "pia": [article.id for article in incident.pia or []],
        "playbooks": [article.id for article in incident.playbooks or []],
    }
    open_stages = [stage.name for stage in stages if not stage.is_final]
    return {
        "session": session,
        "incident": incident,
        "moves": stage_moves,
        "choices": choices,
        "article_options": article_options,
        "selected": selected,
        "durations": durations(incident),
        "timeline": await timeline_context(db, session, incident, names_of(choices, article_options), timeline_cursor),
        **await links_context(db, principal, incident, open_stages),
        "errors": {},
        "comment_errors": {},
        "link_errors": {},
        "link_form": {},
        "merge_choice": "",
        "draft": "",
        "notice": None,
    }


async def render_incident(
    request: Request[Any, Any, Any],
    session: WebSession,
    reference: str,
    status: int = 200,
    template: str = "incident.html",
    **overrides: Any,
) -> Response[str]:
    """The incident page (or one of its sections), with a form's errors or notice in `overrides`."""
    context = await incident_context(request, session, reference)
    context.update(overrides)
    return page(template, status, **context)
