"""Rules of timeline entries: comments on incidents (create, get, list, update, delete) and reading the change
events `changes` appends. Raises DevRev errors; never imports the web framework.

An entry's id nests under its object's DON: `don:core:<partition>:devo/<org>:incident/7:comment/3` for a
comment, `...:incident/7:change_event/4` for a change event (the object's display id works in place of its DON:
`INC-7:comment/3`). Entries are listed oldest first (by entry number); private entries are seen only by their
creator and the users in their `private_to`; an entry past its `expires_at` is gone for every read at once and
deleted by `sweep_periodically` later. Change events are read-only and outlive their object.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.artifacts import service as artifacts
from incidentd.db import Database
from incidentd.errors import Conflict, Forbidden, InvalidField, NotFound
from incidentd.identity import service as identity
from incidentd.identity.schemas import user_summary
from incidentd.incidents import service as incidents
from incidentd.kit import ids, pages, references
from incidentd.kit.time import now_ms, parse_rfc3339, parse_window, to_rfc3339
from incidentd.principal import OrgScope, Principal
from incidentd.search import service as search
from incidentd.timeline import repository, schemas
from incidentd.timeline.changes import CHANGE_EVENT, CHANGE_EVENT_VISIBILITY, COLLECTIONS, COMMENT
from incidentd.webhooks import outbox

log = structlog.get_logger(__name__)

PARENT_KIND = COMMENT  # what a comment's artifacts are attached to
OBJECT_KINDS = ("incident",)  # the objects that have timelines here
SEGMENTS = {COMMENT: "comment", CHANGE_EVENT: "change_event"}
_BY_SEGMENT = {segment: entry_type for entry_type, segment in SEGMENTS.items()}
_ENTRY_ID = re.compile(r"^(.+):(comment|change_event)/([0-9]{1,19})$")
MIN_LIFETIME_MS = 60_000  # DevRev: expires_at at least a minute after now
SWEEP_BATCH = 500


@dataclass(frozen=True)
class EntriesPage:
    entries: list[schemas.TimelineEntry]
    next_cursor: str | None
    prev_cursor: str | None


@dataclass(frozen=True)
class _Object:
    kind: str
    number: int


# ids ---------------------------------------------------------------------------------------------------


def entry_id(org: OrgScope, row: Row[Any]) -> str:
    return f"{org.don(row.object_kind, row.object_number)}:{SEGMENTS[row.entry_type]}/{row.number}"


def _parse_object(org: OrgScope, reference: str, field_name: str) -> _Object | None:
    """The object an id names if it is one of the caller's org's kinds with a timeline; None for another org's
    (exactly like an id that names nothing). Ids of other kinds are 400 unexpected_id_type."""
    parsed = ids.parse(reference, OBJECT_KINDS, field_name=field_name)
    return _Object(parsed.kind.name, parsed.number) if org.owns(parsed) else None


def _parse_entry(org: OrgScope, reference: str) -> tuple[_Object, str, int] | None:
    """(object, entry type, number) of an entry id; None when it is no entry id of the caller's org."""
    match = _ENTRY_ID.match(reference.strip())
    if match is None:
        return None
    parent, segment, digits = match.groups()
    parsed = ids.try_parse(parent)
    number = int(digits)
    if parsed is None or parsed.kind.name not in OBJECT_KINDS or not org.owns(parsed) or number > ids.MAX_NUMBER:
        return None
    return _Object(parsed.kind.name, parsed.number), _BY_SEGMENT[segment], number


async def _require_object(conn: AsyncConnection, org: OrgScope, reference: str, *, history: bool = False) -> _Object:
    """The existing object `reference` names, else 404. With `history`, an object that is gone but left a
    timeline (its change events) counts as existing."""
    found = _parse_object(org, reference, "object")
    if found is not None:
        if await incidents.lookup(conn, org.dev_org_id, [found.number]):
            return found
        if history and await repository.has_entries(conn, org.dev_org_id, found.kind, found.number):
            return found
    raise NotFound(f"object '{reference}' does not exist")


