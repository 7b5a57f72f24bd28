"""The rules of idempotency keys: which answer a retry gets, how a key is claimed, how long it is kept.

A key belongs to one principal. The first request that writes with it claims the key inside its own transaction
and stores its answer there before committing, so an effect and its stored answer commit together or not at all.
A retry with the same request replays that answer; with a different request it is 400 `bad_request`; while the
first still runs it waits (bounded) and then replays, or answers 409 `conflict`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.errors import BadRequestError, Conflict
from incidentd.idempotency import repository
from incidentd.kit.time import now_ms
from incidentd.principal import Principal

log = structlog.get_logger("incidentd")

MAX_KEY_LENGTH = 255
# Expired records deleted per transaction: small, so the cleanup never holds the writer for long.
PURGE_BATCH = 500
# PostgreSQL's "lock_not_available": our lock_timeout ran out while another transaction held the key.
_LOCK_TIMEOUT_SQLSTATE = "55P03"


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A key as one principal sent it."""

    dev_org_id: int
    user_number: int
    value: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A stored answer: what the first request with the key was told."""

    status_code: int
    media_type: str
    body: bytes


class AnswerSecrets(Protocol):
    """How an operation whose answer holds a secret (a token, a signed link) is remembered for its key: the
    stored answer never holds the secret; a replay is made from what was stored."""

    def withheld(self, body: bytes) -> bytes:
        """The answer's body as stored: without its secrets."""
        ...

    async def replayed(self, db: Database, principal: Principal, stored: bytes) -> bytes:
        """The body a replay answers, from the stored one."""
        ...


# The route handler option (Litestar's `opt`) that names an operation's AnswerSecrets.
ANSWER_SECRETS = "answer_secrets"


def check_key(value: str) -> str:
    """The header's value if it is 1 to 255 printable ASCII characters; BadRequestError otherwise."""
    if not 0 < len(value) <= MAX_KEY_LENGTH or not (value.isascii() and value.isprintable()):
        raise BadRequestError(f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
    return value


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """What makes two requests "the same request" for a key: method, path, query string and body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query):
        digest.update(part)
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


async def find_answer(db: Database, key: IdempotencyKey, request_hash: str) -> Answer | None:
    """The answer stored for `key`, if its first request finished; BadRequestError if that was another request."""
    async with db.read() as conn:
        row = await repository.find(conn, key.dev_org_id, key.user_number, key.value, now_ms())
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise BadRequestError(
            f"the Idempotency-Key '{key.value}' was already used for a different request (another path or body); "
            "send a new key for a new request"
        )
    return Answer(row.status_code, row.media_type, row.body)


async def claim(
    conn: AsyncConnection, key: IdempotencyKey, request_hash: str, *, ttl_seconds: int, wait_seconds: float
) -> bool:
    """Claim `key` inside the transaction of the request's effect; False if another request already answered it.

    A request that claimed the key but has not committed yet holds it: on PostgreSQL this waits for it at most
    `wait_seconds`, then raises Conflict (409). On SQLite the writer lock already serialises the claims.
    """
    now = now_ms()
    postgres = conn.dialect.name == "postgresql"
    try:
        if postgres:
            await repository.set_lock_timeout(conn, wait_seconds)
        claimed = await repository.claim(
            conn, key.dev_org_id, key.user_number, key.value, request_hash, now, now + ttl_seconds * 1000
        )
        if postgres:
            await repository.set_lock_timeout(conn, None)
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_TIMEOUT_SQLSTATE:
            raise Conflict(f"a request with the Idempotency-Key '{key.value}' is still running; retry later") from exc
        raise
    return claimed


async def record(conn: AsyncConnection, key: IdempotencyKey, answer: Answer) -> None:
    """Store the answer of the request that claimed `key`, in its transaction."""
    await repository.answer(
        conn, key.dev_org_id, key.user_number, key.value, answer.status_code, answer.media_type, answer.body
    )


async def purge_expired(db: Database, *, batch: int = PURGE_BATCH) -> int:
    """Delete every expired record, `batch` rows per transaction; the number deleted."""
    deleted = 0
    while True:
        async with db.write() as conn:
            count = await repository.delete_expired(conn, now_ms(), batch)
        deleted += count
        if count < batch:
            return deleted
        await asyncio.sleep(0)  # let requests run between batches


async def purge_periodically(db: Database, interval_seconds: float) -> None:
    """The lifespan's background cleanup: sleep, purge, repeat; a database outage only delays it."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            deleted = await purge_expired(db)
            if deleted:
                log.info("expired idempotency keys deleted", count=deleted)
        except Exception as exc:
            log.warning("idempotency key cleanup failed; retrying later", error=str(exc))


class InFlight:
    """The keys this process is running requests for, so that a retry waits for the first instead of racing it.

    Across processes the database claim decides; this only turns a same-process race into a short, fair wait.
    """

    def __init__(self) -> None:
        self._running: dict[IdempotencyKey, asyncio.Event] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: IdempotencyKey, wait_seconds: float) -> AsyncIterator[None]:
        """Hold `key` in this process for the block, after waiting at most `wait_seconds` (Conflict) for others."""
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while (running := self._running.get(key)) is not None:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(running.wait(), max(remaining, 0))
            except TimeoutError:
                raise Conflict(
                    f"a request with the Idempotency-Key '{key.value}' is still running; retry later"
                ) from None
        done = self._running[key] = asyncio.Event()
        try:
            yield
        finally:
            del self._running[key]
            done.set()
