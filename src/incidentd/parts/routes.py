"""/parts.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.db import Database
from incidentd.kit.query import parse_query
from incidentd.kit.wire import Empty
from incidentd.parts import schemas, service
from incidentd.principal import Principal


class PartController(Controller):
    tags = ["parts"]

    @post("/parts.create", operation_id="parts-create", status_code=201)
    async def create(
        self, data: schemas.PartsCreateRequest, principal: Principal, db: Database
    ) -> schemas.PartsCreateResponse:
        return schemas.PartsCreateResponse(part=await service.create(db, principal, data))

    @get("/parts.get", operation_id="parts-get")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.PartsGetResponse:
        data = parse_query(request.scope["query_string"], schemas.PartsGetRequest)
        return schemas.PartsGetResponse(part=await service.get(db, principal, data.id))

    @post("/parts.get", operation_id="parts-get-post", status_code=200)
    async def get_post(
        self, data: schemas.PartsGetRequest, principal: Principal, db: Database
    ) -> schemas.PartsGetResponse:
        return schemas.PartsGetResponse(part=await service.get(db, principal, data.id))

    @get("/parts.list", operation_id="parts-list")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.PartsListResponse:
        data = parse_query(request.scope["query_string"], schemas.PartsListRequest)
        return await self._list(data, principal, db)

    @post("/parts.list", operation_id="parts-list-post", status_code=200)
    async def list_post(
        self, data: schemas.PartsListRequest, principal: Principal, db: Database
    ) -> schemas.PartsListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.PartsListRequest, principal: Principal, db: Database
    ) -> schemas.PartsListResponse:
        page = await service.list_parts(db, principal, data)
        return schemas.PartsListResponse(parts=page.parts, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)

    @post("/parts.update", operation_id="parts-update", status_code=200)
    async def update(
        self, data: schemas.PartsUpdateRequest, principal: Principal, db: Database
    ) -> schemas.PartsUpdateResponse:
        return schemas.PartsUpdateResponse(part=await service.update(db, principal, data))

    @post("/parts.delete", operation_id="parts-delete", status_code=200)
    async def delete(self, data: schemas.PartsDeleteRequest, principal: Principal, db: Database) -> Empty:
        await service.delete(db, principal, data.id)
        return Empty()
