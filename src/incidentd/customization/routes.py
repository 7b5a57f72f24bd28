"""/stages.custom.* and /states.custom.*."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.customization import schemas, service
from incidentd.db import Database
from incidentd.principal import Principal
from incidentd.routing import read


async def get_stage(
    data: schemas.CustomStagesGetRequest, principal: Principal, db: Database
) -> schemas.CustomStagesGetResponse:
    return schemas.CustomStagesGetResponse(custom_stage=await service.get_stage(db, principal, data.id))


async def list_stages(
    data: schemas.CustomStagesListRequest, principal: Principal, db: Database
) -> schemas.CustomStagesListResponse:
    result, cursor = await service.list_stages(db, principal, data)
    return schemas.CustomStagesListResponse(result=result, cursor=cursor)


async def get_state(
    data: schemas.CustomStatesGetRequest, principal: Principal, db: Database
) -> schemas.CustomStatesGetResponse:
    return schemas.CustomStatesGetResponse(custom_state=await service.get_state(db, principal, data.id))


async def list_states(
    data: schemas.CustomStatesListRequest, principal: Principal, db: Database
) -> schemas.CustomStatesListResponse:
    result, cursor = await service.list_states(db, principal, data)
    return schemas.CustomStatesListResponse(result=result, cursor=cursor)


ROUTES: list[HTTPRouteHandler] = [
    *read("/stages.custom.get", "custom-stages-get", get_stage),
    *read("/stages.custom.list", "custom-stages-list", list_stages),
    *read("/states.custom.get", "custom-states-get", get_state),
    *read("/states.custom.list", "custom-states-list", list_states),
]
