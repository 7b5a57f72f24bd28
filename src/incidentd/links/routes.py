"""/links.* and /incidents.merge: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.db import Database
from incidentd.kit.wire import Empty
from incidentd.links import merging, schemas, service
from incidentd.principal import Principal
from incidentd.routing import read, write


async def create_link(data: schemas.LinksCreateRequest, principal: Principal, db: Database) -> schemas.LinkResponse:
    return schemas.LinkResponse(link=await service.create(db, principal, data))


async def get_link(data: schemas.LinksGetRequest, principal: Principal, db: Database) -> schemas.LinkResponse:
    return schemas.LinkResponse(link=await service.get(db, principal, data.id))


async def list_links(data: schemas.LinksListRequest, principal: Principal, db: Database) -> schemas.LinksListResponse:
    page = await service.list_links(db, principal, data)
    return schemas.LinksListResponse(links=page.links, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)


async def delete_link(data: schemas.LinksDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


async def replace_link(data: schemas.LinksReplaceRequest, principal: Principal, db: Database) -> schemas.LinkResponse:
    return schemas.LinkResponse(link=await service.replace(db, principal, data))


async def merge_incidents(
    data: schemas.IncidentsMergeRequest, principal: Principal, db: Database
) -> schemas.IncidentsMergeResponse:
    merged = await merging.merge(db, principal, data)
    return schemas.IncidentsMergeResponse(incident=merged.incident, link=merged.link)


ROUTES: list[HTTPRouteHandler] = [
    *write("/links.create", "links-create", create_link, status_code=201),
    *read("/links.get", "links-get", get_link),
    *read("/links.list", "links-list", list_links),
    *write("/links.delete", "links-delete", delete_link),
    *write("/links.replace", "links-replace", replace_link, status_code=201),
    *write("/incidents.merge", "incidents-merge", merge_incidents),
]
