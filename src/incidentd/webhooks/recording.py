"""Outcomes of sends, stored in batches: a send hands its outcome to the recorder and waits until it is stored;
the recorder writes what accumulated in one transaction (one executemany), RECORD_LINGER_SECONDS after the first
outcome of a batch or at once when RECORD_BATCH are waiting. A delivery stays pending and leased until its
outcome is stored, so the next event of its webhook and incident is not claimed before (order holds), and a
process killed meanwhile leaves the lease to expire and the event to be sent again (at least once)."""

from __future__ import annotations

import asyncio
import contextlib

from incidentd.db import Database
from incidentd.webhooks import queue

RECORD_BATCH = 256
RECORD_LINGER_SECONDS = 0.004  # what an outcome may wait for others to share its transaction


class Recorder:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[queue.Attempt, asyncio.Future[None]]] = []
        self._full = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def record(self, attempt: queue.Attempt) -> None:
        """Store `attempt` with the others of its batch; raises what storing them raised."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((attempt, stored))
        if len(self._waiting) >= RECORD_BATCH:
            self._full.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await stored

    async def _write(self) -> None:
        while self._waiting:
            if len(self._waiting) < RECORD_BATCH:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(RECORD_LINGER_SECONDS):
                        await self._full.wait()
            self._full.clear()
            batch, self._waiting = self._waiting[:RECORD_BATCH], self._waiting[RECORD_BATCH:]
            await self._store(batch)

    async def _store(self, batch: list[tuple[queue.Attempt, asyncio.Future[None]]]) -> None:
        # Outcomes whose sender was cancelled meanwhile (a stopping process) are stored too: they were sent.
        try:
            async with self.db.write() as conn:
                await queue.record_attempts(conn, [attempt for attempt, _ in batch])
        except Exception as exc:  # every sender of the batch sees it; their leases expire and they are sent again
            for _, stored in batch:
                if not stored.done():
                    stored.set_exception(exc)
            return
        for _, stored in batch:
            if not stored.done():
                stored.set_result(None)

    async def close(self) -> None:
        """Store what is waiting (bounded by the caller), then stop."""
        if self._waiting:
            batch, self._waiting = self._waiting, []
            await self._store(batch)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
