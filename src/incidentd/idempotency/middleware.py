"""The ASGI layer of idempotency keys: a mutating POST with `Idempotency-Key` runs as one request transaction.

The layer sits behind authentication (keys are per principal) and in front of the route. Without the header a
request passes straight through: no query, no buffering, services commit as always. With it:
1. a finished request with the key and the same fingerprint: its stored answer is replayed
   (`Idempotent-Replayed: true`); another fingerprint: 400 `bad_request`;
2. otherwise the request runs with a `RequestTransaction`: its first write claims the key in the same transaction,
   the services' blocks do not commit, and the response is held back; a 2xx answer is stored on that connection
   and committed, and only then sent (a failed commit answers 503 instead); any other answer rolls back, so the
   request has no effect and the key stays free for a retry;
3. a same-process retry of a request still running waits for it (bounded, then 409 `conflict`); across processes
   the claim waits on the first transaction (PostgreSQL: bounded, then 409) and then sees its stored answer.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database, is_unavailable
from incidentd.errors import ApiError, Conflict, InternalError, ServiceUnavailable
from incidentd.idempotency import service
from incidentd.idempotency.service import ANSWER_SECRETS, Answer, AnswerSecrets, IdempotencyKey, InFlight
from incidentd.principal import Principal
from incidentd.web import metrics_of, send_body, send_error

log = structlog.get_logger("incidentd")

HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user")
        value = _header(scope, HEADER) if scope.get("method") == "POST" else None
        if value is None or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state
        settings = app_state.settings
        try:
            key = IdempotencyKey(principal.org.dev_org_id, principal.user_number, service.check_key(value))
        except ApiError as error:
            await send_error(send, error)
            return
        received, complete = await _read_body(receive, settings.max_body_bytes)
        if not complete:  # over the size limit (the route answers 413) or the client left: nothing can happen
            await self.app(scope, _replaying(received, receive), send)
            return
        body = b"".join(message.get("body", b"") for message in received)
        request_hash = service.fingerprint("POST", scope["path"], scope.get("query_string", b""), body)
        in_flight: InFlight = app_state.in_flight_keys
        db: Database = app_state.db
        try:
            async with in_flight.turn(key, settings.idempotency_wait_seconds):
                # A second round only follows a claim lost to another process, whose answer is stored by then.
                for _ in range(2):
                    answer = await service.find_answer(db, key, request_hash)
                    if answer is not None:
                        metrics_of(scope).idempotent_replays += 1
                        body = answer.body
                        if (secrets := _answer_secrets(scope)) is not None:
                            body = await secrets.replayed(db, principal, body)
                        await send_body(send, answer.status_code, body, answer.media_type, [REPLAYED])
                        return
                    if await self._run(scope, _replaying(received, receive), send, db, key, request_hash):
                        return
                raise Conflict(f"the Idempotency-Key '{key.value}' is in use by another request; retry later")
        except ApiError as error:
            await send_error(send, error)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, db: Database, key: IdempotencyKey, request_hash: str
    ) -> bool:
        """Run the request in one transaction and answer it; False if another request had claimed the key."""
        settings = db.settings
        lost_claim = False

        async def claim(conn: AsyncConnection) -> None:
            nonlocal lost_claim
            if not await service.claim(
                conn,
                key,
                request_hash,
                ttl_seconds=settings.idempotency_ttl_seconds,
                wait_seconds=settings.idempotency_wait_seconds,
            ):
                lost_claim = True
                raise Conflict(f"the Idempotency-Key '{key.value}' was answered by another request")

        response = _HeldResponse()
        with db.request_transaction(claim) as transaction:
            try:
                await self.app(scope, receive, response.send)
                if lost_claim:
                    return False
                if transaction.is_open and 200 <= response.status < 300:
                    answer = response.answer()
                    if (secrets := _answer_secrets(scope)) is not None:
                        answer = Answer(answer.status_code, answer.media_type, secrets.withheld(answer.body))
                    try:
                        await transaction.commit(lambda conn: service.record(conn, key, answer))
                    except Exception as exc:
                        await send_error(send, _commit_failed(db, exc, scope))
                        return True
            finally:
                # Anything not committed above (an error answer, a failure, a cancelled request) leaves no trace.
                await transaction.rollback()
        await response.replay(send)
        return True


class _HeldResponse:
    """The response of the route, held back until its transaction is settled."""

    def __init__(self) -> None:
        self.status = 500
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        self.messages.append(message)

    def answer(self) -> Answer:
        media_type = "application/json"
        body = b""
        for message in self.messages:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        media_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
        return Answer(self.status, media_type, body)

    async def replay(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


def _commit_failed(db: Database, exc: Exception, scope: Scope) -> ApiError:
    """The error that replaces a success whose transaction did not commit."""
    if is_unavailable(exc):
        return ServiceUnavailable("the database is unavailable; retry later", retry_after=db.retry_after)
    reference_id = uuid.uuid4().hex
    log.error(
        "commit of an idempotent request failed",
        reference_id=reference_id,
        request_id=scope.get("state", {}).get("request_id"),
        path=scope.get("path"),
        exc_info=exc,
    )
    return InternalError("an internal error occurred; quote the reference id", reference_id=reference_id)


def _answer_secrets(scope: Scope) -> AnswerSecrets | None:
    """The matched operation's AnswerSecrets, if its answer holds a secret."""
    handler = scope.get("route_handler")
    secrets: AnswerSecrets | None = handler.opt.get(ANSWER_SECRETS) if handler is not None else None
    return secrets


def _header(scope: Scope, name: bytes) -> str | None:
    for header, value in scope["headers"]:
        if header == name:
            return value.decode("latin-1").strip()
    return None


async def _read_body(receive: Receive, max_bytes: int) -> tuple[list[Any], bool]:
    """The request's body messages, read up to `max_bytes`; and whether that is the whole body."""
    messages: list[Any] = []
    size = 0
    while size <= max_bytes:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, False  # the client went away; the route sees the same disconnect
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            return messages, size <= max_bytes
    return messages, False


def _replaying(messages: list[Any], receive: Receive) -> Receive:
    """A `receive` that hands the route the messages already read, then whatever comes next."""
    pending = list(messages)

    async def replay() -> Any:
        return pending.pop(0) if pending else await receive()

    return replay
