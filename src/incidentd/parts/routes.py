"""/parts.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.db import Database
from incidentd.kit.wire import Empty
from incidentd.parts import schemas, service
from incidentd.principal import Principal
from incidentd.routing import read, write


async def create_part(
    data: schemas.PartsCreateRequest, principal: Principal, db: Database
) -> schemas.PartsCreateResponse:
    return schemas.PartsCreateResponse(part=await service.create(db, principal, data))


async def get_part(data: schemas.PartsGetRequest, principal: Principal, db: Database) -> schemas.PartsGetResponse:
    return schemas.PartsGetResponse(part=await service.get(db, principal, data.id))


async def list_parts(data: schemas.PartsListRequest, principal: Principal, db: Database) -> schemas.PartsListResponse:
    page = await service.list_parts(db, principal, data)
    return schemas.PartsListResponse(parts=page.parts, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)


async def update_part(
    data: schemas.PartsUpdateRequest, principal: Principal, db: Database
) -> schemas.PartsUpdateResponse:
    return schemas.PartsUpdateResponse(part=await service.update(db, principal, data))


async def delete_part(data: schemas.PartsDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


ROUTES: list[HTTPRouteHandler] = [
    *write("/parts.create", "parts-create", create_part, status_code=201),
    *read("/parts.get", "parts-get", get_part),
    *read("/parts.list", "parts-list", list_parts),
    *write("/parts.update", "parts-update", update_part),
    *write("/parts.delete", "parts-delete", delete_part),
]
