"""incidentd import --from dispatch: a Netflix Dispatch database (PostgreSQL; one organization schema,
`dispatch_organization_default` unless named) loaded into an org. Dispatch is read only, a page of incidents at a
time; the mapping:

- incident: `title` (cut to 256 characters), `description` -> body, `created_at` -> created_date, `updated_at`
  -> modified_date; the Dispatch id is the display number (INC-<id>) when free here, as an export's is.
- status and its dates -> this org's default stage diagram: `Active` -> stage `acknowledged`, `Stable` ->
  `mitigated`, `Closed` -> `resolved`; `reported_at` -> identified_date and acknowledged_date (Dispatch has no
  acknowledgement of its own: an incident is active, with a commander, from its report), `stable_at` ->
  mitigated_date, `closed_at` -> actual_close_date (of a closed incident). Another status: the diagram's start.
- severity: the severity's name, else the priority's, read as `sev<N>` / `sev-<N>` (N 0-3) or by word:
  critical / urgent -> sev-0, high -> sev-1, medium / moderate -> sev-2, low / minor -> sev-3; else unset.
- the current incident commander (role `Incident Commander` not renounced, else the last one) -> owned_by; the
  reporter (role `Reporter`, else the commander) -> created_by; both matched by email, created as dev users
  (email, name as display and full name) when missing (`references`).
- events -> timeline comments, oldest first: body `[<source>] <description>`, created at `started_at` by the
  event's individual (else the org's sys user), internal, external_ref `dispatch-event-<uuid>`.

The import map keys records by `<schema>:incident/<id>` and `<schema>:event/<uuid>`; a record's digest covers
every column read, so a second run skips what did not change in Dispatch and rewrites what did.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import create_async_engine

from incidentd.config import normalize_database_url
from incidentd.db import Database
from incidentd.errors import ApiError
from incidentd.imports import service
from incidentd.imports.dispatch_repository import DispatchSchema
from incidentd.imports.references import References, SourceUser
from incidentd.incidents import importing
from incidentd.incidents import schemas as incident_schemas
from incidentd.kit.time import to_rfc3339
from incidentd.principal import OrgScope
from incidentd.timeline.schemas import MAX_BODY, TimelineEntry

SOURCE = "dispatch"
PAGE = 100
STAGES = {"active": "acknowledged", "stable": "mitigated", "closed": "resolved"}
COMMANDER, REPORTER = "incident commander", "reporter"
WORDS = {"critical": 1, "urgent": 1, "high": 2, "medium": 3, "moderate": 3, "low": 4, "minor": 4}
_SEV = re.compile(r"^sev[\s_-]?([0-3])$")


def severity_of(*names: str | None) -> int | None:
    """Our severity id (1 = sev-0 ... 4 = sev-3) for the first of Dispatch's names that reads as one."""
    for name in names:
        text = (name or "").strip().lower()
        match = _SEV.match(text)
        if match:
            return int(match.group(1)) + 1
        for word, severity in WORDS.items():
            if word in text.split():
                return severity
    return None


def _ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # Dispatch stores naive UTC
    return int(moment.timestamp() * 1000)


def _date(moment: datetime | None) -> str | None:
    ms = _ms(moment)
    return to_rfc3339(ms) if ms is not None else None