async def _visible_entry(conn: AsyncConnection, principal: Principal, reference: str, now: int) -> Row[Any]:
    """The entry an id names, if the caller may see it: not expired, and not someone else's private entry
    (unless the caller is in its private_to). Anything else is 404, as if it did not exist."""
    org = principal.org
    parsed = _parse_entry(org, reference)
    row = await repository.get(conn, org.dev_org_id, parsed[2]) if parsed is not None else None
    if row is None or parsed is None or not _matches(row, parsed) or _expired(row, now):
        raise NotFound(f"timeline entry '{reference}' does not exist")
    if row.visibility == "private" and row.created_by != principal.user_number:
        if principal.user_number not in await repository.private_to(conn, org.dev_org_id, row.number):
            raise NotFound(f"timeline entry '{reference}' does not exist")
    return row


def _matches(row: Row[Any], parsed: tuple[_Object, str, int]) -> bool:
    parent, entry_type, _ = parsed
    return (row.object_kind, row.object_number, row.entry_type) == (parent.kind, parent.number, entry_type)


def _expired(row: Row[Any], now: int) -> bool:
    return row.expires_at is not None and row.expires_at <= now


# create ------------------------------------------------------------------------------------------------


async def create(
    db: Database, principal: Principal, request: schemas.TimelineEntriesCreateRequest
) -> schemas.TimelineEntry:
    """Comment on an object's timeline."""
    org = principal.org
    now = now_ms()
    expires_at = _expiry(request.expires_at, now)
    labels = _labels(request.labels)
    collections = _mask(request.collections or ["discussions"])
    async with db.write() as conn:
        parent = await _require_object(conn, org, request.object)
        private_to = await _users(conn, org, request.private_to, "private_to")
        artifact_numbers = await _artifacts(conn, org, request.artifacts, "artifacts")
        if request.external_ref is not None:
            await _check_external_ref(conn, org, parent, request.external_ref)
        number = await repository.next_number(conn, org.dev_org_id)
        values = {
            "dev_org_id": org.dev_org_id,
            "number": number,
            "object_kind": parent.kind,
            "object_number": parent.number,
            "entry_type": COMMENT,
            "visibility": request.visibility or "external",
            "collections": collections,
            "body": request.body,
            "body_type": request.body_type or "text",
            "labels": labels or None,
            "external_ref": request.external_ref,
            "event": None,
            "expires_at": expires_at,
            "created_by": principal.user_number,
            "created_date": now,
            "modified_by": principal.user_number,
            "modified_date": now,
        }
        await _written(repository.insert(conn, values), request.external_ref)
        await repository.set_labels(conn, org.dev_org_id, number, labels)
        await repository.set_private_to(conn, org.dev_org_id, number, private_to)
        await artifacts.attach(
            conn, org, artifact_numbers, parent_kind=PARENT_KIND, parent_number=number, field_name="artifacts"
        )
        await _reindex(db, conn, org, parent.kind, parent.number)
        row = await repository.get(conn, org.dev_org_id, number)
        assert row is not None
        entry = (await render(conn, org, [row]))[0]
        if _announced(row) and "timeline_entry_created" in await outbox.wanted(db, conn, org):
            await outbox.record(db, conn, org, "timeline_entry_created", row.object_number, {"entry": entry})
        return entry


def _announced(row: Row[Any]) -> bool:
    """Whether a comment's changes are events (webhooks, /events.stream): not a private comment's, which only
    its creator and its private_to may see, while events go to the whole org's receivers."""
    return bool(row.visibility != "private")


async def _written(write: Any, external_ref: str | None) -> Any:
    """Await a write that may hit the external_ref constraint (two writers raced past the check): 409."""
    try:
        return await write
    except repository.DuplicateExternalRef:
        raise Conflict(f"external_ref '{external_ref}' is used by another entry of this timeline") from None


