"""On a Citus coordinator, every statement of the hot paths is a router query: Citus sends it to one shard.

Runs only when INCIDENTD_TEST_DATABASE_URL is a Citus coordinator (scripts/citus-cluster start). The API calls of
one org's work run with every SQL statement captured; each statement is then EXPLAINed on the coordinator with its
own parameters, and its plan must have one task. The few statements that fan out are named in MULTI_SHARD, each
with why it may.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from conftest import ON_POSTGRES, Actor, add_older_token, make_org, plain_statements_run
from incidentd.incidents import documents, documents_repository
from incidentd.logins import service as logins

# Statements allowed to run on every shard (matched on their SQL), and why.
MULTI_SHARD = {
    # A token of the older form (issued before tokens said their org: identity.service.org_of_token) is looked up
    # by its hash alone, on every shard. Once per token per process every TOKEN_CACHE_SECONDS
    # (identity.service.TokenCache), not once per request; tokens issued now name their org and go to one shard.
    "auth_tokens.token_hash = ": "token lookup by hash (older tokens; cached per process)",
    # (The search document of a write was an INSERT ... SELECT Citus planned on every shard; on Citus it is now read
    # by one SELECT and written by INSERT ... VALUES, both router queries: search.repository.write.)
}

_DML = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_TASKS = re.compile(r"Task Count: (\d+)")


async def _is_citus(url: str) -> bool:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'"))
    finally:
        await conn.close()


def _dsn(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def citus(app: Any, database_url: str) -> AsyncIterator[list[tuple[str, Any]]]:
    """The statements the app runs from now on, as (SQL, parameters): through SQLAlchemy and below it."""
    if not ON_POSTGRES or not await _is_citus(database_url):
        pytest.skip("INCIDENTD_TEST_DATABASE_URL is not a Citus coordinator")
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if _DML.match(statement):  # an executemany is planned as its first row is
            captured.append((statement, parameters[0] if many and parameters else parameters))

    def logged(sql: str, arguments: Any) -> None:  # a statement run below SQLAlchemy (PlainStatement)
        if _DML.match(sql):
            # a fetch's arguments are a tuple; an executemany's the list of its rows' (planned as its first is)
            many = isinstance(arguments, list)
            captured.append((sql, arguments[0] if many and arguments else arguments))

    sa.event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", capture)
    with plain_statements_run(app, logged):
        yield captured
    sa.event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", capture)


async def _call(client: Any, actor: Actor, path: str, body: dict[str, Any], status: int = 200) -> Any:
    response = await client.post(path, json=body, headers=actor.headers)
    assert response.status_code == status, (path, response.text)
    return response.json()


async def _one_orgs_work(client: Any, admin: Actor) -> None:
    """create, get, list, group, update, delete, custom fields, timeline, links and webhooks of one org."""
    fragment = {
        "type": "tenant_fragment",
        "description": "incident fields",
        "leaf_type": "incident",
        "fields": [{"name": "region", "field_type": "text"}],
    }
    await _call(client, admin, "/schemas.custom.set", fragment, 201)
    custom = {"custom_schema_spec": {"tenant_fragment": True}, "custom_fields": {"tnt__region": "us"}}
    created = await _call(client, admin, "/incidents.create", {"title": "Checkout is down", "severity": 1}, 201)
    other = await _call(client, admin, "/incidents.create", {"title": "Second", **custom}, 201)
    first, second = created["incident"]["id"], other["incident"]["id"]
    response = await client.get("/incidents.get", params={"id": first}, headers=admin.headers)
    assert response.status_code == 200, response.text
    await _call(client, admin, "/incidents.list", {"limit": 10, "severity": [1]})
    await _call(client, admin, "/incidents.group", {"group_by": "severity"})
    await _call(client, admin, "/incidents.update", {"id": first, "title": "Checkout is slow"})
    await _call(client, admin, "/incidents.update", {"id": second, **custom, "custom_fields": {"tnt__region": "eu"}})
    await _call(client, admin, "/incidents.list", {"custom_fields": {"tnt__region": ["eu"]}})
    comment = {"type": "timeline_comment", "object": first, "body": "hi"}
    await _call(client, admin, "/timeline-entries.create", comment, 201)
    await _call(client, admin, "/timeline-entries.list", {"object": first})
    await _call(client, admin, "/links.create", {"source": first, "link_type": "is_related_to", "target": second}, 201)
    await _call(client, admin, "/links.list", {"object": first})
    hook = await _call(client, admin, "/webhooks.create", {"url": "http://127.0.0.1:9/hook"}, 201)
    await _call(client, admin, "/webhooks.list", {})
    await _call(client, admin, "/webhooks.delete", {"id": hook["webhook"]["id"]})
    await _call(client, admin, "/incidents.delete", {"id": second})


async def _task_counts(url: str, statements: list[tuple[str, Any]]) -> list[tuple[str, int | None]]:
    """Each statement with its plan's task count (None: no Citus scan, it reads nothing distributed)."""
    conn = await asyncpg.connect(_dsn(url))
    counted = []
    try:
        for statement, parameters in statements:
            args = list(parameters) if isinstance(parameters, list | tuple) else []
            plan = "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN {statement}", *args))
            tasks = [int(found) for found in _TASKS.findall(plan)]
            counted.append((statement, max(tasks) if tasks else None))
    finally:
        await conn.close()
    return counted


