"""/tags.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.db import Database
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write
from incidentd.tags import schemas, service


async def create_tag(data: schemas.TagsCreateRequest, principal: Principal, db: Database) -> schemas.TagsCreateResponse:
    return schemas.TagsCreateResponse(tag=await service.create(db, principal, data))


async def get_tag(data: schemas.TagsGetRequest, principal: Principal, db: Database) -> schemas.TagsGetResponse:
    return schemas.TagsGetResponse(tag=await service.get(db, principal, data.id))


async def list_tags(data: schemas.TagsListRequest, principal: Principal, db: Database) -> schemas.TagsListResponse:
    page = await service.list_tags(db, principal, data)
    return schemas.TagsListResponse(tags=page.tags, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)


async def update_tag(data: schemas.TagsUpdateRequest, principal: Principal, db: Database) -> schemas.TagsUpdateResponse:
    return schemas.TagsUpdateResponse(tag=await service.update(db, principal, data))


async def delete_tag(data: schemas.TagsDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


ROUTES: list[HTTPRouteHandler] = [
    *write("/tags.create", "tags-create", create_tag, status_code=201),
    *read("/tags.get", "tags-get", get_tag),
    *read("/tags.list", "tags-list", list_tags),
    *write("/tags.update", "tags-update", update_tag),
    *write("/tags.delete", "tags-delete", delete_tag),
]
