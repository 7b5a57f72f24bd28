"""Change events: the read-only history other domains append to an object's timeline, inside their own unit of
work (so a change and its event commit or roll back together).

    await changes.record_change(conn, org, principal, incident_don, changes.updated("incident", deltas))

`record_change` writes one row (one statement on PostgreSQL) and reads nothing: callers pass what their write
already holds. Change events cannot be updated or deleted through the API, and they outlive the object they
describe.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.kit import ids
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope, Principal
from incidentd.timeline import repository
from incidentd.timeline.schemas import (
    ChangeEvent,
    ChangeEventCreated,
    ChangeEventDeleted,
    ChangeEventLinked,
    ChangeEventUpdated,
    FieldDelta,
)

CHANGE_EVENT = "timeline_change_event"
COMMENT = "timeline_comment"
# Collections as bits of `timeline_entries.collections`; an entry's panels are the names of its collections.
COLLECTIONS = {"discussions": 1, "events": 2}
CHANGE_EVENT_VISIBILITY = "internal"  # the audit trail is for the org's users


async def record_change(
    conn: AsyncConnection, org: OrgScope, principal: Principal, object_id: str, event: ChangeEvent
) -> int:
    """Append a change event to the timeline of `object_id` (a DON or display id of one of the org's objects,
    already checked by the caller), written by `principal`; the entry's number.

    Call it inside the caller's `db.write()` unit of work, after the change itself."""
    parsed = ids.try_parse(object_id)
    if parsed is None or not org.owns(parsed):
        raise ValueError(f"record_change needs an id of the caller's org, got {object_id!r}")
    now = now_ms()
    return await repository.insert_numbered(
        conn,
        {
            "dev_org_id": org.dev_org_id,
            "object_kind": parsed.kind.name,
            "object_number": parsed.number,
            "entry_type": CHANGE_EVENT,
            "visibility": CHANGE_EVENT_VISIBILITY,
            "collections": COLLECTIONS["events"],
            "body": None,
            "body_type": None,
            "labels": None,
            "external_ref": None,
            "event": msgspec.to_builtins(event),
            "expires_at": None,
            "created_by": principal.user_number,
            "created_date": now,
            "modified_by": principal.user_number,
            "modified_date": now,
        },
    )


def created(summary: Any) -> ChangeEvent:
    """A `created` event carrying the new object's atom-summary (a Struct or its builtins)."""
    return ChangeEvent(type="created", created=ChangeEventCreated(object=msgspec.to_builtins(summary)))


def updated(object_type: str, field_deltas: list[FieldDelta]) -> ChangeEvent:
    """An `updated` event: one delta per field that changed."""
    return ChangeEvent(type="updated", updated=ChangeEventUpdated(field_deltas=field_deltas, object_type=object_type))


def deleted(object_id: str) -> ChangeEvent:
    return ChangeEvent(type="deleted", deleted=ChangeEventDeleted(object_id=object_id))


def linked(link: Any) -> ChangeEvent:
    """A `linked` event carrying the link's link-summary (a Struct or its builtins)."""
    return ChangeEvent(type="linked", linked=ChangeEventLinked(link=msgspec.to_builtins(link)))
