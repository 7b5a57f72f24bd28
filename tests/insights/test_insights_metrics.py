"""incidents.metrics: every aggregate against an independent Python computation over the same corpus (the same
corpus and expectations on SQLite and PostgreSQL, so exact percentiles agree between the two), ordering, the GET
form, validation in DevRev's shape, and isolation between orgs."""

from __future__ import annotations

import time

import pytest
from corpus import answered_cells, build_corpus, expected_metrics, ok

from conftest import Actor, make_org

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
