"""A page of a long timeline costs the same at any depth: the list walks the (org, object, number) index from the
cursor's entry number, never counting or skipping the entries before it."""

from __future__ import annotations

import time

import sqlalchemy as sa
from timeline_world import call, new_incident

from conftest import ON_POSTGRES, Actor
from incidentd.kit import pages
from incidentd.kit.time import now_ms
from incidentd.timeline import repository
from incidentd.timeline.tables import timeline_entries

ENTRIES = 20_000


async def test_a_deep_page_reads_as_few_rows_as_the_first(app, client, admin: Actor):
    incident = await new_incident(client, admin)
    number = int(incident["id"].rsplit("/", 1)[1])
    now = now_ms()
    rows = [
        {
            "dev_org_id": admin.org.dev_org_id,
            "number": 1_000 + n,
            "object_kind": "incident",
            "object_number": number,
            "entry_type": "timeline_comment",
            "visibility": "external",
            "collections": 1,
            "body": f"note {n}",
            "body_type": "text",
            "created_by": admin.user_number,
            "created_date": now,
            "modified_by": admin.user_number,
            "modified_date": now,
        }
        for n in range(ENTRIES)
    ]
    async with app.state.db.write() as conn:
        await conn.execute(sa.insert(timeline_entries), rows)
    first = await call(client, admin, "list", {"object": incident["id"], "limit": 50})
    assert len(first["timeline_entries"]) == 50

    async def timed(cursor_number: int | None) -> float:
        window = pages.Window("after", cursor_number, 50, "")
        started = time.perf_counter()
        for _ in range(20):
            async with app.state.db.read() as conn:
                page = await repository.page(
                    conn,
                    admin.org.dev_org_id,
                    "incident",
                    number,
                    repository.EntryFilters(),
                    window,
                    viewer=admin.user_number,
                    now=now,
                )
            assert len(page) == 51
        return time.perf_counter() - started

    shallow = await timed(None)
    deep = await timed(1_000 + ENTRIES - 200)
    assert deep < shallow * 3 + 0.05, (shallow, deep)
    if not ON_POSTGRES:
        async with app.state.db.read() as conn:
            query = (
                sa.select(timeline_entries.c.number)
                .where(
                    timeline_entries.c.dev_org_id == admin.org.dev_org_id,
                    timeline_entries.c.object_kind == "incident",
                    timeline_entries.c.object_number == number,
                    timeline_entries.c.number > 5,
                )
                .order_by(timeline_entries.c.number)
                .limit(51)
            )
            compiled = query.compile(compile_kwargs={"literal_binds": True})
            plan = (await conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
        assert any("ix_timeline_entries_by_object" in str(row) for row in plan), plan
