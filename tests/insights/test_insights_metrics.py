"""incidents.metrics: every aggregate against an independent Python computation over the same corpus (the same
corpus and expectations on SQLite and PostgreSQL, so exact percentiles agree between the two), ordering, the GET
form, validation in DevRev's shape, and isolation between orgs."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from corpus import answered_cells, build_corpus, expected_metrics, ok

from conftest import ON_POSTGRES, Actor, make_org

COUNT = 60


@pytest.fixture
async def corpus(client, app, admin: Actor) -> list[dict]:
    return await build_corpus(client, app, admin, COUNT)


@pytest.mark.parametrize("group_by", [None, "severity", "stage", "owned_by", "custom_fields.tnt__region"])
@pytest.mark.parametrize(
    ("bucket", "bucket_date"),
    [(None, None), ("day", None), ("week", "created_date"), ("month", None), ("week", "actual_close_date")],
)
async def test_every_aggregate_matches_a_python_computation(client, admin, corpus, group_by, bucket, bucket_date):
    body: dict = {}
    if group_by:
        body["group_by"] = group_by
    if bucket:
        body["bucket"] = bucket
    if bucket_date:
        body["bucket_date"] = bucket_date
    answer = await ok(await client.post("/incidents.metrics", json=body, headers=admin.headers))
    now = int(time.time() * 1000)
    expected = expected_metrics(corpus, group_by, bucket, bucket_date or "created_date", now)
    assert answered_cells(answer) == expected


async def test_groups_come_in_group_order_then_buckets_ascending(client, admin, corpus):
    answer = await ok(
        await client.post("/incidents.metrics", json={"group_by": "severity", "bucket": "month"}, headers=admin.headers)
    )
    order = [(group["key"].get("value", 99), group["bucket"]) for group in answer["groups"]]
    assert order == sorted(order)
    assert answer["groups"][-1]["key"] == {"type": "int"}  # the no-value group last, as in incidents.group


async def test_filters_narrow_what_is_measured_and_get_answers_as_post(client, admin, corpus):
    filtered = [incident for incident in corpus if incident.get("severity", {}).get("id") in (1, 2)]
    now = int(time.time() * 1000)
    post = await ok(
        await client.post(
            "/incidents.metrics", json={"severity": [1, 2], "group_by": "owned_by"}, headers=admin.headers
        )
    )
    get = await ok(
        await client.get(
            "/incidents.metrics", params={"severity": "1,2", "group_by": "owned_by"}, headers=admin.headers
        )
    )
    assert post == get
    assert answered_cells(post) == expected_metrics(filtered, "owned_by", None, "created_date", now)


async def test_no_matching_incident_gives_no_group(client, admin):
    answer = await ok(await client.post("/incidents.metrics", json={}, headers=admin.headers))
    assert answer == {"groups": []}


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"group_by": "title"}, "group_by", "invalid_field"),
        ({"group_by": "custom_fields.tnt__nope"}, "group_by", "invalid_field"),
        ({"bucket": "year"}, "bucket", "invalid_enum_value"),
        ({"bucket_date": "created_date"}, "bucket_date", "invalid_field"),
        ({"bucket": "day", "bucket_date": "mitigated_date"}, "bucket_date", "invalid_enum_value"),
        ({"group_by": "x" * 257}, "group_by", "invalid_field"),
        ({"severity": ["sev9"]}, "severity[0]", "invalid_enum_value"),
        ({"created_date": {"type": "range", "after": "yesterday"}}, "created_date.after", "invalid_field"),
        ({"owned_by": ["x"] * 1001}, "owned_by", "invalid_field"),
        ({"unknown": 1}, "unknown", "invalid_field"),
    ],
)
async def test_bad_requests_are_400_naming_the_field(client, admin, body, field, error_type):
    response = await client.post("/incidents.metrics", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == error_type
    assert response.json()["field_name"] == field


async def test_too_many_buckets_is_400_naming_bucket(client, admin, corpus, monkeypatch):
    from incidentd.incidents import metrics

    monkeypatch.setattr(metrics, "MAX_GROUPS", 5)
    response = await client.post("/incidents.metrics", json={"bucket": "day"}, headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["field_name"] == "bucket"


async def test_another_org_measures_nothing_of_this_org(client, app, admin, corpus):
    stranger = await make_org(app, "stranger")
    mine = await ok(await client.post("/incidents.metrics", json={}, headers=admin.headers))
    assert mine["groups"][0]["count"] == COUNT
    theirs = await ok(await client.post("/incidents.metrics", json={"group_by": "owned_by"}, headers=stranger.headers))
    assert theirs == {"groups": []}
    owner = next(owner["id"] for incident in corpus for owner in incident.get("owned_by", []))
    # This org's ids in the stranger's filters match nothing, as in incidents.list.
    filtered = await client.post("/incidents.metrics", json={"owned_by": [owner]}, headers=stranger.headers)
    assert (await ok(filtered)) == {"groups": []}
    # The custom field this org declared is not the stranger's.
    response = await client.post(
        "/incidents.metrics", json={"group_by": "custom_fields.tnt__region"}, headers=stranger.headers
    )
    assert response.status_code == 400 and response.json()["field_name"] == "group_by"


async def test_a_member_may_read_metrics(client, member, corpus):
    answer = await ok(await client.post("/incidents.metrics", json={}, headers=member.headers))
    assert answer["groups"][0]["count"] == COUNT


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's plan; PostgreSQL picks by statistics a small table does not have")
@pytest.mark.parametrize(
    ("date", "index"),
    [("created_date", "ix_incidents_created_lifecycle"), ("actual_close_date", "ix_incidents_closed_lifecycle")],
)
async def test_a_span_of_dates_by_severity_reads_one_index_alone(client, app, admin, corpus, date, index):
    """What makes a year by week and severity fast at 1,000,000 incidents (docs/performance.md, "Metrics"): the
    statement reads the date's index and never the incidents' rows. Fails when metrics read a column the index
    does not hold."""
    statements: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, many):
        if "incidentd_stats" in statement:
            statements.append((statement, parameters))

    engine = app.state.db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        body = {date: {"type": "range", "after": "2000-01-01T00:00:00Z"}, "group_by": "severity", "bucket": "week"}
        body["bucket_date"] = date
        await ok(await client.post("/incidents.metrics", json=body, headers=admin.headers))
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    (statement, parameters), *_ = statements
    async with app.state.db.engine.connect() as conn:
        plan = [row[-1] for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any(f"COVERING INDEX {index}" in step for step in plan), plan
