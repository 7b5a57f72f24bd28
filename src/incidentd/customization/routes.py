"""/stages.custom.* and /states.custom.*."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.customization import schemas, service
from incidentd.db import Database
from incidentd.kit.query import parse_query
from incidentd.principal import Principal


class CustomStageController(Controller):
    tags = ["customization"]

    @get("/stages.custom.get", operation_id="custom-stages-get-query")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.CustomStagesGetResponse:
        data = parse_query(request.scope["query_string"], schemas.CustomStagesGetRequest)
        return schemas.CustomStagesGetResponse(custom_stage=await service.get_stage(db, principal, data.id))

    @post("/stages.custom.get", operation_id="custom-stages-get", status_code=200)
    async def get_post(
        self, data: schemas.CustomStagesGetRequest, principal: Principal, db: Database
    ) -> schemas.CustomStagesGetResponse:
        return schemas.CustomStagesGetResponse(custom_stage=await service.get_stage(db, principal, data.id))

    @get("/stages.custom.list", operation_id="custom-stages-list-query")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.CustomStagesListResponse:
        data = parse_query(request.scope["query_string"], schemas.CustomStagesListRequest)
        result, cursor = await service.list_stages(db, principal, data)
        return schemas.CustomStagesListResponse(result=result, cursor=cursor)

    @post("/stages.custom.list", operation_id="custom-stages-list", status_code=200)
    async def list_post(
        self, data: schemas.CustomStagesListRequest, principal: Principal, db: Database
    ) -> schemas.CustomStagesListResponse:
        result, cursor = await service.list_stages(db, principal, data)
        return schemas.CustomStagesListResponse(result=result, cursor=cursor)


class CustomStateController(Controller):
    tags = ["customization"]

    @get("/states.custom.get", operation_id="custom-states-get-query")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.CustomStatesGetResponse:
        data = parse_query(request.scope["query_string"], schemas.CustomStatesGetRequest)
        return schemas.CustomStatesGetResponse(custom_state=await service.get_state(db, principal, data.id))

    @post("/states.custom.get", operation_id="custom-states-get", status_code=200)
    async def get_post(
        self, data: schemas.CustomStatesGetRequest, principal: Principal, db: Database
    ) -> schemas.CustomStatesGetResponse:
        return schemas.CustomStatesGetResponse(custom_state=await service.get_state(db, principal, data.id))

    @get("/states.custom.list", operation_id="custom-states-list-query")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.CustomStatesListResponse:
        data = parse_query(request.scope["query_string"], schemas.CustomStatesListRequest)
        result, cursor = await service.list_states(db, principal, data)
        return schemas.CustomStatesListResponse(result=result, cursor=cursor)

    @post("/states.custom.list", operation_id="custom-states-list", status_code=200)
    async def list_post(
        self, data: schemas.CustomStatesListRequest, principal: Principal, db: Database
    ) -> schemas.CustomStatesListResponse:
        result, cursor = await service.list_states(db, principal, data)
        return schemas.CustomStatesListResponse(result=result, cursor=cursor)