async def _check_external_ref(
    conn: AsyncConnection, org: OrgScope, parent: _Object, external_ref: str, *, besides: int | None = None
) -> None:
    found = await repository.by_external_ref(conn, org.dev_org_id, parent.kind, parent.number, external_ref)
    if found is not None and found.number != besides:
        raise Conflict(f"external_ref '{external_ref}' is used by another entry of this timeline")


def _expiry(raw: str | None, now: int) -> int | None:
    if raw is None:
        return None
    expires_at = parse_rfc3339(raw, field_name="expires_at")
    if expires_at < now + MIN_LIFETIME_MS:
        raise InvalidField("expires_at must be at least a minute after the current time", field_name="expires_at")
    return expires_at


def _labels(labels: Sequence[str] | None) -> list[str]:
    """The labels once each, in the order given; a blank label is invalid."""
    kept: list[str] = []
    for index, label in enumerate(labels or []):
        if not label.strip():
            raise InvalidField("a label must not be blank", field_name=f"labels[{index}]")
        if label not in kept:
            kept.append(label)
    return kept


def _mask(collections: Sequence[str]) -> int:
    mask = 0
    for name in collections:
        mask |= COLLECTIONS[name]
    return mask


async def _users(conn: AsyncConnection, org: OrgScope, values: Sequence[str] | None, field_name: str) -> list[int]:
    if not values:
        return []
    return await references.resolve_many(
        conn, org, values, kinds=ids.USER_KINDS, field_name=field_name, lookup=identity.user_kinds
    )


async def _artifacts(conn: AsyncConnection, org: OrgScope, values: Sequence[str] | None, field_name: str) -> list[int]:
    if not values:
        return []
    return await references.resolve_many(
        conn, org, values, kinds=("artifact",), field_name=field_name, lookup=artifacts.lookup
    )


# get / list --------------------------------------------------------------------------------------------


async def get(db: Database, principal: Principal, request: schemas.TimelineEntriesGetRequest) -> schemas.TimelineEntry:
    """An entry by id; with `external_ref`, the entry of that reference on the timeline `id` names (by one of
    its entries, or by the object itself)."""
    org = principal.org
    now = now_ms()
    async with db.read() as conn:
        if request.external_ref is None:
            row = await _visible_entry(conn, principal, request.id, now)
        else:
            row = await _by_external_ref(conn, principal, request.id, request.external_ref, now)
        return (await render(conn, org, [row]))[0]


async def _by_external_ref(
    conn: AsyncConnection, principal: Principal, reference: str, external_ref: str, now: int
) -> Row[Any]:
    org = principal.org
    parsed = _parse_entry(org, reference)
    if parsed is not None:
        parent: _Object | None = parsed[0]
    else:
        parent = _parse_object(org, reference, "id") if ids.try_parse(reference) is not None else None
    if parent is None:
        raise NotFound(f"timeline entry '{reference}' does not exist")
    row = await repository.by_external_ref(conn, org.dev_org_id, parent.kind, parent.number, external_ref)
    if row is None:
        raise NotFound(f"no entry of this timeline has external_ref '{external_ref}'")
    return await _visible_entry(conn, principal, entry_id(org, row), now)


async def list_entries(db: Database, principal: Principal, request: schemas.TimelineEntriesListRequest) -> EntriesPage:
    """A page of an object's timeline, oldest first, with keyset cursors both ways."""
    org = principal.org
    now = now_ms()
    filters = _filters(request)
    fingerprint_of = msgspec.to_builtins(request)
    for name in ("cursor", "mode", "limit"):
        fingerprint_of.pop(name, None)
    window = pages.window(request.cursor, request.mode, request.limit, "timeline-entries.list", fingerprint_of)
    async with db.read() as conn:
        parent = await _require_object(conn, org, request.object, history=True)
        rows = await repository.page(
            conn, org.dev_org_id, parent.kind, parent.number, filters, window, viewer=principal.user_number, now=now
        )
        more = len(rows) > window.limit
        rows = rows[: window.limit]
        if window.direction == "before":
            rows.reverse()
        rendered = await render(conn, org, rows)
    paged = pages.page_cursors([row.number for row in rows], more=more, page=window)
    return EntriesPage(rendered, paged.next_cursor, paged.prev_cursor)


