"""/webhooks.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from incidentd.db import Database
from incidentd.errors import NotFound
from incidentd.kit.query import parse_query
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write
from incidentd.webhooks import deliveries, schemas, service, stream


async def create_webhook(
    data: schemas.WebhooksCreateRequest, principal: Principal, db: Database
) -> schemas.WebhookResponse:
    return schemas.WebhookResponse(webhook=await service.create(db, principal, data))


async def get_webhook(data: schemas.WebhooksGetRequest, principal: Principal, db: Database) -> schemas.WebhookResponse:
    return schemas.WebhookResponse(webhook=await service.get(db, principal, data.id))


async def list_webhooks(
    data: schemas.WebhooksListRequest, principal: Principal, db: Database
) -> schemas.WebhooksListResponse:
    return schemas.WebhooksListResponse(webhooks=await service.list_webhooks(db, principal, data))


async def update_webhook(
    data: schemas.WebhooksUpdateRequest, principal: Principal, db: Database
) -> schemas.WebhookResponse:
    return schemas.WebhookResponse(webhook=await service.update(db, principal, data))


async def delete_webhook(data: schemas.WebhooksDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


async def list_deliveries(
    data: schemas.WebhooksDeliveriesListRequest, principal: Principal, db: Database
) -> schemas.WebhooksDeliveriesListResponse:
    return await deliveries.list_deliveries(db, principal, data)


async def replay_webhook(
    data: schemas.WebhooksReplayRequest, principal: Principal, db: Database
) -> schemas.WebhooksReplayResponse:
    return schemas.WebhooksReplayResponse(replayed=await deliveries.replay(db, principal, data))


async def test_webhook(
    data: schemas.WebhooksTestRequest, principal: Principal, db: Database
) -> schemas.WebhooksTestResponse:
    return await deliveries.send_test(db, principal, data.id)


@get(
    "/events.stream",
    operation_id="events-stream",
    tags=["events"],
    media_type="text/event-stream",
    response_description="Server-Sent Events: the caller's org's events as they commit (docs/compatibility.md)",
)
async def events_stream(request: Request[Any, Any, Any]) -> Stream:
    query = parse_query(request.scope["query_string"], schemas.EventsStreamRequest)
    after = stream.resume_point(request.headers.get("last-event-id"), query.last_event_id)
    frames = await stream.open_stream(request.app.state.db, request.user, request.auth, after)
    # no-cache: not stored by caches; X-Accel-Buffering: nginx passes each event on at once.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Stream(frames, media_type="text/event-stream", headers=headers)


class WebhookAnswerSecrets:
    """webhooks.create / update answer with the webhook's secret: an Idempotency-Key keeps the answer without it,
    and a replay fills in the webhook's secret as it is now (empty if the webhook is gone)."""

    def withheld(self, body: bytes) -> bytes:
        answer = msgspec.json.decode(body, type=schemas.WebhookResponse)
        answer.webhook.secret = ""
        return msgspec.json.encode(answer)

    async def replayed(self, db: Database, principal: Principal, stored: bytes) -> bytes:
        answer = msgspec.json.decode(stored, type=schemas.WebhookResponse)
        try:
            answer.webhook.secret = (await service.get(db, principal, answer.webhook.id)).secret
        except NotFound:
            pass
        return msgspec.json.encode(answer)


ROUTES: list[HTTPRouteHandler] = [
    *write(
        "/webhooks.create", "webhooks-create", create_webhook, status_code=201, answer_secrets=WebhookAnswerSecrets()
    ),
    *read("/webhooks.get", "webhooks-get", get_webhook),
    *read("/webhooks.list", "webhooks-list", list_webhooks),
    *write("/webhooks.update", "webhooks-update", update_webhook, answer_secrets=WebhookAnswerSecrets()),
    *write("/webhooks.delete", "webhooks-delete", delete_webhook),
    # Extensions (docs/compatibility.md).
    *read("/webhooks.deliveries.list", "webhooks-deliveries-list", list_deliveries),
    *write("/webhooks.replay", "webhooks-replay", replay_webhook),
    *write("/webhooks.test", "webhooks-test", test_webhook),
    events_stream,
]
