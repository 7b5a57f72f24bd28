"""Rules of webhooks: admins manage them; a new url or secret needs the verify handshake again (status
`unverified` until the receiver echoes the challenge, then `active`); secrets are stored sealed."""

from __future__ import annotations

import secrets as random
from typing import Any
from urllib.parse import urlsplit

import msgspec
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.errors import InvalidField, NotFound
from incidentd.identity import service as identity
from incidentd.identity.schemas import user_summary
from incidentd.kit import counters, ids
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.principal import OrgScope, Principal, require_admin
from incidentd.webhooks import outbox, repository, schemas, secrets

MIN_SECRET_BYTES = 8
MAX_SECRET_BYTES = 32
# DevRev: the receiver must answer the handshake within 3 minutes of the create (or of the url/secret change).
VERIFY_WINDOW_MS = 3 * 60 * 1000

SENT_EVENT_TYPES = outbox.SENT_TYPES  # what a webhook can receive from incidentd, for forms that offer them


def secret_aad(dev_org_id: int, number: int) -> bytes:
    return f"webhook:{dev_org_id}:{number}".encode()


def webhook_number(org: OrgScope, reference: str, field_name: str = "id") -> int:
    """The number of the webhook an id names; 0 (found nowhere) for another org's id."""
    parsed = ids.parse(reference, "webhook", field_name=field_name)
    return parsed.number if org.owns(parsed) else 0


async def existing(conn: AsyncConnection, org: OrgScope, reference: str, *, lock: bool = False) -> Row[Any]:
    row = await repository.get(conn, org.dev_org_id, webhook_number(org, reference), lock=lock)
    if row is None:
        raise NotFound(f"webhook '{reference}' does not exist")
    return row


