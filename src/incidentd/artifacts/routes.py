"""/artifacts.*: prepare, get and locate (with a token); upload and download (authorised by their signed links)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import File

from incidentd.artifacts import schemas, service
from incidentd.db import Database
from incidentd.principal import Principal
from incidentd.routing import read, write


async def prepare_artifact(
    request: Request[Any, Any, Any], data: schemas.ArtifactsPrepareRequest, principal: Principal, db: Database
) -> schemas.ArtifactsPrepareResponse:
    return await service.prepare(db, principal, data, base_url=str(request.base_url))


async def get_artifact(
    data: schemas.ArtifactsGetRequest, principal: Principal, db: Database
) -> schemas.ArtifactsGetResponse:
    return await service.get(db, principal, data.id, data.version)


async def locate_artifact(
    request: Request[Any, Any, Any], data: schemas.ArtifactsLocateRequest, principal: Principal, db: Database
) -> schemas.ArtifactsLocateResponse:
    return await service.locate(db, principal, data.id, data.version, base_url=str(request.base_url))


# The app's body limit is for JSON; the upload streams to disk and enforces max_artifact_bytes itself.
@post(
    "/artifacts.upload",
    operation_id="artifacts-upload",
    status_code=204,
    request_max_body_size=None,
    tags=["artifacts"],
)
async def upload_artifact(request: Request[Any, Any, Any], db: Database) -> None:
    await service.upload(
        db,
        content_type=request.headers.get("content-type"),
        content_length=request.content_length,
        body=request.stream(),
    )


@get("/artifacts.download", operation_id="artifacts-download", tags=["artifacts"])
async def download_artifact(request: Request[Any, Any, Any], db: Database) -> File:
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


class PrepareAnswerSecrets:
    """artifacts.prepare's answer holds a signed upload link: an Idempotency-Key keeps the answer without the
    signature, and a replay signs the same link again (the same bytes as the first answer)."""

    def withheld(self, body: bytes) -> bytes:
        answer = msgspec.json.decode(body, type=schemas.ArtifactsPrepareResponse)
        for field in answer.form_data:
            if field.key == "signature":
                field.value = ""
        return msgspec.json.encode(answer)

    async def replayed(self, db: Database, principal: Principal, stored: bytes) -> bytes:
        answer = msgspec.json.decode(stored, type=schemas.ArtifactsPrepareResponse)
        fields = {field.key: field.value for field in answer.form_data}
        for field in answer.form_data:
            if field.key == "signature":
                field.value = service.upload_signature(db, fields["artifact"], int(fields["expires"]))
        return msgspec.json.encode(answer)


ROUTES: list[HTTPRouteHandler] = [
    *write("/artifacts.prepare", "artifacts-prepare", prepare_artifact, answer_secrets=PrepareAnswerSecrets()),
    *read("/artifacts.get", "artifacts-get", get_artifact),
    *read("/artifacts.locate", "artifacts-locate", locate_artifact),
    upload_artifact,
    download_artifact,
]