def _filters(request: schemas.TimelineEntriesListRequest) -> repository.EntryFilters:
    mask: int | None = None
    if request.collections is not None:
        mask = _mask(request.collections)
    if request.panels is not None:
        panels = _mask([panel for panel in request.panels if panel in COLLECTIONS])
        mask = panels if mask is None else mask & panels
    after = before = None
    if request.created_date is not None:
        window = request.created_date
        after, before = parse_window(window.after, window.before, field_name="created_date")
    return repository.EntryFilters(
        collections_mask=mask,
        labels=request.labels,
        visibility=request.visibility,
        created_after=after,
        created_before=before,
    )


async def first_entries(
    conn: AsyncConnection, principal: Principal, object_numbers: list[int], *, limit: int, everything: bool = False
) -> dict[int, list[schemas.TimelineEntry]]:
    """The first `limit` entries of each incident's timeline (oldest first) as the caller sees them, by incident
    number (incidents without entries are absent): an export's timelines, one statement for a page of
    incidents. `everything` includes every user's private entries (an operator's export from the CLI)."""
    org = principal.org
    rows = await repository.first_entries(
        conn,
        org.dev_org_id,
        "incident",
        object_numbers,
        limit=limit,
        viewer=None if everything else principal.user_number,
        now=now_ms(),
    )
    by_object: dict[int, list[schemas.TimelineEntry]] = {}
    for row, entry in zip(rows, await render(conn, org, rows), strict=True):
        by_object.setdefault(row.object_number, []).append(entry)
    return by_object


async def has_history(conn: AsyncConnection, org: OrgScope, object_number: int) -> bool:
    """Whether an incident number has timeline entries (a deleted incident's change events outlive it)."""
    return await repository.has_entries(conn, org.dev_org_id, "incident", object_number)


async def import_entry(
    conn: AsyncConnection,
    org: OrgScope,
    object_number: int,
    entry: schemas.TimelineEntry,
    *,
    created_by: int,
    modified_by: int,
) -> int:
    """Append an entry an import brings (`incidentd import`) to an incident's timeline, as it was: its type,
    body or change event, visibility, labels, panels, external_ref and dates, written by the given users (this
    org's); inside the caller's unit of work. Its artifacts and private_to users are not carried. The number."""
    is_comment = entry.type == COMMENT
    labels = _labels(entry.labels)
    number = await repository.next_number(conn, org.dev_org_id)
    external_ref = entry.external_ref if is_comment else None
    if external_ref is not None:
        await _check_external_ref(conn, org, _Object("incident", object_number), external_ref)
    await _written(
        repository.insert(
            conn,
            {
                "dev_org_id": org.dev_org_id,
                "number": number,
                "object_kind": "incident",
                "object_number": object_number,
                "entry_type": entry.type,
                "visibility": entry.visibility or ("external" if is_comment else CHANGE_EVENT_VISIBILITY),
                "collections": _mask([p for p in entry.panels or [] if p in COLLECTIONS])
                or COLLECTIONS["discussions" if is_comment else "events"],
                "body": entry.body if is_comment else None,
                "body_type": (entry.body_type or "text") if is_comment else None,
                "labels": labels or None,
                "external_ref": external_ref,
                "event": msgspec.to_builtins(entry.event) if not is_comment and entry.event is not None else None,
                "expires_at": None,
                "created_by": created_by,
                "created_date": parse_rfc3339(entry.created_date, field_name="created_date")
                if entry.created_date
                else now_ms(),
                "modified_by": modified_by,
                "modified_date": parse_rfc3339(entry.modified_date, field_name="modified_date")
                if entry.modified_date
                else now_ms(),
            },
        ),
        external_ref,
    )
    await repository.set_labels(conn, org.dev_org_id, number, labels)
    return number


