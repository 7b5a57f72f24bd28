"""/timeline-entries.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.db import Database
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write
from incidentd.timeline import schemas, service


async def create_timeline_entry(
    data: schemas.TimelineEntriesCreateRequest, principal: Principal, db: Database
) -> schemas.TimelineEntryResponse:
    return schemas.TimelineEntryResponse(timeline_entry=await service.create(db, principal, data))


async def get_timeline_entry(
    data: schemas.TimelineEntriesGetRequest, principal: Principal, db: Database
) -> schemas.TimelineEntryResponse:
    return schemas.TimelineEntryResponse(timeline_entry=await service.get(db, principal, data))


async def list_timeline_entries(
    data: schemas.TimelineEntriesListRequest, principal: Principal, db: Database
) -> schemas.TimelineEntriesListResponse:
    page = await service.list_entries(db, principal, data)
    return schemas.TimelineEntriesListResponse(
        timeline_entries=page.entries, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
    )


async def update_timeline_entry(
    data: schemas.TimelineEntriesUpdateRequest, principal: Principal, db: Database
) -> schemas.TimelineEntryResponse:
    return schemas.TimelineEntryResponse(timeline_entry=await service.update(db, principal, data))


async def delete_timeline_entry(
    data: schemas.TimelineEntriesDeleteRequest, principal: Principal, db: Database
) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


ROUTES: list[HTTPRouteHandler] = [
    *write("/timeline-entries.create", "timeline-entries-create", create_timeline_entry, status_code=201),
    *read("/timeline-entries.get", "timeline-entries-get", get_timeline_entry),
    *read("/timeline-entries.list", "timeline-entries-list", list_timeline_entries),
    *write("/timeline-entries.update", "timeline-entries-update", update_timeline_entry),
    *write("/timeline-entries.delete", "timeline-entries-delete", delete_timeline_entry),
]