async def test_every_statement_of_one_orgs_work_goes_to_one_shard(client, app, database_url, citus):
    await make_org(app, "warmup")  # the first org's own setup (bootstrap) is not the hot path
    admin = await make_org(app, "routed")
    await client.post("/incidents.list", json={}, headers=admin.headers)  # the token lookup (below) is cached
    citus.clear()
    await _one_orgs_work(client, admin)
    # A get reads its stored document below SQLAlchemy (`Database.first_row`), where the capture does not see it.
    point = documents_repository._ONE_POINT.postgresql
    values = {"dev_org_id": admin.org.dev_org_id, "number": 1, "format": documents.format_of(admin.org)}
    citus.append((point.sql, point.parameters(values)))
    counted = await _task_counts(database_url, citus)
    assert len(counted) > 40  # the work ran through the database
    fanned_out = [
        (tasks, statement)
        for statement, tasks in counted
        if tasks is not None and tasks > 1 and not any(part in statement for part in MULTI_SHARD)
    ]
    assert not fanned_out, "\n\n".join(f"{tasks} tasks: {statement}" for tasks, statement in fanned_out)
    # No Citus scan: reads no table at all, or the catalog (incidentd.citus.in_use asks once per engine).
    local = [s for s, tasks in counted if tasks is None and "FROM" in s.upper() and "pg_extension" not in s]
    assert not local, local


async def test_a_tokens_lookup_goes_to_its_orgs_shard_and_an_older_tokens_to_every_shard(
    client, app, database_url, citus
):
    admin = await make_org(app, "lookup")
    await client.post("/incidents.list", json={}, headers=admin.headers)
    counted = await _task_counts(database_url, citus)
    lookups = [tasks for statement, tasks in counted if "auth_tokens.token_hash = " in statement]
    assert lookups == [1], counted

    older = "idt_" + "o" * 43  # the form tokens had before they said their org
    await add_older_token(app, admin, older)
    citus.clear()
    answered = await client.post("/incidents.list", json={}, headers={"Authorization": f"Bearer {older}"})
    assert answered.status_code == 200, answered.text
    counted = await _task_counts(database_url, citus)
    lookups = [tasks for statement, tasks in counted if "auth_tokens.token_hash = " in statement]
    assert len(lookups) == 1 and lookups[0] is not None and lookups[0] > 1, counted


async def test_a_web_sessions_and_a_login_links_lookups_go_to_their_orgs_shard(client, app, database_url, citus):
    admin = await make_org(app, "web-routed")
    link = await logins.issue_login_link(app.state.db, admin.org, admin.org.don("dev_user", admin.user_number))
    citus.clear()
    session = await logins.redeem_login_link(app.state.db, link)
    client.cookies.set("incidentd_session", session.secret)
    assert (await client.get("/web/incidents")).status_code == 200
    counted = await _task_counts(database_url, citus)
    lookups = [
        tasks
        for statement, tasks in counted
        if "web_sessions.session_hash = " in statement or "login_links.link_hash = " in statement
    ]
    assert len(lookups) >= 2 and all(tasks == 1 for tasks in lookups), counted
