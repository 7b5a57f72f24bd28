"""incidents.list: every filter against an independent computation, sorting, keyset cursors."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from truth import matches, ordered
from world import World, build_world, create_incident, set_tenant_fragment

from conftest import Actor, make_org
from contract import assert_conforms

SORTS = [
    "created_date",
    "modified_date",
    "identified_date",
    "acknowledged_date",
    "mitigated_date",
    "target_close_date",
    "actual_close_date",
    "severity",
    "title",
]


async def seed(client, admin: Actor, world: World, count: int, rng: random.Random) -> tuple[list[dict], dict]:
    """`count` incidents with varied fields; returns them and what the wire objects do not show."""
    await set_tenant_fragment(
        client,
        admin,
        [
            {"name": "region", "field_type": "enum", "allowed_values": ["eu", "us"]},
            {"name": "tier", "field_type": "int"},
        ],
    )
    created, hidden = [], {}
    for _ in range(count):
        fields: dict[str, Any] = {"title": rng.choice(["db down", "api slow", "Api slow", "cert expired"])}
        if rng.random() < 0.7:
            fields["severity"] = rng.randint(1, 4)
        if rng.random() < 0.5:
            fields["reported_by"] = rng.randint(1, 3)
        if rng.random() < 0.6:
            fields["owned_by"] = rng.sample([u["id"] for u in world.users], rng.randint(1, 2))
        if rng.random() < 0.5:
            fields["applies_to_parts"] = rng.sample([p["id"] for p in world.parts], rng.randint(1, 2))
        if rng.random() < 0.3:
            fields["pia"] = [rng.choice(world.articles)["id"]]
        if rng.random() < 0.3:
            fields["playbooks"] = [rng.choice(world.articles)["id"]]
        if rng.random() < 0.3:
            fields["related_docs"] = [rng.choice(world.articles)["id"]]
        if rng.random() < 0.5:
            fields["identified_date"] = f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T00:00:00Z"
        if rng.random() < 0.4:
            fields["target_close_date"] = f"2026-1{rng.randint(0, 2)}-0{rng.randint(1, 9)}T12:00:00Z"
        if rng.random() < 0.3:
            fields["staged_info"] = {"is_staged": rng.random() < 0.5}
        if rng.random() < 0.3:
            fields["sync_metadata"] = {
                "origin_system": rng.choice(["jira", "pagerduty"]),
                "external_reference": f"EXT-{rng.randint(1, 3)}",
                "last_sync_in": {
                    "status": rng.choice(["succeeded", "failed"]),
                    "sync_unit": f"unit-{rng.randint(1, 2)}",
                },
            }
        if rng.random() < 0.4:
            fields["custom_fields"] = {"tnt__region": rng.choice(["eu", "us"]), "tnt__tier": rng.randint(1, 3)}
            fields["custom_schema_spec"] = {"tenant_fragment": True}
        if rng.random() < 0.4:
            fields["stage"] = rng.choice(["acknowledged", "fixing", "mitigated", "resolved"])
            fields["stage_validation_options"] = ["allow_non_start"]
        incident = await create_incident(client, admin, **fields)
        hidden[incident["id"]] = set(fields.get("related_docs", []))
        hidden[("staged", incident["id"])] = fields.get("staged_info", {}).get("is_staged", False)
        created.append(incident)
    return created, hidden


async def walk(client, admin: Actor, body: dict[str, Any], *, limit: int) -> list[dict]:
    seen: list[dict] = []
    cursor = None
    while True:
        request = {**body, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.post("/incidents.list", json=request, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["incidents"]) <= limit
        seen += response.json()["incidents"]
        cursor = response.json().get("next_cursor")
        if cursor is None:
            return seen


@pytest.fixture
async def dataset(client, admin: Actor):
    world = await build_world(client, admin, size=3)
    incidents, hidden = await seed(client, admin, world, 36, random.Random(7))
    return world, incidents, hidden


def filter_cases(world: World, incidents: list[dict]) -> list[dict[str, Any]]:
    users, parts, articles = world.users, world.parts, world.articles
    return [
        {"owned_by": [users[1]["id"]]},
        {"owned_by": [users[1]["id"], users[2]["display_id"]]},
        {"applies_to_parts": [parts[0]["id"]]},
        {"pia": [articles[0]["id"]]},
        {"playbooks": [articles[1]["id"], articles[2]["id"]]},
        {"related_docs": [articles[2]["id"]]},
        {"created_by": [world.admin.don]},
        {"severity": [1, 2]},
        {"reported_by": [3]},
        {"stage": ["fixing", "resolved"]},
        {"title": ["db down"]},
        {"staged_info": {"is_staged": True}},
        {"staged_info": {"is_staged": False}},
        {"identified_date": {"type": "range", "after": "2026-03-01T00:00:00Z", "before": "2026-06-30T00:00:00Z"}},
        {"target_close_date": {"type": "range", "after": "2026-11-01T00:00:00Z"}},
        {"sync_metadata": {"origin_system": ["jira"]}},
        {"sync_metadata": {"external_reference": ["EXT-1", "EXT-2"]}},
        {"sync_metadata": {"last_sync_in": {"status": ["failed"]}}},
        {"sync_metadata": {"last_sync_in": {"sync_unit": ["unit-2"]}}},
        {"custom_fields": {"tnt__region": "eu"}},
        {"custom_fields": {"tnt__tier": [1, 3]}},
        {"subtype": ["none-here"]},
        {"severity": [2], "owned_by": [users[1]["id"]]},
        {"stage": ["resolved"], "applies_to_parts": [parts[1]["id"]], "severity": [1, 2, 3]},
    ]


def model(world: World, filters: dict[str, Any]) -> dict[str, Any]:
    """The filters as the truth model reads them: the model knows users by DON, so display ids are mapped."""
    by_display = {user["display_id"]: user["id"] for user in world.users}
    if "owned_by" not in filters:
        return filters
    return {**filters, "owned_by": [by_display.get(value, value) for value in filters["owned_by"]]}


async def test_every_filter_alone_and_combined_matches_an_independent_computation(client, admin, dataset):
    world, incidents, hidden = dataset
    nonempty = 0
    for filters in filter_cases(world, incidents):
        truth_filters = model(world, filters)
        expected = [i["id"] for i in ordered([i for i in incidents if matches(i, truth_filters, hidden)], None)]
        got = [i["id"] for i in await walk(client, admin, filters, limit=7)]
        assert got == expected, filters
        nonempty += bool(expected)
    # The data set exercises the filters: almost every case selects some incidents, and not all of them.
    assert nonempty >= 20


async def test_the_get_form_parses_quoted_explode_false_arrays_and_dotted_names(client, admin, dataset):
    world, incidents, hidden = dataset
    cases = [
        ({"severity": '"1","2"'}, {"severity": [1, 2]}),
        ({"severity": "sev0,sev-1"}, {"severity": [1, 2]}),
        ({"stage": '"fixing"'}, {"stage": ["fixing"]}),
        ({"owned_by": f'"{world.users[1]["id"]}"'}, {"owned_by": [world.users[1]["id"]]}),
        ({"staged_info.is_staged": "true"}, {"staged_info": {"is_staged": True}}),
        ({"sync_metadata.origin_system": "jira"}, {"sync_metadata": {"origin_system": ["jira"]}}),
        (
            {"sync_metadata.last_sync_in.status": '"failed"'},
            {"sync_metadata": {"last_sync_in": {"status": ["failed"]}}},
        ),
        (
            {"identified_date.type": "range", "identified_date.after": "2026-03-01T00:00:00Z"},
            {"identified_date": {"type": "range", "after": "2026-03-01T00:00:00Z"}},
        ),
        ({"sort_by": '"severity:asc","title:desc"', "limit": '"100"'}, {}),
    ]
    for params, truth_filters in cases:
        response = await client.get("/incidents.list", params={"limit": "100", **params}, headers=admin.headers)
        assert response.status_code == 200, (params, response.text)
        assert_conforms("/incidents.list", "get", 200, response.json())
        sort = params.get("sort_by", "").replace('"', "").split(",") if "sort_by" in params else None
        expected = [i["id"] for i in ordered([i for i in incidents if matches(i, truth_filters, hidden)], sort)]
        assert [i["id"] for i in response.json()["incidents"]] == expected, params
    unknown = await client.get("/incidents.list", params={"colour": "red"}, headers=admin.headers)
    assert unknown.status_code == 400 and unknown.json()["field_name"] == "colour"
    assert_conforms("/incidents.list", "get", 400, unknown.json())


@pytest.mark.parametrize("field", SORTS)
async def test_sort_by_each_field_both_ways(client, admin, dataset, field):
    _, incidents, _ = dataset
    for direction in ("asc", "desc"):
        sort = [f"{field}:{direction}"]
        expected = [i["id"] for i in ordered(incidents, sort)]
        assert [i["id"] for i in await walk(client, admin, {"sort_by": sort}, limit=10)] == expected, sort


async def test_multi_key_sort(client, admin, dataset):
    _, incidents, _ = dataset
    sort = ["severity:desc", "title:asc", "identified_date:desc"]
    expected = [i["id"] for i in ordered(incidents, sort)]
    assert [i["id"] for i in await walk(client, admin, {"sort_by": sort}, limit=4)] == expected


async def test_limits_and_bad_requests(client, admin, dataset):
    page = await client.post("/incidents.list", json={"limit": 1000}, headers=admin.headers)
    assert len(page.json()["incidents"]) == 36  # clamped to 100, fewer exist
    default = await client.post("/incidents.list", json={}, headers=admin.headers)
    assert len(default.json()["incidents"]) == 36
    for body, field in (
        ({"limit": 0}, "limit"),
        ({"sort_by": ["colour:asc"]}, "sort_by[0]"),
        ({"sort_by": ["title:sideways"]}, "sort_by[0]"),
        ({"severity": [9]}, "severity[0]"),
        ({"owned_by": ["TAG-1"]}, "owned_by[0]"),
        ({"stage": ["nowhere"]}, "stage[0]"),
        ({"created_date": {"type": "range", "after": "soon"}}, "created_date.after"),
        ({"created_date": {"type": "preset"}}, "created_date.preset_type"),
        ({"custom_fields": {"region": "eu"}}, "custom_fields.region"),
    ):
        response = await client.post("/incidents.list", json=body, headers=admin.headers)
        assert response.status_code == 400, body
        assert response.json()["field_name"] == field, body
        assert_conforms("/incidents.list", "post", 400, response.json())


async def test_presets_select_relative_windows(client, admin):
    past = await create_incident(client, admin, target_close_date="2020-01-01T00:00:00Z")
    soon = await create_incident(client, admin)
    body = {"created_date": {"type": "preset", "preset_type": "last_n_days", "days": 1}}
    listed = await client.post("/incidents.list", json=body, headers=admin.headers)
    assert {i["id"] for i in listed.json()["incidents"]} == {past["id"], soon["id"]}
    body = {"target_close_date": {"type": "preset", "preset_type": "next_n_days", "days": 30}}
    assert (await client.post("/incidents.list", json=body, headers=admin.headers)).json()["incidents"] == []
    body = {"target_close_date": {"type": "preset", "preset_type": "last_n_days", "days": 36_500}}
    listed = await client.post("/incidents.list", json=body, headers=admin.headers)
    assert [i["id"] for i in listed.json()["incidents"]] == [past["id"]]


async def test_cursors_walk_back_and_are_omitted_at_the_ends(client, admin, dataset):
    _, incidents, _ = dataset
    expected = [i["id"] for i in ordered(incidents, None)]
    first = (await client.post("/incidents.list", json={"limit": 10}, headers=admin.headers)).json()
    assert "prev_cursor" not in first
    pages = [first]
    while "next_cursor" in pages[-1]:
        body = {"limit": 10, "cursor": pages[-1]["next_cursor"]}
        pages.append((await client.post("/incidents.list", json=body, headers=admin.headers)).json())
    assert [i["id"] for p in pages for i in p["incidents"]] == expected
    assert len(pages) == 4 and "next_cursor" not in pages[-1]
    # Walk back from the last page with prev_cursor: the same pages, reversed.
    back = [pages[-1]]
    while "prev_cursor" in back[-1]:
        body = {"limit": 10, "cursor": back[-1]["prev_cursor"]}
        back.append((await client.post("/incidents.list", json=body, headers=admin.headers)).json())
    assert [[i["id"] for i in p["incidents"]] for p in back] == [[i["id"] for i in p["incidents"]] for p in pages[::-1]]
    # mode=before without a cursor starts from the end.
    end = (await client.post("/incidents.list", json={"limit": 6, "mode": "before"}, headers=admin.headers)).json()
    assert [i["id"] for i in end["incidents"]] == expected[-6:]
    assert "next_cursor" not in end and "prev_cursor" in end


async def test_a_cursor_is_bound_to_its_filters_and_sort(client, admin, dataset):
    page = (await client.post("/incidents.list", json={"limit": 5}, headers=admin.headers)).json()
    for body in ({"severity": [1]}, {"sort_by": ["title:asc"]}):
        response = await client.post(
            "/incidents.list", json={**body, "limit": 5, "cursor": page["next_cursor"]}, headers=admin.headers
        )
        assert response.status_code == 400 and response.json()["type"] == "bad_request"
    same = await client.post("/incidents.list", json={"limit": 9, "cursor": page["next_cursor"]}, headers=admin.headers)
    assert same.status_code == 200  # another limit is fine
    garbage = await client.get("/incidents.list", params={"cursor": "%%%"}, headers=admin.headers)
    assert garbage.status_code == 400 and garbage.json()["type"] == "bad_request"


async def test_another_orgs_incidents_never_show(app, client, admin):
    other = await make_org(app, "other")
    await create_incident(client, other)
    mine = await create_incident(client, admin)
    listed = (await client.post("/incidents.list", json={}, headers=admin.headers)).json()["incidents"]
    assert [i["id"] for i in listed] == [mine["id"]]
    by_their_user = await client.post("/incidents.list", json={"created_by": [other.don]}, headers=admin.headers)
    assert by_their_user.json()["incidents"] == []


async def test_a_page_of_fifty_costs_a_fixed_number_of_queries(app, client, admin, dataset):
    from conftest import statements_seen

    def counted(statements: list[str]) -> int:
        # Authentication (a token lookup when the short-lived token cache misses, a last-used touch once a
        # minute) is the same for every request and depends on timing; count the operation's own statements.
        return len([s for s in statements if "auth_tokens" not in s and "idempotency" not in s])

    # Reads remember users, stages and fragments (incidentd.memo): compare pages once those are known.
    await client.post("/incidents.list", json={"limit": 50}, headers=admin.headers)
    with statements_seen(app) as statements:
        await client.post("/incidents.list", json={"limit": 3}, headers=admin.headers)
    small = counted(statements)
    with statements_seen(app) as statements:
        await client.post("/incidents.list", json={"limit": 50}, headers=admin.headers)
    large = counted(statements)
    assert small > 0  # the statements were seen
    assert small == large


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    limit=st.integers(min_value=1, max_value=9),
    sort=st.lists(st.sampled_from(SORTS), max_size=3, unique=True),
    descending=st.lists(st.booleans(), min_size=3, max_size=3),
)
async def test_walking_cursors_returns_exactly_the_filtered_set(client, admin, dataset, data, limit, sort, descending):
    world, incidents, hidden = dataset
    filters = data.draw(st.sampled_from([{}, *filter_cases(world, incidents)[:21]]))
    sort_by = [f"{field}:{'desc' if down else 'asc'}" for field, down in zip(sort, descending, strict=False)] or None
    body = {**filters, **({"sort_by": sort_by} if sort_by else {})}
    expected = [i["id"] for i in ordered([i for i in incidents if matches(i, model(world, filters), hidden)], sort_by)]
    forward = await walk(client, admin, body, limit=limit)
    assert [i["id"] for i in forward] == expected
    # Back from the end with prev_cursor: the same rows, reversed page by page.
    page = (
        await client.post("/incidents.list", json={**body, "limit": limit, "mode": "before"}, headers=admin.headers)
    ).json()
    backward = []
    while True:
        backward = [i["id"] for i in page["incidents"]] + backward
        if "prev_cursor" not in page:
            break
        page = (
            await client.post(
                "/incidents.list", json={**body, "limit": limit, "cursor": page["prev_cursor"]}, headers=admin.headers
            )
        ).json()
    assert backward == expected


async def test_inserts_and_deletes_between_pages_never_duplicate_or_skip_survivors(client, admin, dataset):
    _, incidents, _ = dataset
    rng = random.Random(11)
    seen: list[str] = []
    deleted: set[str] = set()
    cursor = None
    while True:
        body = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = (await client.post("/incidents.list", json=body, headers=admin.headers)).json()
        seen += [i["id"] for i in page["incidents"]]
        for _ in range(2):
            await create_incident(client, admin, title="new during the walk")
        victim = rng.choice([i for i in incidents if i["id"] not in deleted])
        await client.post("/incidents.delete", json={"id": victim["id"]}, headers=admin.headers)
        deleted.add(victim["id"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    # Every incident that existed before the walk and survived it was seen, in order.
    survivors = [i["id"] for i in ordered(incidents, None) if i["id"] not in deleted]
    assert [incident for incident in seen if incident in set(survivors)] == survivors
