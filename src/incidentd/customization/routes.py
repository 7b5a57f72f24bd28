"""/stages.custom.*, /states.custom.*, /schemas.custom.* and /schemas.subtypes.list."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.customization import schemas, service
from incidentd.db import Database
from incidentd.principal import Principal
from incidentd.routing import read, write


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


async def set_fragment(
    data: schemas.CustomSchemaFragmentsSetRequest, principal: Principal, db: Database
) -> schemas.CustomSchemaFragmentsSetResponse:
    return schemas.CustomSchemaFragmentsSetResponse(id=await service.set_fragment(db, principal, data))


async def get_fragment(
    data: schemas.CustomSchemaFragmentsGetRequest, principal: Principal, db: Database
) -> schemas.CustomSchemaFragmentsGetResponse:
    return schemas.CustomSchemaFragmentsGetResponse(fragment=await service.get_fragment(db, principal, data.id))


async def list_fragments(
    data: schemas.CustomSchemaFragmentsListRequest, principal: Principal, db: Database
) -> schemas.CustomSchemaFragmentsListResponse:
    result, next_cursor, prev_cursor = await service.list_fragments(db, principal, data)
    return schemas.CustomSchemaFragmentsListResponse(result=result, next_cursor=next_cursor, prev_cursor=prev_cursor)


async def list_subtypes(
    data: schemas.SubtypesListRequest, principal: Principal, db: Database
) -> schemas.SubtypesListResponse:
    return schemas.SubtypesListResponse(subtypes=await service.list_subtypes(db, principal, data))


ROUTES: list[HTTPRouteHandler] = [
    *read("/stages.custom.get", "custom-stages-get", get_stage),
    *read("/stages.custom.list", "custom-stages-list", list_stages),
    *read("/states.custom.get", "custom-states-get", get_state),
    *read("/states.custom.list", "custom-states-list", list_states),
    # DevRev's spec answers schemas.custom.set with 201 (it creates a fragment or a new version of one).
    *write("/schemas.custom.set", "custom-schema-fragments-set", set_fragment, status_code=201),
    *read("/schemas.custom.get", "custom-schema-fragments-get", get_fragment),
    *read("/schemas.custom.list", "custom-schema-fragments-list", list_fragments),
    *read("/schemas.subtypes.list", "subtypes-list", list_subtypes),
]
