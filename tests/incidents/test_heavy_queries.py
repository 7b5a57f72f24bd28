"""On SQLite, statements run on the event loop's thread; the ones a request can make heavy (a filtered list page,
group counts) move to a worker thread once they outrun their inline budget, so that other orgs' requests are
answered meanwhile."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from world import create_incident

from conftest import ON_POSTGRES, Actor, make_org

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite runs statements on the event loop's thread")

STALL_SECONDS = 10  # a safety net only: the heavy statement is released as soon as the other request is answered


class StalledStatement:
    """Makes the first statement that `matches` heavy: on the loop's thread it outruns its inline budget (the
    progress handler interrupts it, as the server's own handler would), and in the worker thread that runs it again
    it is held inside SQLite until released. A statement held on the loop's thread would hold the whole loop."""

    def __init__(self, matches: Any) -> None:
        self.matches = matches
        self.armed: set[int] = set()
        self.stalled = threading.Event()
        self.released = threading.Event()

    def install(self, engine: sa.engine.Engine) -> None:
        sa.event.listen(engine, "connect", self._on_connect)
        sa.event.listen(engine, "before_cursor_execute", self._before_execute)

    def _sqlite(self, dbapi_connection: Any) -> Any:
        return dbapi_connection._connection._connection  # SQLAlchemy's adapter -> InlineConnection -> sqlite3

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        sqlite = self._sqlite(dbapi_connection)

        def progress() -> int:
            if id(sqlite) in self.armed:
                if threading.current_thread() is threading.main_thread():
                    return 1  # past the inline budget: SQLite interrupts it
                self.armed.discard(id(sqlite))
                self.stalled.set()
                self.released.wait(STALL_SECONDS)
            return 0

        sqlite.set_progress_handler(progress, 1)  # replaces the server's budget handler on this connection

    def _before_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not self.stalled.is_set() and self.matches(statement):
            self.armed.add(id(self._sqlite(conn.connection.dbapi_connection)))


@pytest.mark.parametrize(
    ("operation", "body", "statement"),
    [
        ("/incidents.list", {"title": ["no such title"]}, "ORDER BY"),
        ("/incidents.group", {"group_by": "severity", "title": ["Checkout is down"]}, "ORDER BY"),
    ],
)
async def test_another_org_is_answered_while_a_heavy_query_runs(
    app, client, admin: Actor, operation: str, body: dict[str, Any], statement: str
):
    stall = StalledStatement(lambda text: statement in text and "incidents.title" in text)
    for engine in app.state.db.engines:
        stall.install(engine.sync_engine)
        await engine.dispose()  # connections open anew, each with the progress handler
    other = await make_org(app, "other")
    await create_incident(client, admin)
    theirs = await create_incident(client, other)
    answered: list[str] = []
    heavy = asyncio.create_task(client.post(operation, json=body, headers=admin.headers))
    heavy.add_done_callback(lambda _: answered.append("heavy"))
    await asyncio.get_running_loop().run_in_executor(None, stall.stalled.wait, STALL_SECONDS)
    assert stall.stalled.is_set()
    response = await client.get("/incidents.get", params={"id": theirs["id"]}, headers=other.headers)
    answered.append("other")
    stall.released.set()
    assert response.status_code == 200, response.text
    assert (await heavy).status_code == 200
    # Held on the loop's thread, the heavy request would have finished first (once the safety net let it go).
    assert answered == ["other", "heavy"]
