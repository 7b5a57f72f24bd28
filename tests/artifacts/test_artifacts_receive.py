"""artifacts.receive: an artifact's content from the caller's own session (the web app's comment form), under the
same limit, once-only rule and org isolation as the signed upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import Actor, make_org
from incidentd.artifacts import schemas, service
from incidentd.errors import Conflict, NotFound, RequestEntityTooLarge
from incidentd.principal import Principal


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def principal_of(actor: Actor) -> Principal:
    return Principal(actor.org, actor.user_number, actor.user_type)


async def prepared(app: Any, principal: Principal, name: str = "graph.txt") -> str:
    request = schemas.ArtifactsPrepareRequest(file_name=name)
    return (await service.prepare(app.state.db, principal, request, base_url="http://test")).id


async def test_received_content_downloads_and_is_set_once(app, admin: Actor):
    db = app.state.db
    principal = principal_of(admin)
    artifact = await prepared(app, principal)
    await service.receive(db, principal, artifact, data=pieces(b"p99 ", b"= 5 s"), content_type="text/plain")
    found = await service.get(db, principal, artifact)
    assert (
        found.artifact.file is not None and found.artifact.file.size == 9 and found.artifact.file.type == "text/plain"
    )
    with pytest.raises(Conflict):
        await service.receive(db, principal, artifact, data=pieces(b"again"), content_type=None)


async def test_receive_keeps_the_size_limit_and_another_orgs_artifacts_out(app, admin: Actor):
    db = app.state.db
    principal = principal_of(admin)
    db.settings.max_artifact_bytes = 4
    artifact = await prepared(app, principal)
    with pytest.raises(RequestEntityTooLarge):
        await service.receive(db, principal, artifact, data=pieces(b"12", b"345"), content_type=None)
    other = principal_of(await make_org(app, "acme"))
    theirs = await prepared(app, other)
    with pytest.raises(NotFound):
        await service.receive(db, principal, theirs, data=pieces(b"x"), content_type=None)
    await service.receive(db, other, theirs, data=pieces(b"x"), content_type=None)  # still free for its own org