def _url(url: str, field_name: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("url must be an absolute http:// or https:// URL", field_name=field_name)
    return url


def _secret(secret: str | None, field_name: str) -> str:
    """The given secret (8 to 32 bytes), or a generated one when none or "" is given."""
    if not secret:
        return secrets.new_secret()
    if not MIN_SECRET_BYTES <= len(secret.encode("utf-8")) <= MAX_SECRET_BYTES:
        raise InvalidField(
            f"the secret must be between {MIN_SECRET_BYTES} and {MAX_SECRET_BYTES} bytes", field_name=field_name
        )
    return secret


def _headers(headers: list[schemas.WebhookHeader], field_name: str) -> list[dict[str, str]]:
    by_name: dict[str, dict[str, str]] = {}
    for header in headers:
        by_name[header.name.lower()] = {"name": header.name, "value": header.value}
    if len(by_name) > schemas.MAX_HEADERS:
        raise InvalidField(f"a webhook has at most {schemas.MAX_HEADERS} headers", field_name=field_name)
    return list(by_name.values())


def _handshake(now: int) -> dict[str, Any]:
    """Columns that (re)start the verify handshake: the delivery loop sends it at once."""
    return {
        "status": "unverified",
        "verified": False,
        "verify_challenge": random.token_urlsafe(27),
        "verify_next_at": now,
        "verify_until": now + VERIFY_WINDOW_MS,
    }


async def render(db: Database, conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Webhook]:
    related = [number for row in rows for number in (row.created_by, row.modified_by) if number is not None]
    users = await identity.users_by_number(conn, org, related)

    def summary(number: int | None) -> Any:
        row = users.get(number) if number is not None else None
        return user_summary(row, org) if row is not None else None

    return [
        schemas.Webhook(
            id=org.don("webhook", row.number),
            url=row.url,
            secret=secrets.unseal(db, row.secret_cipher, secret_aad(row.dev_org_id, row.number)),
            status=row.status,
            event_types=list(row.event_types or []),
            headers=[schemas.WebhookHeaderOut(name=h["name"], value=h["value"]) for h in row.headers or []],
            created_by=summary(row.created_by),
            created_date=to_rfc3339(row.created_date),
            modified_by=summary(row.modified_by),
            modified_date=to_rfc3339(row.modified_date),
            failing=bool(row.failing),
        )
        for row in rows
    ]


async def create(db: Database, principal: Principal, request: schemas.WebhooksCreateRequest) -> schemas.Webhook:
    require_admin(principal, "manage webhooks")
    org = principal.org
    url = _url(request.url, "url")
    secret = _secret(request.secret, "secret")
    headers = _headers(request.headers or [], "headers")
    async with db.write() as conn:
        number = await counters.allocate(conn, org.dev_org_id, "webhook")
        now = now_ms()
        await repository.insert(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            url=url,
            event_types=sorted(set(request.event_types or [])),
            headers=headers,
            secret_cipher=secrets.seal(db, secret, secret_aad(org.dev_org_id, number)),
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
            **_handshake(now),
        )
        row = await repository.get(conn, org.dev_org_id, number)
        assert row is not None
        hook = (await render(db, conn, org, [row]))[0]
        await _announce(db, conn, org, "webhook_created", hook)
        return hook


async def _announce(db: Database, conn: AsyncConnection, org: OrgScope, type_: str, hook: schemas.Webhook) -> None:
    """A webhook's event, in the change's transaction; its secret left out (events reach every receiver and
    stream of the org, the secret only the admins who manage webhooks)."""
    if type_ in await outbox.wanted(db, conn, org):
        shown = msgspec.structs.replace(hook, secret="")
        await outbox.record(db, conn, org, type_, webhook_number(org, hook.id), {"webhook": shown})


async def get(db: Database, principal: Principal, reference: str) -> schemas.Webhook:
    require_admin(principal, "manage webhooks")
    async with db.read() as conn:
        row = await existing(conn, principal.org, reference)
        return (await render(db, conn, principal.org, [row]))[0]


async def list_webhooks(
    db: Database, principal: Principal, request: schemas.WebhooksListRequest
) -> list[schemas.Webhook]:
    require_admin(principal, "manage webhooks")
    async with db.read() as conn:
        rows = list(await repository.list_webhooks(conn, principal.org.dev_org_id, request.status))
        return await render(db, conn, principal.org, rows)


def _event_types(current: list[str], change: schemas.EventTypesChange) -> list[str]:
    if change.set is not None:
        if change.add is not None or change.remove is not None:
            raise InvalidField("event_types.set cannot be combined with add or remove", field_name="event_types.set")
        return sorted(set(change.set))
    chosen = (set(current) | set(change.add or [])) - set(change.remove or [])
    return sorted(chosen)


def _changed_headers(current: list[dict[str, str]], change: schemas.HeadersChange) -> list[dict[str, str]]:
    if change.set is not None:
        if change.add is not None or change.remove is not None:
            raise InvalidField("headers.set cannot be combined with add or remove", field_name="headers.set")
        return _headers(change.set, "headers.set")
    removed = {name.lower() for name in change.remove or []}
    kept = [
        schemas.WebhookHeader(name=h["name"], value=h["value"]) for h in current if h["name"].lower() not in removed
    ]
    return _headers([*kept, *(change.add or [])], "headers.add")


def _action(request: schemas.WebhooksUpdateRequest) -> str | None:
    """DevRev's `action`, or the Python SDK's `status` in its place (`unverified` asks for nothing)."""
    if request.action is not None:
        return request.action
    return {"active": "activate", "inactive": "deactivate"}.get(request.status or "")


async def update(db: Database, principal: Principal, request: schemas.WebhooksUpdateRequest) -> schemas.Webhook:
    """Change what the request gives. A new url or secret needs the handshake again; `activate` activates a
    verified webhook and restarts the handshake of one that is not; `deactivate` stops deliveries."""
    require_admin(principal, "manage webhooks")
    org = principal.org
    async with db.write() as conn:
        row = await existing(conn, org, request.id, lock=True)
        now = now_ms()
        values: dict[str, Any] = {"modified_by": principal.user_number, "modified_date": now}
        reverify = False
        if request.url is not None and _url(request.url, "url") != row.url:
            values["url"] = request.url
            reverify = True
        if isinstance(request.secret, str):
            values["secret_cipher"] = secrets.seal(
                db, _secret(request.secret, "secret"), secret_aad(org.dev_org_id, row.number)
            )
            reverify = True
        if request.event_types is not None:
            values["event_types"] = _event_types(list(row.event_types or []), request.event_types)
        if request.headers is not None:
            values["headers"] = _changed_headers(list(row.headers or []), request.headers)
        action = _action(request)
        if action == "deactivate":
            values.update(status="inactive", verify_challenge=None, verify_next_at=None, verify_until=None)
            if reverify:
                values["verified"] = False
        elif action == "activate" and (reverify or not row.verified):
            values.update(_handshake(now))
        elif action == "activate" and row.status != "active":
            values.update(status="active", fanout_seq=await repository.last_seq(conn, org.dev_org_id))
        elif reverify and row.status == "inactive":
            values["verified"] = False  # verified again when activated
        elif reverify:
            values.update(_handshake(now))
        await repository.update(conn, org.dev_org_id, row.number, **values)
        updated = await repository.get(conn, org.dev_org_id, row.number)
        assert updated is not None
        hook = (await render(db, conn, org, [updated]))[0]
        await _announce(db, conn, org, "webhook_updated", hook)
        return hook


async def delete(db: Database, principal: Principal, reference: str) -> None:
    require_admin(principal, "manage webhooks")
    async with db.write() as conn:
        org = principal.org
        row = await existing(conn, org, reference)
        await repository.delete(conn, org.dev_org_id, row.number)
        if "webhook_deleted" in await outbox.wanted(db, conn, org):
            await outbox.record(db, conn, org, "webhook_deleted", row.number, {"id": org.don("webhook", row.number)})
