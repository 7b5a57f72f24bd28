"""/tags.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.db import Database
from incidentd.kit.query import parse_query
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.tags import schemas, service


class TagController(Controller):
    tags = ["tags"]

    @post("/tags.create", operation_id="tags-create", status_code=201)
    async def create(
        self, data: schemas.TagsCreateRequest, principal: Principal, db: Database
    ) -> schemas.TagsCreateResponse:
        return schemas.TagsCreateResponse(tag=await service.create(db, principal, data))

    @get("/tags.get", operation_id="tags-get")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.TagsGetResponse:
        data = parse_query(request.scope["query_string"], schemas.TagsGetRequest)
        return schemas.TagsGetResponse(tag=await service.get(db, principal, data.id))

    @post("/tags.get", operation_id="tags-get-post", status_code=200)
    async def get_post(
        self, data: schemas.TagsGetRequest, principal: Principal, db: Database
    ) -> schemas.TagsGetResponse:
        return schemas.TagsGetResponse(tag=await service.get(db, principal, data.id))

    @get("/tags.list", operation_id="tags-list")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.TagsListResponse:
        data = parse_query(request.scope["query_string"], schemas.TagsListRequest)
        return await self._list(data, principal, db)

    @post("/tags.list", operation_id="tags-list-post", status_code=200)
    async def list_post(
        self, data: schemas.TagsListRequest, principal: Principal, db: Database
    ) -> schemas.TagsListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.TagsListRequest, principal: Principal, db: Database
    ) -> schemas.TagsListResponse:
        page = await service.list_tags(db, principal, data)
        return schemas.TagsListResponse(tags=page.tags, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor)

    @post("/tags.update", operation_id="tags-update", status_code=200)
    async def update(
        self, data: schemas.TagsUpdateRequest, principal: Principal, db: Database
    ) -> schemas.TagsUpdateResponse:
        return schemas.TagsUpdateResponse(tag=await service.update(db, principal, data))

    @post("/tags.delete", operation_id="tags-delete", status_code=200)
    async def delete(self, data: schemas.TagsDeleteRequest, principal: Principal, db: Database) -> Empty:
        await service.delete(db, principal, data.id)
        return Empty()