# update / delete ---------------------------------------------------------------------------------------


async def _own_comment(conn: AsyncConnection, principal: Principal, reference: str, action: str) -> Row[Any]:
    """The comment an update or delete names: change events are read-only, and only the comment's creator (or
    an admin of the org) may change it."""
    row = await _visible_entry(conn, principal, reference, now_ms())
    if row.entry_type != COMMENT:
        raise Forbidden(f"change events are the object's history and cannot be {action}")
    if row.created_by != principal.user_number and not principal.is_admin:
        raise Forbidden(f"only the comment's creator or an admin of the org may {action[:-1]} it")
    return row


async def update(
    db: Database, principal: Principal, request: schemas.TimelineEntriesUpdateRequest
) -> schemas.TimelineEntry:
    """Change a comment's body, body_type, external_ref (null clears) and artifacts (add/remove, or set)."""
    org = principal.org
    change = request.artifacts
    if change is not None and change.set is not None and (change.add is not None or change.remove is not None):
        raise InvalidField("artifacts: 'set' cannot be combined with 'add' or 'remove'", field_name="artifacts")
    async with db.write() as conn:
        row = await _own_comment(conn, principal, request.id, "updated")
        announce = _announced(row) and "timeline_entry_updated" in await outbox.wanted(db, conn, org)
        old = (await render(conn, org, [row]))[0] if announce else None
        values: dict[str, Any] = {"modified_by": principal.user_number, "modified_date": now_ms()}
        if request.body is not UNSET:
            values["body"] = request.body
        if request.body_type is not None:
            values["body_type"] = request.body_type
        if request.external_ref is not UNSET:
            if request.external_ref is not None:
                parent = _Object(row.object_kind, row.object_number)
                await _check_external_ref(conn, org, parent, request.external_ref, besides=row.number)
            values["external_ref"] = request.external_ref
        if change is not None:
            await _change_artifacts(conn, org, row.number, change)
        updated = await _written(
            repository.update(conn, org.dev_org_id, row.number, values), values.get("external_ref")
        )
        if "body" in values:
            await _reindex(db, conn, org, row.object_kind, row.object_number)
        entry = (await render(conn, org, [updated]))[0]
        if old is not None:
            payload = {"entry": entry, "old_entry": old}
            await outbox.record(db, conn, org, "timeline_entry_updated", row.object_number, payload)
        return entry


async def _change_artifacts(conn: AsyncConnection, org: OrgScope, number: int, change: schemas.ArtifactsChange) -> None:
    if change.set is not None:
        wanted = await _artifacts(conn, org, change.set, "artifacts.set")
        field_name = "artifacts.set"
    else:
        current = (await artifacts.attached_with_summaries(conn, org, PARENT_KIND, [number]))[0].get(number, [])
        removed = set(await _artifacts(conn, org, change.remove, "artifacts.remove"))
        added = await _artifacts(conn, org, change.add, "artifacts.add")
        wanted = [n for n in current if n not in removed] + [n for n in added if n not in current]
        field_name = "artifacts.add"
    await artifacts.detach(conn, org, parent_kind=PARENT_KIND, parent_number=number, keep=wanted)
    await artifacts.attach(conn, org, wanted, parent_kind=PARENT_KIND, parent_number=number, field_name=field_name)


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete a comment; its artifacts are free to attach elsewhere."""
    org = principal.org
    async with db.write() as conn:
        row = await _own_comment(conn, principal, reference, "deleted")
        if _announced(row) and "timeline_entry_deleted" in await outbox.wanted(db, conn, org):
            payload = {"id": entry_id(org, row), "old_entry": (await render(conn, org, [row]))[0]}
            await outbox.record(db, conn, org, "timeline_entry_deleted", row.object_number, payload)
        await artifacts.detach(conn, org, parent_kind=PARENT_KIND, parent_number=row.number)
        await repository.delete(conn, org.dev_org_id, [row.number])
        await _reindex(db, conn, org, row.object_kind, row.object_number)


async def _reindex(db: Database, conn: AsyncConnection, org: OrgScope, kind: str, number: int) -> None:
    """A comment's text is part of its incident's search document: refresh it in the comment's transaction."""
    if kind == incidents.LEAF_TYPE:
        await search.refresh(db, conn, org.dev_org_id, [number])


