"""A page of a long timeline costs the same at any depth: the list walks the (org, object, number) index from the
cursor's entry number, never counting or skipping the entries before it."""

from __future__ import annotations

import re

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

    async def page_after(cursor_number: int | None) -> list[int]:
        window = pages.Window("after", cursor_number, 50, "")
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
        return [row.number for row in page]

    deep_cursor = 1_000 + ENTRIES - 200
    assert len(await page_after(None)) == 51
    assert await page_after(deep_cursor) == list(range(deep_cursor + 1, deep_cursor + 52))
    # What a deep page reads, from the plan rather than a stopwatch (timings on a shared machine are not a test):
    # the walk starts at the cursor's entry and stops after the page.
    query = (
        sa.select(timeline_entries.c.number)
        .where(
            timeline_entries.c.dev_org_id == admin.org.dev_org_id,
            timeline_entries.c.object_kind == "incident",
            timeline_entries.c.object_number == number,
            timeline_entries.c.number > deep_cursor,
        )
        .order_by(timeline_entries.c.number)
        .limit(51)
    )
    async with app.state.db.read() as conn:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        if ON_POSTGRES:
            # Statistics of the table as it now is (a fresh Citus shard may have none yet): the plan its size
            # calls for. Whichever index the planner walks, no scan of the plan reads more than the page.
            await conn.execute(sa.text("ANALYZE timeline_entries"))
            plan = [line for (line,) in (await conn.execute(sa.text(f"EXPLAIN ANALYZE {compiled}"))).all()]
            scans = [line for line in plan if "Scan" in line and "actual" in line and "Custom Scan" not in line]
            assert any("Index" in line for line in scans), "\n".join(plan)
            read = [int(found.group(1)) for line in scans if (found := re.search(r"actual[^)]* rows=(\d+)", line))]
            assert read and max(read) <= 51, "\n".join(plan)
            return
        plan = (await conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))).all()
        assert any("ix_timeline_entries_by_object" in str(row) for row in plan), plan
