"""/incidents.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.db import Database
from incidentd.incidents import schemas, service
from incidentd.kit.query import parse_query
from incidentd.kit.wire import Empty
from incidentd.principal import Principal


class IncidentController(Controller):
    tags = ["incidents"]

    @post("/incidents.create", operation_id="incidents-create", status_code=201)
    async def create(
        self, data: schemas.IncidentsCreateRequest, principal: Principal, db: Database
    ) -> schemas.IncidentResponse:
        return schemas.IncidentResponse(incident=await service.create(db, principal, data))

    @get("/incidents.get", operation_id="incidents-get-query")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.IncidentResponse:
        data = parse_query(request.scope["query_string"], schemas.IncidentsGetRequest)
        return schemas.IncidentResponse(incident=await service.get(db, principal, data.id))

    @post("/incidents.get", operation_id="incidents-get", status_code=200)
    async def get_post(
        self, data: schemas.IncidentsGetRequest, principal: Principal, db: Database
    ) -> schemas.IncidentResponse:
        return schemas.IncidentResponse(incident=await service.get(db, principal, data.id))

    @get("/incidents.list", operation_id="incidents-list-query")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.IncidentsListResponse:
        data = parse_query(request.scope["query_string"], schemas.IncidentsListRequest)
        return await self._list(data, principal, db)

    @post("/incidents.list", operation_id="incidents-list", status_code=200)
    async def list_post(
        self, data: schemas.IncidentsListRequest, principal: Principal, db: Database
    ) -> schemas.IncidentsListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.IncidentsListRequest, principal: Principal, db: Database
    ) -> schemas.IncidentsListResponse:
        page = await service.list_incidents(db, principal, data)
        return schemas.IncidentsListResponse(
            incidents=page.incidents, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
        )

    @get("/incidents.group", operation_id="incidents-group-query")
    async def group_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.IncidentsGroupResponse:
        data = parse_query(request.scope["query_string"], schemas.IncidentsGroupRequest)
        return await self._group(data, principal, db)

    @post("/incidents.group", operation_id="incidents-group", status_code=200)
    async def group_post(
        self, data: schemas.IncidentsGroupRequest, principal: Principal, db: Database
    ) -> schemas.IncidentsGroupResponse:
        return await self._group(data, principal, db)

    async def _group(
        self, data: schemas.IncidentsGroupRequest, principal: Principal, db: Database
    ) -> schemas.IncidentsGroupResponse:
        page = await service.group_incidents(db, principal, data)
        return schemas.IncidentsGroupResponse(
            groups=page.groups, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
        )

    @post("/incidents.update", operation_id="incidents-update", status_code=200)
    async def update(
        self, data: schemas.IncidentsUpdateRequest, principal: Principal, db: Database
    ) -> schemas.IncidentResponse:
        return schemas.IncidentResponse(incident=await service.update(db, principal, data))

    @post("/incidents.delete", operation_id="incidents-delete", status_code=200)
    async def delete(self, data: schemas.IncidentsDeleteRequest, principal: Principal, db: Database) -> Empty:
        await service.delete(db, principal, data.id)
        return Empty()
