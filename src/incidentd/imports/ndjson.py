"""incidentd import FILE: an NDJSON export (`incidents.export` / `incidentd export`, with or without
`--include timeline` and `--include links`) loaded into an org, on this server or another, SQLite or PostgreSQL.

A line is a wire incident, or `{"incident": {...}, "timeline": [...], "links": [...]}`. Its references are this org's
objects found by name (`references` has the rules): owners, creator and last modifier by email or display name, tags and
parts by name, pia and playbooks by article title, impacted customers by account display name; the stage by name in this
org's diagram; custom fields against this org's fragments of the same names (tenant `tnt__`, subtype `ctype__` with the
same subtype, apps by namespace). Not carried: artifacts (files), stage notes, staged info, external source data and a
private comment's private_to (none is in the wire incident or entry). The source record's id is the incident's DON in
the export; its digest, the line's SHA-256. Loading follows `service.load`; a batch's links are written after its
incidents (`service.load_links`), and those naming an incident further down the file once the whole file is in. A link's
part, article or account end is found by name like the incident's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from incidentd.db import Database
from incidentd.errors import ApiError
from incidentd.imports import service
from incidentd.imports.references import References, SourceUser
from incidentd.incidents import importing
from incidentd.incidents import schemas as incident_schemas
from incidentd.kit import ids
from incidentd.kit.time import parse_rfc3339
from incidentd.kit.wire import UserSummary
from incidentd.links import schemas as link_schemas
from incidentd.links import service as links
from incidentd.principal import OrgScope
from incidentd.timeline.schemas import TimelineEntry

SOURCE = "ndjson"
BATCH = 100  # lines per transaction (each record in a savepoint of its own)


class _Line(msgspec.Struct):
    incident: incident_schemas.Incident
    timeline: list[TimelineEntry] | None = None
    links: list[link_schemas.Link] | None = None


class _Numbered(msgspec.Struct):
    display_id: str | None = None


class _Peek(msgspec.Struct):
    """What `scan` reads of a line: the display id, of a plain incident or of a line with its timeline."""

    display_id: str | None = None
    incident: _Numbered | None = None


def scan(lines: Iterable[bytes]) -> tuple[int, int]:
    """(number of incident lines, highest display number among them): a first pass before `import_lines`."""
    count = highest = 0
    decoder = msgspec.json.Decoder(_Peek)
    for raw in lines:
        if not raw.strip():
            continue
        count += 1
        try:
            peek = decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue  # reported by the import itself
        display_id = peek.incident.display_id if peek.incident is not None else peek.display_id
        highest = max(highest, _number(display_id or "") or 0)
    return count, highest


async def import_lines(
    db: Database,
    org: OrgScope,
    lines: Iterable[bytes],
    *,
    highest: int = 0,
    progress: Callable[[int], None] | None = None,
) -> service.Summary:
    """Import every line (blank lines are ignored), BATCH lines per transaction; `progress` is called with the
    number of lines done after each batch. An incident whose number is taken here gets one above `highest` (the
    file's highest, from `scan`), so that it does not take the number of an incident further down the file."""
    principal = service.importer(org)
    references = References(db, principal)
    summary = service.Summary()
    waiting: list[tuple[int, _Line, str]] = []  # (line number, line, digest) of the batch being gathered
    pending = 0  # lines read since the last batch was written
    own: set[str] = set()  # ids of this org's own incidents the import found unchanged (an export loaded back)
    later: list[service.LinkRecord] = []  # links naming an incident further down the file

    async def flush() -> None:
        candidates = [
            (line.incident.id, digest, _own(org, line.incident), _created(line.incident)) for _, line, digest in waiting
        ]
        nothing_to_do = await service.unchanged(db, org, SOURCE, candidates) if waiting else set()
        batch: list[service.Record] = []
        for index, line, digest in waiting:
            if line.incident.id in nothing_to_do:
                summary.skipped += 1
                if _own(org, line.incident) is not None:
                    own.add(line.incident.id)
                continue
            try:
                batch.append(await _record(references, line, digest))
            except ApiError as exc:
                summary.fail(f"line {index} ({line.incident.display_id})", exc.message)
        await service.load(db, principal, SOURCE, batch, summary, renumber_above=highest)
        linked = [await _link_record(references, link) for _, line, _ in waiting for link in line.links or []]
        later.extend(await service.load_links(db, principal, SOURCE, linked, summary, own_incidents=own, final=False))
        waiting.clear()

    for index, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        summary.read += 1
        try:
            waiting.append((index, _parse(line), hashlib.sha256(line).hexdigest()))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            summary.fail(f"line {index}", f"not an exported incident: {exc}")
        pending += 1
        if pending >= BATCH:
            await flush()
            if progress is not None:
                progress(pending)
            pending = 0
    await flush()
    for start in range(0, len(later), BATCH):
        await service.load_links(
            db, principal, SOURCE, later[start : start + BATCH], summary, own_incidents=own, final=True
        )
    if progress is not None and pending:
        progress(pending)
    summary.users_created = references.counts.users_created
    summary.tags_created = references.counts.tags_created
    summary.parts_created = references.counts.parts_created
    summary.accounts_created = references.counts.accounts_created
    summary.dropped = len(references.counts.dropped)
    return summary


def _own(org: OrgScope, incident: incident_schemas.Incident) -> int | None:
    """The number of the incident's id when the id is one of this org's (an export loaded back where it came
    from; `service.unchanged` then checks it is the same incident: another server's org of the same slug has the
    same DONs, not the same incidents)."""
    parsed = ids.try_parse(incident.id)
    if parsed is None or parsed.kind.name != "incident" or not org.owns(parsed):
        return None
    return parsed.number


def _created(incident: incident_schemas.Incident) -> int | None:
    try:
        return _date(incident.created_date, "created_date")
    except ApiError:
        return None


def _parse(line: bytes) -> _Line:
    document = msgspec.json.decode(line)
    if isinstance(document, dict) and isinstance(document.get("incident"), dict):
        return msgspec.convert(document, _Line)
    return _Line(incident=msgspec.convert(document, incident_schemas.Incident))


def _user(summary: UserSummary | None) -> SourceUser | None:
    if summary is None:
        return None
    return SourceUser(
        email=summary.email,
        display_name=summary.display_name,
        full_name=summary.full_name,
        kind=summary.type,
        state=summary.state,
    )


def _number(display_id: str) -> int | None:
    parsed = ids.try_parse(display_id)
    return parsed.number if parsed is not None and parsed.kind.name == "incident" else None


def _date(value: str | None, field_name: str) -> int | None:
    return parse_rfc3339(value, field_name=field_name) if value else None


async def _record(references: References, line: _Line, digest: str) -> service.Record:
    incident = line.incident
    owners = [await references.user_id(_user(owner)) for owner in incident.owned_by or []]
    part_ids = [
        await references.part_id(part.name, part.type, [_user(owner) for owner in part.owned_by])
        for part in incident.applies_to_parts or []
    ]
    pia = [await references.article_id(article.title) for article in incident.pia or []]
    playbooks = [await references.article_id(article.title) for article in incident.playbooks or []]
    tags = [
        {"tag_id": await references.tag_id(tag.tag.name), **({"value": tag.value} if tag.value is not None else {})}
        for tag in incident.tags or []
    ]
    body: dict[str, Any] = {
        "title": incident.title,
        "body": incident.body,
        "severity": incident.severity.id if incident.severity else None,
        "reported_by": incident.reported_by.id if incident.reported_by else None,
        "identified_date": incident.identified_date,
        "acknowledged_date": incident.acknowledged_date,
        "mitigated_date": incident.mitigated_date,
        "target_close_date": incident.target_close_date,
        "owned_by": owners,
        "applies_to_parts": [part for part in part_ids if part is not None],
        "pia": [article for article in pia if article is not None],
        "playbooks": [article for article in playbooks if article is not None],
        "tags": tags,
    }
    if incident.impact is not None:
        impact: dict[str, Any] = {}
        if incident.impact.count is not None:
            impact["count"] = incident.impact.count.id
        names = [customer.display_name for customer in incident.impact.customer_ids or [] if customer.display_name]
        if names:
            impact["customer_ids"] = [await references.account_id(name) for name in names]
        body["impact"] = impact
    if incident.custom_fields:
        body["custom_fields"] = incident.custom_fields
        body["custom_schema_spec"] = _spec(incident)
    if incident.sync_metadata is not None:
        body["sync_metadata"] = _sync(incident.sync_metadata)
    request = msgspec.convert({k: v for k, v in body.items() if v is not None}, incident_schemas.IncidentsCreateRequest)
    creator = await references.user(_user(incident.created_by))
    modifier = await references.user(_user(incident.modified_by)) if incident.modified_by else creator
    created = _date(incident.created_date, "created_date")
    provenance = importing.Provenance(
        stage=incident.stage.stage.name if incident.stage and incident.stage.stage else None,
        created_by=creator[1],
        created_date=created or 0,
        modified_by=modifier[1],
        modified_date=_date(incident.modified_date, "modified_date") or created or 0,
        actual_close_date=_date(incident.actual_close_date, "actual_close_date"),
        source=incident.source.id if incident.source else None,
    )
    entries = None
    if line.timeline is not None:
        entries = []
        for entry in line.timeline:
            author = await references.user(_user(entry.created_by))
            editor = await references.user(_user(entry.modified_by)) if entry.modified_by else author
            entries.append(service.Entry(entry.id, entry, author[1], editor[1]))
    return service.Record(incident.id, digest, _number(incident.display_id), request, provenance, entries)


async def _link_record(references: References, link: link_schemas.Link) -> service.LinkRecord:
    creator = await references.user(_user(link.created_by))
    modifier = await references.user(_user(link.modified_by)) if link.modified_by else creator
    created = _date(link.created_date, "created_date") or 0
    provenance = links.Provenance(
        created_by=creator[1],
        created_date=created,
        modified_by=modifier[1],
        modified_date=_date(link.modified_date, "modified_date") or created,
    )
    return service.LinkRecord(
        link.id,
        link.link_type,
        await _link_end(references, link.source),
        await _link_end(references, link.target),
        provenance,
    )


async def _link_end(references: References, end: link_schemas.LinkEndpoint) -> service.LinkEnd:
    """An end of a link as this org names it: a source incident stays its source id (the import map finds it);
    a part, article or account is found by name as an incident's references are."""
    if isinstance(end, incident_schemas.IncidentSummary):
        return service.LinkEnd(incident=end.id)
    if isinstance(end, link_schemas.ArticleEndpoint):
        return service.LinkEnd(local_id=await references.article_id(end.title))
    if isinstance(end, link_schemas.AccountEndpoint):
        return service.LinkEnd(local_id=await references.account_id(end.display_name) if end.display_name else None)
    part_type = type(end).__struct_config__.tag
    owners = [_user(owner) for owner in end.owned_by]
    return service.LinkEnd(local_id=await references.part_id(end.name, str(part_type), owners))


def _spec(incident: incident_schemas.Incident) -> dict[str, Any]:
    """The custom schema spec that declares the incident's custom fields here: the tenant fragment, its subtype,
    the apps its keys name."""
    keys = list(incident.custom_fields or {})
    apps = sorted({key.split("__", 1)[0] for key in keys} - {"tnt", "ctype"})
    spec: dict[str, Any] = {"validate_required_fields": False}
    if any(key.startswith("tnt__") for key in keys):
        spec["tenant_fragment"] = True
    if incident.subtype:
        spec["subtype"] = incident.subtype
    if apps:
        spec["apps"] = apps
    return spec


def _sync(sync: incident_schemas.SyncMetadata) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if sync.external_reference is not None:
        body["external_reference"] = sync.external_reference
    if sync.origin_system is not None:
        body["origin_system"] = sync.origin_system
    for name, state in (("last_sync_in", sync.last_sync_in), ("last_sync_out", sync.last_sync_out)):
        if state is not None:
            body[name] = {
                key: value
                for key, value in {
                    "status": state.status,
                    "sync_date": state.sync_date,
                    "sync_unit": state.sync_unit.id if state.sync_unit else None,
                }.items()
                if value is not None
            }
    return body
