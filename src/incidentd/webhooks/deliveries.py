"""Extensions beyond DevRev (docs/compatibility.md): a webhook's delivery log, replay, and a test event."""

from __future__ import annotations

import secrets as random

import msgspec

from incidentd.db import Database
from incidentd.errors import InvalidField
from incidentd.kit import cursors, pages
from incidentd.kit.time import now_ms, parse_rfc3339, to_rfc3339
from incidentd.principal import Principal, require_admin
from incidentd.webhooks import queue, schemas, sending, service


async def list_deliveries(
    db: Database, principal: Principal, request: schemas.WebhooksDeliveriesListRequest
) -> schemas.WebhooksDeliveriesListResponse:
    """A webhook's deliveries in event order: attempts, last status code, latency, next attempt, error."""
    require_admin(principal, "manage webhooks")
    org = principal.org
    limit = pages.page_limit(request.limit)
    states = sorted(set(request.state or []))
    fingerprint = cursors.fingerprint("webhook-deliveries", request.id, states)
    after = 0
    if request.cursor:
        values = cursors.decode(request.cursor, fingerprint).values
        if len(values) != 1 or not isinstance(values[0], int):
            raise InvalidField("the cursor is not valid", field_name="cursor")
        after = values[0]
    async with db.read() as conn:
        hook = await service.existing(conn, org, request.id)
        rows = list(await queue.list_deliveries(conn, org.dev_org_id, hook.number, states, after, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    partition = db.settings.don_partition
    deliveries = [
        schemas.WebhookDelivery(
            event_id=sending.event_id(partition, org.slug, hook.number, row.seq),
            type=row.type or "",
            object=org.don("incident", row.object_number),
            state=row.state,
            attempts=row.attempts,
            created_date=to_rfc3339(row.created_date),
            last_status_code=row.last_status_code,
            latency_ms=row.latency_ms,
            last_error=row.last_error,
            next_attempt_date=to_rfc3339(row.next_attempt_at) if row.state == queue.PENDING else None,
            delivered_date=to_rfc3339(row.delivered_date) if row.delivered_date else None,
        )
        for row in rows
    ]
    next_cursor = cursors.encode([rows[-1].seq], "after", fingerprint) if more else None
    return schemas.WebhooksDeliveriesListResponse(deliveries=deliveries, next_cursor=next_cursor)


def _seq_of(event_id: str, webhook_don: str) -> int:
    prefix = f"{webhook_don}:{sending.EVENT_SEGMENT}"
    digits = event_id.removeprefix(prefix)
    if not event_id.startswith(prefix) or not digits.isdigit() or len(digits) > 18:
        raise InvalidField("event_id is not an event id of this webhook", field_name="event_id")
    return int(digits)


async def replay(db: Database, principal: Principal, request: schemas.WebhooksReplayRequest) -> int:
    """Send again one delivery, or every retained event since a time that the webhook subscribes to, as new
    deliveries due now (their event ids unchanged). Clears the webhook's failing mark."""
    require_admin(principal, "manage webhooks")
    if (request.event_id is None) == (request.since is None):
        raise InvalidField("give exactly one of event_id and since", field_name="event_id")
    org = principal.org
    since = parse_rfc3339(request.since, field_name="since") if request.since is not None else None
    async with db.write() as conn:
        hook = await service.existing(conn, org, request.id)
        now = now_ms()
        if request.event_id is not None:
            seq = _seq_of(request.event_id, org.don("webhook", hook.number))
            count = await queue.replay_one(conn, org.dev_org_id, hook.number, seq, now)
            if count == 0:
                raise InvalidField("this webhook has no delivery of that event", field_name="event_id")
        else:
            assert since is not None
            count = await queue.replay_since(
                conn, org.dev_org_id, hook.number, list(hook.event_types or []), since, now
            )
        await queue.clear_failing(conn, org.dev_org_id, hook.number)
    return count


async def send_test(db: Database, principal: Principal, reference: str) -> schemas.WebhooksTestResponse:
    """Send a signed `webhook_updated` event (the webhook itself, as DevRev's payload has it) now, whatever the
    webhook's status, and answer what the receiver did."""
    require_admin(principal, "manage webhooks")
    org = principal.org
    async with db.read() as conn:
        hook = await service.existing(conn, org, reference)
        rendered = (await service.render(db, conn, org, [hook]))[0]
    settings = db.settings
    webhook_id = org.don("webhook", hook.number)
    body = sending.envelope(
        f"{webhook_id}:{sending.EVENT_SEGMENT}test-{random.token_hex(6)}",
        webhook_id,
        to_rfc3339(now_ms()),
        "webhook_updated",
        msgspec.json.encode({"webhook": rendered}).decode(),
    )
    async with sending.client(
        max_connections=1, timeout=settings.webhook_timeout_seconds, deny_private=settings.webhook_deny_private
    ) as http:
        outcome = await sending.post(
            http, hook.url, body, rendered.secret, list(hook.headers or []), settings.webhook_timeout_seconds
        )
    return schemas.WebhooksTestResponse(
        ok=outcome.ok, latency_ms=outcome.latency_ms, status_code=outcome.status_code, error=outcome.error
    )
