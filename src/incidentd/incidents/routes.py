"""/incidents.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from incidentd.db import Database
from incidentd.incidents import (
    export_schemas,
    exporting,
    metrics,
    metrics_schemas,
    schemas,
    search_schemas,
    searching,
    service,
)
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write


async def create_incident(
    data: schemas.IncidentsCreateRequest, principal: Principal, db: Database
) -> schemas.IncidentResponse:
    return schemas.IncidentResponse(incident=await service.create(db, principal, data))


async def get_incident(
    data: schemas.IncidentsGetRequest, principal: Principal, db: Database
) -> schemas.IncidentResponse:
    return schemas.IncidentResponse(incident=await service.get(db, principal, data.id, encoded=True))


async def list_incidents(
    data: schemas.IncidentsListRequest, principal: Principal, db: Database
) -> schemas.IncidentsListResponse:
    page = await service.list_incidents(db, principal, data, encoded=True)
    return schemas.IncidentsListResponse(
        incidents=page.incidents, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
    )


async def group_incidents(
    data: schemas.IncidentsGroupRequest, principal: Principal, db: Database
) -> schemas.IncidentsGroupResponse:
    page = await service.group_incidents(db, principal, data, encoded=True)
    return schemas.IncidentsGroupResponse(
        groups=page.groups, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
    )


async def incident_metrics(
    data: metrics_schemas.IncidentsMetricsRequest, principal: Principal, db: Database
) -> metrics_schemas.IncidentsMetricsResponse:
    return metrics_schemas.IncidentsMetricsResponse(groups=await metrics.incident_metrics(db, principal, data))


async def search_incidents(
    data: search_schemas.IncidentsSearchRequest, principal: Principal, db: Database
) -> search_schemas.IncidentsSearchResponse:
    page = await searching.search_incidents(db, principal, data, encoded=True)
    return search_schemas.IncidentsSearchResponse(results=page.results, next_cursor=page.next_cursor)


async def export_incidents(data: export_schemas.IncidentsExportRequest, principal: Principal, db: Database) -> Stream:
    export = await exporting.export_incidents(db, principal, data)
    disposition = {"Content-Disposition": f'attachment; filename="{export.filename}"'}
    return Stream(export.chunks, media_type=export.media_type, headers=disposition)


async def update_incident(
    data: schemas.IncidentsUpdateRequest, principal: Principal, db: Database
) -> schemas.IncidentResponse:
    return schemas.IncidentResponse(incident=await service.update(db, principal, data))


async def delete_incident(data: schemas.IncidentsDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


ROUTES: list[HTTPRouteHandler] = [
    *write("/incidents.create", "incidents-create", create_incident, status_code=201),
    *read("/incidents.get", "incidents-get", get_incident),
    *read("/incidents.list", "incidents-list", list_incidents),
    *read("/incidents.group", "incidents-group", group_incidents),
    *read("/incidents.metrics", "incidents-metrics", incident_metrics),
    *read("/incidents.search", "incidents-search", search_incidents),
    *read(
        "/incidents.export",
        "incidents-export",
        export_incidents,
        # No media_type here: the handler's would override the stream's (application/x-ndjson or text/csv).
        response_description="Streamed: application/x-ndjson, one wire incident per line (format ndjson), or "
        "text/csv with a header row (format csv); see docs/compatibility.md",
    ),
    *write("/incidents.update", "incidents-update", update_incident),
    *write("/incidents.delete", "incidents-delete", delete_incident),
]