# expiry ------------------------------------------------------------------------------------------------


async def sweep_expired(db: Database, *, batch: int = SWEEP_BATCH) -> int:
    """Delete every entry past its expires_at (reads stopped showing them already), `batch` per transaction;
    how many were deleted."""
    deleted = 0
    while True:
        async with db.write() as conn:
            due = await repository.expired(conn, now_ms(), batch)
            by_org: dict[int, list[int]] = {}
            for dev_org_id, number in due:
                by_org.setdefault(dev_org_id, []).append(number)
            for dev_org_id, numbers in by_org.items():
                await artifacts.free(conn, dev_org_id, parent_kind=PARENT_KIND, parent_numbers=numbers)
                deleted += await repository.delete(conn, dev_org_id, numbers)
        if len(due) < batch:
            return deleted
        await asyncio.sleep(0)  # let requests run between batches


async def sweep_periodically(db: Database, interval_seconds: float) -> None:
    """The lifespan's background sweep: sleep, delete expired entries, repeat; a database outage only delays it.
    Cancelled (at shutdown) while sleeping it stops at once; while sweeping it first finishes the batch in
    flight, so that no transaction is cut off between its statements and the database closes cleanly."""
    while True:
        await asyncio.sleep(interval_seconds)
        sweep = asyncio.ensure_future(_sweep_once(db))
        try:
            await asyncio.shield(sweep)
        except asyncio.CancelledError:
            await sweep
            raise


async def _sweep_once(db: Database) -> None:
    try:
        deleted = await sweep_expired(db)
        if deleted:
            log.info("expired timeline entries deleted", count=deleted)
    except Exception as exc:
        log.warning("timeline expiry sweep failed; retrying later", error=str(exc))


# rendering ---------------------------------------------------------------------------------------------


async def render(conn: AsyncConnection, org: OrgScope, rows: Sequence[Row[Any]]) -> list[schemas.TimelineEntry]:
    """Entries in DevRev's wire shape: users and artifacts fetched once for all rows."""
    users = await identity.users_by_number(
        conn, org, {number for row in rows for number in (row.created_by, row.modified_by)}
    )
    comments = [row.number for row in rows if row.entry_type == COMMENT]
    attached = await artifacts.attached_summaries(conn, org, PARENT_KIND, comments) if comments else {}

    def summary(number: int) -> Any:
        user = users.get(number)
        return user_summary(user, org) if user is not None else None

    rendered = []
    for row in rows:
        entry = schemas.TimelineEntry(
            type=row.entry_type,
            id=entry_id(org, row),
            object=org.don(row.object_kind, row.object_number),
            object_display_id=ids.to_display(row.object_kind, row.object_number),
            object_type=row.object_kind,
            created_by=summary(row.created_by),
            created_date=to_rfc3339(row.created_date),
            modified_by=summary(row.modified_by),
            modified_date=to_rfc3339(row.modified_date),
            external_ref=row.external_ref,
            labels=row.labels or None,
            panels=[name for name, bit in COLLECTIONS.items() if row.collections & bit],
            visibility=row.visibility,
        )
        if row.entry_type == COMMENT:
            entry.body = row.body
            entry.body_type = row.body_type
            entry.artifacts = attached.get(row.number) or None
        else:
            entry.event = msgspec.convert(row.event, schemas.ChangeEvent)
        rendered.append(entry)
    return rendered
