"""/artifacts.*: prepare, get and locate (with a token); upload and download (authorised by their signed links)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.response import File

from incidentd.artifacts import schemas, service
from incidentd.db import Database
from incidentd.kit.query import parse_query
from incidentd.principal import Principal


class ArtifactController(Controller):
    tags = ["artifacts"]

    @post("/artifacts.prepare", operation_id="artifacts-prepare", status_code=200)
    async def prepare(
        self,
        request: Request[Any, Any, Any],
        data: schemas.ArtifactsPrepareRequest,
        principal: Principal,
        db: Database,
    ) -> schemas.ArtifactsPrepareResponse:
        return await service.prepare(db, principal, data, base_url=str(request.base_url))

    @get("/artifacts.get", operation_id="artifacts-get")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.ArtifactsGetResponse:
        data = parse_query(request.scope["query_string"], schemas.ArtifactsGetRequest)
        return await service.get(db, principal, data.id, data.version)

    @post("/artifacts.get", operation_id="artifacts-get-post", status_code=200)
    async def get_post(
        self, data: schemas.ArtifactsGetRequest, principal: Principal, db: Database
    ) -> schemas.ArtifactsGetResponse:
        return await service.get(db, principal, data.id, data.version)

    @get("/artifacts.locate", operation_id="artifacts-locate")
    async def locate_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.ArtifactsLocateResponse:
        data = parse_query(request.scope["query_string"], schemas.ArtifactsLocateRequest)
        return await service.locate(db, principal, data.id, data.version, base_url=str(request.base_url))

    @post("/artifacts.locate", operation_id="artifacts-locate-post", status_code=200)
    async def locate_post(
        self,
        request: Request[Any, Any, Any],
        data: schemas.ArtifactsLocateRequest,
        principal: Principal,
        db: Database,
    ) -> schemas.ArtifactsLocateResponse:
        return await service.locate(db, principal, data.id, data.version, base_url=str(request.base_url))

    # The app's body limit is for JSON; the upload streams to disk and enforces max_artifact_bytes itself.
    @post("/artifacts.upload", operation_id="artifacts-upload", status_code=204, request_max_body_size=None)
    async def upload(self, request: Request[Any, Any, Any], db: Database) -> None:
        await service.upload(
            db,
            content_type=request.headers.get("content-type"),
            content_length=request.content_length,
            body=request.stream(),
        )

    @get("/artifacts.download", operation_id="artifacts-download")
    async def download(self, request: Request[Any, Any, Any], db: Database) -> File:
        query = request.query_params
        found = await service.download(
            db, artifact=query.get("artifact"), expires=query.get("expires"), signature=query.get("signature")
        )
        return File(
            found.path,
            filename=found.file_name,
            media_type=found.file_type or "application/octet-stream",
            content_disposition_type="attachment",
            # The content is whatever was uploaded: never let a browser guess it is HTML to render.
            headers={"X-Content-Type-Options": "nosniff"},
        )