async def import_database(
    db: Database,
    org: OrgScope,
    url: str,
    *,
    schema: str = "dispatch_organization_default",
    started: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> service.Summary:
    """Import every incident of the Dispatch organization schema; `started` gets the number of incidents to
    read, `progress` the number done of each page."""
    source = DispatchSchema(schema)
    engine = create_async_engine(normalize_database_url(url))
    principal = service.importer(org)
    references = References(db, principal)
    summary = service.Summary()
    try:
        async with engine.connect() as conn:
            total, highest = await source.extent(conn)
        if started is not None:
            started(total)
        after = 0
        while True:
            async with engine.connect() as conn:
                rows = await source.incidents(conn, after, PAGE)
                numbers = [row.id for row in rows]
                roles = await source.roles(conn, numbers) if rows else []
                events = await source.events(conn, numbers) if rows else []
            roles_of: dict[int, list[Row[Any]]] = {}
            for role in roles:
                roles_of.setdefault(role.incident_id, []).append(role)
            events_of: dict[int, list[Row[Any]]] = {}
            for event in events:
                events_of.setdefault(event.incident_id, []).append(event)
            digests = {row.id: _digest(row, roles_of.get(row.id, []), events_of.get(row.id, [])) for row in rows}
            candidates = [(f"{schema}:incident/{row.id}", digests[row.id], None, None) for row in rows]
            nothing_to_do = await service.unchanged(db, org, SOURCE, candidates)
            batch: list[service.Record] = []
            for row in rows:
                summary.read += 1
                source_id = f"{schema}:incident/{row.id}"
                if source_id in nothing_to_do:
                    summary.skipped += 1
                    continue
                try:
                    record = await _record(
                        references,
                        schema,
                        source_id,
                        digests[row.id],
                        row,
                        roles_of.get(row.id, []),
                        events_of.get(row.id, []),
                    )
                except ApiError as exc:
                    summary.fail(source_id, exc.message)
                    continue
                batch.append(record)
            await service.load(db, principal, SOURCE, batch, summary, renumber_above=highest)
            if progress is not None and rows:
                progress(len(rows))
            if len(rows) < PAGE:
                break
            after = rows[-1].id
    finally:
        await engine.dispose()
    summary.users_created = references.counts.users_created
    summary.tags_created = references.counts.tags_created
    return summary


def _digest(row: Row[Any], roles: list[Row[Any]], events: list[Row[Any]]) -> str:
    document = [list(row), [list(role) for role in roles], [list(event) for event in events]]
    return hashlib.sha256(msgspec.json.encode(document, enc_hook=str)).hexdigest()


def _person(row: Row[Any] | None) -> SourceUser | None:
    if row is None or not (row.email or row.name):
        return None
    return SourceUser(email=row.email, display_name=row.name, full_name=row.name)


def _holder(roles: list[Row[Any]], wanted: str) -> Row[Any] | None:
    holders = [role for role in roles if (role.role or "").strip().lower() == wanted]
    current = [role for role in holders if role.renounce_at is None]
    chosen = current or holders
    return chosen[-1] if chosen else None


async def _record(
    references: References,
    schema: str,
    source_id: str,
    digest: str,
    row: Row[Any],
    roles: list[Row[Any]],
    events: list[Row[Any]],
) -> service.Record:
    status = (row.status or "").strip().lower()
    commander = _holder(roles, COMMANDER)
    reporter = _holder(roles, REPORTER) or commander
    owners = [await references.user_id(_person(commander))] if _person(commander) else []
    body: dict[str, Any] = {
        "title": (row.title or f"Dispatch incident {row.id}")[: incident_schemas.MAX_TITLE],
        "body": (row.description or "")[: incident_schemas.MAX_BODY] or None,
        "severity": severity_of(row.severity_name, row.priority_name),
        "identified_date": _date(row.reported_at),
        "acknowledged_date": _date(row.reported_at) if status in STAGES else None,
        "mitigated_date": _date(row.stable_at) if status in ("stable", "closed") else None,
        "owned_by": owners,
    }
    request = msgspec.convert(
        {key: value for key, value in body.items() if value is not None}, incident_schemas.IncidentsCreateRequest
    )
    creator = await references.user(_person(reporter))
    created = _ms(row.created_at) or _ms(row.reported_at) or 0
    provenance = importing.Provenance(
        stage=STAGES.get(status),
        created_by=creator[1],
        created_date=created,
        modified_by=creator[1],
        modified_date=_ms(row.updated_at) or created,
        actual_close_date=_ms(row.closed_at) if status == "closed" else None,
    )
    entries = []
    for event in events:
        author = await references.user(_person(event))
        when = _date(event.started_at) or to_rfc3339(created)
        text = f"[{event.source}] {event.description}" if event.source else (event.description or "")
        entry = TimelineEntry(
            type="timeline_comment",
            id=f"{schema}:event/{event.uuid or event.id}",
            object="",
            object_display_id="",
            object_type="incident",
            created_date=when,
            modified_date=when,
            external_ref=f"dispatch-event-{event.uuid or event.id}",
            visibility="internal",
            panels=["discussions"],
            body=text[:MAX_BODY],
            body_type="text",
        )
        entries.append(service.Entry(entry.id, entry, author[1], author[1]))
    return service.Record(source_id, digest, row.id, request, provenance, entries)
