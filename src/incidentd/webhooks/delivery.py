"""The delivery loop: fan committed events out to the webhooks that want them, send due deliveries (per webhook
and incident in sequence order, different ones side by side), retry with backoff, dead-letter, and run the
verify handshakes. It runs in the server process (`webhook_delivery`) and in `incidentd worker`.

Sharing the work: on PostgreSQL every process claims rows with FOR UPDATE SKIP LOCKED and leases what it sends
(a killed process's leases expire and another process sends again: at least once, with the same event id). On
SQLite one process at a time delivers: the one holding an exclusive lock on `<database>.delivery.lock` (an OS
file lock, which the kernel releases the moment its process dies, so a successor takes over at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import time
from typing import Any

import msgspec
import structlog
from sqlalchemy.engine import make_url

from incidentd.db import Database
from incidentd.kit import ids
from incidentd.kit.load import IDLE, RequestLoad
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.webhooks import outbox, queue, repository, secrets, sending
from incidentd.webhooks.metrics import DeliveryMetrics
from incidentd.webhooks.service import secret_aad

log = structlog.get_logger("incidentd.webhooks")

FANOUT_BATCH = 2000  # events per org and pass
FANOUT_WEBHOOKS = 200  # webhooks fanned out per pass (across orgs)
RECORD_BATCH = 256  # outcomes stored in one transaction at most
RECORD_LINGER_SECONDS = 0.004  # what a few outcomes wait for others to share their transaction
SECRETS_CACHED = 4096  # unsealed secrets kept per process (by webhook and sealed form: a new secret misses)
SWEEP_EVERY_SECONDS = 60.0
FULL_PASS_EVERY_SECONDS = 0.02  # commits are fanned out within this of each other (bench/webhooks_load.py)
BUSY_CLAIMS = 8  # sends started per pass while requests queue (one pass per webhook_busy_pass_seconds)


class DeliveryTurn:
    """SQLite: the right to deliver, held by one process at a time (an exclusive, non-blocking flock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def beside(cls, url: str) -> DeliveryTurn | None:
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(f"{database}.delivery.lock")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_take(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def give(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def backoff_ms(attempts: int, first: float, cap: float) -> int:
    """The wait after the `attempts`-th failure: exponential from `first`, capped, with full jitter on its
    upper half (retries of many deliveries do not arrive in lockstep)."""
    base = min(cap, first * 2 ** max(0, attempts - 1))
    return int(base * random.uniform(0.5, 1.0) * 1000)


class Deliverer:
    """One process's delivery: call `run()` in a task and cancel it to stop; `close()` afterwards."""

    def __init__(self, db: Database, metrics: DeliveryMetrics | None = None, load: RequestLoad | None = None) -> None:
        self.db = db
        self.settings = db.settings
        self.load = load or IDLE  # the requests this process serves (none in `incidentd worker`)
        self.metrics = metrics or DeliveryMetrics()
        # Handshakes (rare) share one client; deliveries have a client per webhook (`clients`).
        self.http = sending.client(
            max_connections=self.settings.webhook_max_connections,
            timeout=self.settings.webhook_timeout_seconds,
            deny_private=self.settings.webhook_deny_private,
        )
        self.clients = sending.Clients(
            per_client=self.settings.webhook_max_in_flight,
            timeout=self.settings.webhook_timeout_seconds,
            deny_private=self.settings.webhook_deny_private,
        )
        self._outcomes: list[tuple[queue.Attempt, asyncio.Future[None]]] = []
        self._secrets: dict[tuple[int, int, str], str] = {}
        self._in_flight: dict[tuple[int, int], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._turn: DeliveryTurn | None = None
        self._last_sweep = 0.0
        self._wake = asyncio.Event()
        self._fanned = False  # the last pass's fan-out found events (there may be more)
        self._yielding = False  # requests queue in this process: delivery passes are spaced and small
        self.stopping = False

    # the loop --------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until cancelled. A failing pass (the database away) is logged and retried after a pause.

        A full pass (fan-out, handshakes, due deliveries) runs when this process committed an event, when fan-out
        found more to do, and at least every poll; sends that end hand their outcomes to the loop, whose next
        pass stores them and starts the next due deliveries in one transaction; under a steady stream of
        commits, full passes come at most every FULL_PASS_EVERY_SECONDS. Each signal is cleared before the pass
        that answers it, so one that fires during a pass makes the wait after it return at once.

        While requests queue in this process (`load.saturated()`: kit/load.py), every pass is a full one and they
        come at most every `webhook_busy_pass_seconds` with at most BUSY_CLAIMS new sends: each fans out and stores
        outcomes in larger batches, and the requests keep the event loop and SQLite's writer lock (a pass waits for
        that lock behind every request queued before it, and holds it while it writes). The backlog this leaves
        drains when requests thin out."""
        committed = outbox.committed_signal(self.db)
        poll = self.settings.webhook_poll_seconds
        busy_pass = self.settings.webhook_busy_pass_seconds
        more = True
        last_full = last_pass = 0.0
        while not self.stopping:
            yielding = self._yielding = busy_pass > 0 and self.load.saturated()
            if yielding and (wait := last_pass + busy_pass - time.monotonic()) > 0:
                await asyncio.sleep(wait)  # requests are served meanwhile; then look again whether they still are
                continue
            since = time.monotonic() - last_full
            full = yielding or more or (committed.is_set() and since >= FULL_PASS_EVERY_SECONDS) or since >= poll
            last_pass = time.monotonic()
            if full:
                committed.clear()
                last_full = time.monotonic()
            self._wake.clear()
            try:
                busy = await self.run_once(full=full)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery pass failed")
                busy = False
            more = busy and full and self._fanned
            if busy:
                await asyncio.sleep(0)
                continue
            if committed.is_set():  # its full pass comes FULL_PASS_EVERY_SECONDS after the last one
                signals, timeout = [self._wake], max(0.0, last_full + FULL_PASS_EVERY_SECONDS - time.monotonic())
            else:
                signals, timeout = [committed, self._wake], poll
            waiters = [asyncio.ensure_future(signal.wait()) for signal in signals]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when="FIRST_COMPLETED")
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def run_once(self, *, full: bool = True) -> bool:
        """One pass: store finished sends' outcomes, fan out, start handshakes (both only when `full`) and due
        deliveries. True when it found work (look again at once).

        A full pass first looks for work in a read (no writer lock, which on SQLite API writes queue for): an
        idle pass writes nothing. Outcomes, fan-out and claims share one write transaction: a delivery cycle
        (claim, send, record) costs a batch one transaction, not two per delivery."""
        if self.db.is_sqlite and not await self._take_turn():
            return False
        if not full and 0 < len(self._outcomes) < RECORD_BATCH:
            await asyncio.sleep(RECORD_LINGER_SECONDS)  # sends ending about now share the transaction
        now = now_ms()
        behind = shaking = False
        claim = True
        if full:
            async with self.db.read() as conn:
                waiting = await queue.work_waiting(conn, now, self._saturated({}))
            behind, shaking, claim = waiting.fan_out, waiting.handshakes, waiting.deliveries
        self._fanned = False
        busy = False
        outcomes, self._outcomes = self._outcomes[:RECORD_BATCH], self._outcomes[RECORD_BATCH:]
        room = len(self._tasks) - len(outcomes) < self.settings.webhook_max_connections
        if outcomes or behind or (claim and room):
            busy = await self._write_pass(now, outcomes, fan_out=behind) or bool(self._outcomes)
        if shaking:
            busy = await self._start_handshakes(now) or busy
        if time.monotonic() - self._last_sweep > SWEEP_EVERY_SECONDS:
            self._last_sweep = time.monotonic()
            async with self.db.write() as conn:
                await queue.sweep(conn, now - int(self.settings.events_retention_seconds * 1000))
        return busy

    async def idle(self) -> None:
        """Wait until nothing this process started is still being sent."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._outcomes:  # sends that ended as the loop stopped: they were made, so their outcomes count
            outcomes, self._outcomes = self._outcomes, []
            with contextlib.suppress(Exception):
                async with self.db.write() as conn:
                    await queue.record_attempts(conn, [attempt for attempt, _ in outcomes])
        await self.http.aclose()
        await self.clients.aclose()
        if self._turn is not None:
            self._turn.give()

    async def _take_turn(self) -> bool:
        if self._turn is None:
            self._turn = DeliveryTurn.beside(self.settings.database_url)
            if self._turn is None:  # an in-memory database: this process is the only one
                return True
        if self._turn.held:
            return True
        if not self._turn.try_take():
            return False
        async with self.db.write() as conn:
            await queue.release_all_leases(conn)  # what a previous holder was sending is ours to send again
        return True

    # fan-out ---------------------------------------------------------------------------------------

    async def _write_pass(
        self, now: int, outcomes: list[tuple[queue.Attempt, asyncio.Future[None]]], *, fan_out: bool
    ) -> bool:
        """In one write transaction: store `outcomes`, fan committed events out into deliveries (when `fan_out`),
        then claim the due deliveries this process has room for; after it commits, let the senders of
        `outcomes` end and start the claimed sends. True when another pass may find more at once.

        The senders of `outcomes` still count in `_tasks` and `_in_flight` until they end, after this pass:
        their slots are counted free here. Only this loop claims, so the counts cannot race."""
        finishing: dict[tuple[int, int], int] = {}
        for attempt, _ in outcomes:
            finishing[attempt.key[:2]] = finishing.get(attempt.key[:2], 0) + 1
        free = self.settings.webhook_max_connections - len(self._tasks) + len(outcomes)
        if self._yielding:  # requests are queueing: a few sends a pass, the rest when they thin out
            free = min(free, BUSY_CLAIMS)
        cap = self.settings.webhook_max_in_flight
        lease_until = now + int(self.settings.webhook_lease_seconds * 1000)
        chosen: list[Any] = []
        hooks: dict[tuple[int, int], Any] = {}
        events: dict[tuple[int, int], Any] = {}
        unseen = False  # due deliveries beyond what was looked at may fit the slots left
        try:
            async with self.db.write() as conn:
                await queue.record_attempts(conn, [attempt for attempt, _ in outcomes])
                if fan_out:
                    behind = await queue.webhooks_behind(conn, limit=FANOUT_WEBHOOKS)
                    self._fanned = await queue.fan_out(conn, behind, FANOUT_BATCH, now) > 0
                if free > 0:
                    candidates = await queue.due(conn, now, free * 2, self._saturated(finishing))
                    unseen = len(candidates) >= free * 2
                    taken: dict[tuple[int, int], int] = {}
                    for row in candidates:
                        key = (row.dev_org_id, row.webhook_number)
                        busy = self._in_flight.get(key, 0) - finishing.get(key, 0) + taken.get(key, 0)
                        if busy >= cap or len(chosen) >= free:
                            continue
                        taken[key] = taken.get(key, 0) + 1
                        chosen.append(row)
                    keys = [(r.dev_org_id, r.webhook_number, r.seq) for r in chosen]
                    await queue.lease(conn, keys, lease_until)
                    hooks, events = await queue.sending_batch(conn, keys)
        except BaseException as exc:  # their leases expire and they are sent again: at least once
            for _, stored in outcomes:
                if not stored.done():
                    stored.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        for _, stored in outcomes:
            if not stored.done():
                stored.set_result(None)
        for row in chosen:
            key = (row.dev_org_id, row.webhook_number)
            hook, event = hooks.get(key), events.get((row.dev_org_id, row.seq))
            if hook is None or event is None:  # the webhook or the event is gone
                continue
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self._spawn(self._deliver(row, lease_until, hook, event), key)
        # Another pass at once only when it may find more: the slots are full or nothing else was due otherwise
        # (sends that end wake the loop, and retries come due on the poll).
        return self._fanned or (unseen and len(chosen) < free)

    def _saturated(self, finishing: dict[tuple[int, int], int]) -> list[tuple[int, int]]:
        """Webhooks with as many deliveries in flight from this process as they may have (less `finishing`)."""
        cap = self.settings.webhook_max_in_flight
        return [key for key, count in self._in_flight.items() if count - finishing.get(key, 0) >= cap]

    # handshakes ------------------------------------------------------------------------------------

    async def _start_handshakes(self, now: int) -> bool:
        lease_ms = int(self.settings.webhook_lease_seconds * 1000)
        async with self.db.write() as conn:
            due = list(await queue.handshakes_due(conn, now, limit=20))
            for row in due:  # claimed: nobody else sends this handshake until the lease ends
                await queue.set_handshake(
                    conn, row.dev_org_id, row.number, row.verify_challenge, verify_next_at=now + lease_ms
                )
        for row in due:
            self._spawn(self._handshake(row))
        return bool(due)

    async def _handshake(self, row: Any) -> None:
        partition = self.settings.don_partition
        webhook_id = ids.to_don("webhook", row.number, org_slug=row.slug, partition=partition)
        challenge = row.verify_challenge
        body = msgspec.json.encode(
            {
                "id": f"{webhook_id}:webhook_event/verify-{challenge[:12]}",
                "webhook_id": webhook_id,
                "timestamp": to_rfc3339(now_ms()),
                "type": "verify",
                "verify": {"challenge": challenge},
            }
        )
        secret = secrets.unseal(self.db, row.secret_cipher, secret_aad(row.dev_org_id, row.number))
        timeout = self.settings.webhook_timeout_seconds
        outcome = await sending.post(self.http, row.url, body, secret, list(row.headers or []), timeout)
        echoed = _echoed_challenge(outcome.body) if outcome.ok else None
        async with self.db.write() as conn:
            if echoed == challenge:
                seq = await repository.last_seq(conn, row.dev_org_id)
                await queue.set_handshake(
                    conn,
                    row.dev_org_id,
                    row.number,
                    challenge,
                    status="active",
                    verified=True,
                    verify_challenge=None,
                    verify_next_at=None,
                    verify_until=None,
                    fanout_seq=seq,
                )
                log.info("webhook verified", webhook=webhook_id)
            else:
                retry = now_ms() + int(self.settings.webhook_retry_first_seconds * 1000)
                await queue.set_handshake(conn, row.dev_org_id, row.number, challenge, verify_next_at=retry)
                log.info("webhook verify failed", webhook=webhook_id, error=outcome.error or "challenge not echoed")

    # deliveries ------------------------------------------------------------------------------------

    def _spawn(self, work: Any, key: tuple[int, int] | None = None) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if key is not None:
                left = self._in_flight.get(key, 1) - 1
                if left > 0:
                    self._in_flight[key] = left
                else:
                    self._in_flight.pop(key, None)
            failed = not finished.cancelled() and finished.exception() is not None
            if failed:
                log.error("webhook send failed", error=repr(finished.exception()))
            if key is None or failed:
                # A slot is free. (A delivery that ended normally had its outcome stored by a pass of the loop,
                # which counted its slot free then: waking the loop again would only cost a transaction.)
                self._wake.set()

        task.add_done_callback(done)

    def _secret(self, dev_org_id: int, number: int, sealed: str) -> str:
        """A webhook's secret in clear, unsealed once per process and sealed form (AES-GCM and the key's
        derivation are not paid per send; a changed secret has a new sealed form)."""
        key = (dev_org_id, number, sealed)
        secret = self._secrets.get(key)
        if secret is None:
            if len(self._secrets) >= SECRETS_CACHED:
                self._secrets.clear()
            secret = self._secrets[key] = secrets.unseal(self.db, sealed, secret_aad(dev_org_id, number))
        return secret

    async def _deliver(self, row: Any, lease_until: int, hook: Any, event: Any) -> None:
        partition = self.settings.don_partition
        webhook_id = ids.to_don("webhook", row.webhook_number, org_slug=hook.slug, partition=partition)
        body = sending.envelope(
            f"{webhook_id}:{sending.EVENT_SEGMENT}{row.seq}",
            webhook_id,
            to_rfc3339(now_ms()),
            event.type,
            event.payload,
        )
        secret = self._secret(row.dev_org_id, row.webhook_number, hook.secret_cipher)
        http = self.clients.get((row.dev_org_id, row.webhook_number), self._in_flight.__contains__)
        outcome = await sending.post(
            http, hook.url, body, secret, list(hook.headers or []), self.settings.webhook_timeout_seconds
        )
        await self.record(row, lease_until, outcome)

    async def record(self, row: Any, lease_until: int, outcome: sending.Outcome) -> None:
        """Store the outcome of a send made under the lease `lease_until` (with others ending about now, in a
        pass of the loop: `_write_pass`). A replay (or another process whose claim followed an expired lease)
        took the delivery over meanwhile if the lease changed: the outcome of this send is then not the
        delivery's any more and is dropped, so the replay's send is not lost."""
        now = now_ms()
        settings = self.settings
        first = row.first_attempt_at or now
        next_attempt_at = delivered_date = None
        if outcome.ok:
            state, result, delivered_date = queue.DELIVERED, "delivered", now
        elif now - first >= settings.webhook_retry_window_seconds * 1000:
            state, result = queue.DEAD, "dead"
        else:
            wait = backoff_ms(
                row.attempts + 1, settings.webhook_retry_first_seconds, settings.webhook_retry_max_seconds
            )
            state, result, next_attempt_at = queue.PENDING, "retry", now + wait
        attempt = queue.Attempt(
            key=(row.dev_org_id, row.webhook_number, row.seq),
            lease_until=lease_until,
            state=state,
            status_code=outcome.status_code,
            error=outcome.error,
            latency_ms=outcome.latency_ms,
            first_attempt_at=first,
            next_attempt_at=next_attempt_at,
            delivered_date=delivered_date,
        )
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((attempt, stored))
        self._wake.set()
        await stored  # the loop's next pass stores it (and raises here what storing raised)
        self.metrics.observe(result, outcome.latency_ms / 1000)


def _echoed_challenge(body: bytes) -> str | None:
    """The challenge a receiver echoed: `{"challenge": ...}` as DevRev documents it."""
    try:
        answer = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    value = answer.get("challenge") if isinstance(answer, dict) else None
    return value if isinstance(value, str) else None


async def stop(deliverer: Deliverer, running: asyncio.Task[None]) -> None:
    """Cancel the loop and what it is sending, and give up the delivery turn: bounded, whatever state it is in."""
    # The flag ends the loop even when a cancellation is lost (Python 3.11's wait_for may swallow one that
    # arrives as its inner wait completes, and the database layer waits with wait_for): cancel until it ends.
    deliverer.stopping = True
    for _ in range(50):
        running.cancel()
        done, _pending = await asyncio.wait({running}, timeout=0.1)
        if done:
            break
    with contextlib.suppress(asyncio.CancelledError, Exception):
        if running.done():
            running.result()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(deliverer.close(), timeout=5.0)


async def render_metrics(db: Database | None, deliverer: Deliverer | None) -> str:
    """The delivery lines of /metrics: this process's attempts, and the backlog every process shares."""
    if db is None:
        return ""
    async with db.read() as conn:
        backlog, oldest = await queue.backlog(conn)
    age = (now_ms() - oldest) / 1000 if oldest is not None else 0.0
    metrics = deliverer.metrics if deliverer is not None else DeliveryMetrics()
    return metrics.render(backlog, age)
