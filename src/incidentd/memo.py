"""Per-process memory of rows that never change once committed (`ImmutableRows`), and of rows that change only
together with a counter of their org (`VersionedRows`).

Rendering an incident names its users, its stage (with its state) and its schema fragments. Those rows are never
updated or deleted (no repository has an UPDATE or DELETE for them), so a process may keep what it has read once
and skip the query next time: a get renders with three statements fewer. The same holds for facts that never
change once committed, such as which diagram is an org's default for a leaf type. Memory is kept per database
engine (tests run many databases in one process); rows read inside a write unit of work are remembered only once
it commits, because a write may still roll back and its numbers be given to other rows. A repository that starts
updating or deleting one of these tables must stop remembering it here.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import database_key, when_committed

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

MAX_ENTRIES = 100_000


def _remembered_and_missing(keys: Iterable[K], remembered: Callable[[K], T | None]) -> tuple[dict[K, T], list[K]]:
    """The keys' remembered rows, and the keys without one (each key once)."""
    found: dict[K, T] = {}
    missing: list[K] = []
    for key in set(keys):
        row = remembered(key)
        if row is None:
            missing.append(key)
        else:
            found[key] = row
    return found, missing


class ImmutableRows(Generic[K, T]):
    """Rows of one table by (dev_org_id, key), the key usually a number, remembered per database (its reading and
    writing engines share one memory); misses are fetched in one query."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._by_engine: weakref.WeakKeyDictionary[Engine, dict[tuple[int, K], T]] = weakref.WeakKeyDictionary()

    async def get(
        self,
        conn: AsyncConnection,
        dev_org_id: int,
        keys: Iterable[K],
        fetch: Callable[[AsyncConnection, int, list[K]], Awaitable[dict[K, T]]],
    ) -> dict[K, T]:
        database = database_key(conn.sync_engine)
        memory = self._by_engine.get(database)
        if memory is None:
            memory = self._by_engine[database] = {}
        found, missing = _remembered_and_missing(keys, lambda key: memory.get((dev_org_id, key)))
        if missing:
            fetched = await fetch(conn, dev_org_id, missing)
            found.update(fetched)

            def remember() -> None:
                if len(memory) + len(fetched) > self.max_entries:
                    memory.clear()
                memory.update(((dev_org_id, key), row) for key, row in fetched.items())

            when_committed(remember)
        return found


class VersionedRows(Generic[K, T]):
    """Rows that may change, remembered per org under a version: a counter of the org raised in the same transaction
    as every change of them (the summaries version, `kit.counters.summaries_changed`; the fragments counter,
    `kit.counters.FRAGMENTS`). What was read under version V is what any reader that read V may use. A caller
    passes the version it read in its unit of work before it read any of these rows (incidents.documents): a
    rename that commits between the two reads leaves the newer name under V, never an older name under a newer
    version. A newer version forgets the org's rows; rows read under an older one are neither served nor
    remembered. Remembered once the unit of work commits, as `ImmutableRows`."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._by_engine: weakref.WeakKeyDictionary[Engine, _Versioned[K, T]] = weakref.WeakKeyDictionary()

    async def get(
        self,
        conn: AsyncConnection,
        dev_org_id: int,
        version: int,
        keys: Iterable[K],
        fetch: Callable[[list[K]], Awaitable[dict[K, T]]],
    ) -> dict[K, T]:
        database = database_key(conn.sync_engine)
        memory = self._by_engine.get(database)
        if memory is None:
            memory = self._by_engine[database] = _Versioned(self.max_entries)
        found, missing = _remembered_and_missing(keys, memory.rows(dev_org_id, version).get)
        if missing:
            fetched = await fetch(missing)
            found.update(fetched)
            when_committed(lambda: memory.remember(dev_org_id, version, fetched))
        return found


class _Versioned(Generic[K, T]):
    """One database's `VersionedRows`: each org's rows under the one version they were read under."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries = 0
        self.orgs: dict[int, tuple[int, dict[K, T]]] = {}

    def rows(self, dev_org_id: int, version: int) -> dict[K, T]:
        held_version, held = self.orgs.get(dev_org_id, (version, {}))
        return held if held_version == version else {}

    def remember(self, dev_org_id: int, version: int, fetched: dict[K, T]) -> None:
        held_version, held = self.orgs.get(dev_org_id, (version, {}))
        if held_version > version:  # read under a version already raised: of no use to anyone from now on
            return
        if held_version < version:
            self.entries -= len(held)
            held = {}
        if self.entries + len(fetched) > self.max_entries:
            self.orgs.clear()
            self.entries, held = 0, {}
        self.entries += len(fetched.keys() - held.keys())
        held.update(fetched)
        self.orgs[dev_org_id] = (version, held)
