from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from conftest import Actor, make_org
from contract import assert_conforms, bad
from incidentd.tags import service as tags

Body = dict[str, Any]


async def create(client, actor: Actor, **body: Any) -> Body:
    response = await client.post("/tags.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    assert_conforms("/tags.create", "post", 201, response.json())
    return response.json()["tag"]


# create / get ------------------------------------------------------------------------------------------


async def test_create_answers_201_with_the_tag(client, admin: Actor):
    tag = await create(client, admin, name="database", description="Storage", style_new={"color": "#1A2b3C"})
    assert tag["id"] == f"don:core:dvrv-us-1:devo/{admin.org.slug}:tag/1"
    assert tag["display_id"] == "TAG-1"
    assert tag["name"] == "database"
    assert tag["description"] == "Storage"
    assert tag["style_new"] == {"color": "#1A2b3C"}
    assert tag["created_by"]["id"] == tag["modified_by"]["id"] == admin.don
    assert tag["created_date"] == tag["modified_date"]
    assert tag["created_date"].endswith("Z") and len(tag["created_date"]) == 24


async def test_create_without_style_or_description_leaves_them_out(client, admin: Actor):
    tag = await create(client, admin, name="bare", allowed_values=[])
    assert "style_new" not in tag and "description" not in tag


async def test_get_answers_by_don_and_display_id_in_both_forms(client, admin: Actor):
    tag = await create(client, admin, name="network", style_new={"color": "#00ff00"})
    by_get = await client.get("/tags.get", params={"id": tag["display_id"]}, headers=admin.headers)
    by_post = await client.post("/tags.get", json={"id": tag["id"]}, headers=admin.headers)
    quoted = await client.get("/tags.get", params={"id": f'"{tag["id"]}"'}, headers=admin.headers)
    for response in (by_get, by_post, quoted):
        assert response.status_code == 200, response.text
        assert_conforms("/tags.get", response.request.method, 200, response.json())
        assert response.json() == {"tag": tag}


async def test_a_taken_name_is_a_conflict_whatever_its_case(client, admin: Actor):
    await create(client, admin, name="Payments")
    again = await client.post("/tags.create", json={"name": "PAYMENTS"}, headers=admin.headers)
    assert again.status_code == 409
    assert again.json() == {"type": "conflict", "message": again.json()["message"]}
    assert "PAYMENTS" in again.json()["message"]


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({}, "missing_required_field", "name"),
        ({"name": ""}, "invalid_field", "name"),
        ({"name": "   "}, "invalid_field", "name"),
        ({"name": "x" * 257}, "invalid_field", "name"),
        ({"name": 7}, "unexpected_json_type", "name"),
        ({"name": "a", "style_new": {"color": "red"}}, "invalid_field", "style_new.color"),
        ({"name": "a", "style_new": {"color": "#12345"}}, "invalid_field", "style_new.color"),
        ({"name": "a", "style_new": {"color": "#1234567"}}, "invalid_field", "style_new.color"),
        ({"name": "a", "style_new": {"colour": "#123456"}}, "invalid_field", "style_new.colour"),
        ({"name": "a", "allowed_values": ["low", "high"]}, "invalid_field", "allowed_values"),
        ({"name": "a", "style": "#123456"}, "invalid_field", "style"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await bad(client, admin, "/tags.create", body, kind, field_name)


async def test_create_of_malformed_json_is_a_parse_error(client, admin: Actor):
    response = await client.post("/tags.create", content=b'{"name": ', headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["type"] == "parse_error"
    assert_conforms("/tags.create", "post", 400, response.json())


async def test_get_of_an_unknown_or_malformed_id(client, admin: Actor):
    missing = await client.get("/tags.get", params={"id": "TAG-404"}, headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "not_found"
    assert_conforms("/tags.get", "get", 404, missing.json())
    malformed = await client.get("/tags.get", params={"id": "tag-one"}, headers=admin.headers)
    assert malformed.status_code == 400
    assert (malformed.json()["type"], malformed.json()["field_name"]) == ("invalid_id", "id")
    assert_conforms("/tags.get", "get", 400, malformed.json())
    await bad(client, admin, "/tags.get", {"id": "ACC-1"}, "unexpected_id_type", "id")
    await bad(client, admin, "/tags.get", {}, "missing_required_field", "id")
    unknown_parameter = await client.get("/tags.get", params={"id": "TAG-1", "x": "1"}, headers=admin.headers)
    assert (unknown_parameter.status_code, unknown_parameter.json()["field_name"]) == (400, "x")


# update ------------------------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_it_carries(client, admin: Actor):
    tag = await create(client, admin, name="api", description="Public API", style_new={"color": "#abcdef"})
    response = await client.post("/tags.update", json={"id": tag["id"], "name": "API v2"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/tags.update", "post", 200, response.json())
    updated = response.json()["tag"]
    assert (updated["name"], updated["description"], updated["style_new"]) == ("API v2", "Public API", tag["style_new"])
    assert updated["created_date"] == tag["created_date"]
    assert updated["modified_date"] >= tag["modified_date"]
    fetched = await client.get("/tags.get", params={"id": tag["display_id"]}, headers=admin.headers)
    assert fetched.json()["tag"] == updated


async def test_update_with_null_clears_description_and_style(client, admin: Actor):
    tag = await create(client, admin, name="ui", description="Web UI", style_new={"color": "#abcdef"})
    response = await client.post(
        "/tags.update", json={"id": tag["display_id"], "description": None, "style_new": None}, headers=admin.headers
    )
    assert response.status_code == 200
    assert_conforms("/tags.update", "post", 200, response.json())
    assert "description" not in response.json()["tag"] and "style_new" not in response.json()["tag"]
    recolored = await client.post(
        "/tags.update", json={"id": tag["id"], "style_new": {"color": "#000000"}}, headers=admin.headers
    )
    assert recolored.json()["tag"]["style_new"] == {"color": "#000000"}
    uncolored = await client.post("/tags.update", json={"id": tag["id"], "style_new": {}}, headers=admin.headers)
    assert "style_new" not in uncolored.json()["tag"]


async def test_update_may_change_the_case_of_its_own_name(client, admin: Actor):
    tag = await create(client, admin, name="dns")
    response = await client.post("/tags.update", json={"id": tag["id"], "name": "DNS"}, headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["tag"]["name"] == "DNS"


async def test_update_to_a_taken_name_is_a_conflict_and_changes_nothing(client, admin: Actor):
    await create(client, admin, name="queue")
    tag = await create(client, admin, name="cache")
    response = await client.post(
        "/tags.update", json={"id": tag["id"], "name": "Queue", "description": "x"}, headers=admin.headers
    )
    assert response.status_code == 409
    assert response.json()["type"] == "conflict"
    fetched = await client.get("/tags.get", params={"id": tag["id"]}, headers=admin.headers)
    assert fetched.json()["tag"] == tag


async def test_update_accepts_only_empty_allowed_values(client, admin: Actor):
    tag = await create(client, admin, name="env")
    empty = await client.post(
        "/tags.update", json={"id": tag["id"], "allowed_values": {"set": []}}, headers=admin.headers
    )
    assert empty.status_code == 200
    body = {"id": tag["id"], "allowed_values": {"set": ["prod"]}}
    await bad(client, admin, "/tags.update", body, "invalid_field", "allowed_values.set")


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"name": "x"}, "missing_required_field", "id"),
        ({"id": "TAG-1", "name": ""}, "invalid_field", "name"),
        ({"id": "TAG-1", "name": None}, "unexpected_json_type", "name"),
        ({"id": "TAG-1", "style_new": {"color": "blue"}}, "invalid_field", "style_new.color"),
        ({"id": "TAG-1", "colour": "blue"}, "invalid_field", "colour"),
        ({"id": "PROD-1"}, "unexpected_id_type", "id"),
        ({"id": "nope"}, "invalid_id", "id"),
    ],
)
async def test_update_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await create(client, admin, name="target")
    await bad(client, admin, "/tags.update", body, kind, field_name)


async def test_update_of_an_unknown_tag_is_not_found(client, admin: Actor):
    response = await client.post("/tags.update", json={"id": "TAG-77", "name": "x"}, headers=admin.headers)
    assert response.status_code == 404
    assert_conforms("/tags.update", "post", 404, response.json())


# delete ------------------------------------------------------------------------------------------------


async def test_delete_removes_the_tag_and_frees_its_name(client, admin: Actor):
    tag = await create(client, admin, name="legacy")
    response = await client.post("/tags.delete", json={"id": tag["display_id"]}, headers=admin.headers)
    assert response.status_code == 200
    assert response.json() == {}
    assert_conforms("/tags.delete", "post", 200, response.json())
    gone = await client.get("/tags.get", params={"id": tag["id"]}, headers=admin.headers)
    assert gone.status_code == 404
    again = await client.post("/tags.delete", json={"id": tag["id"]}, headers=admin.headers)
    assert again.status_code == 404
    assert_conforms("/tags.delete", "post", 404, again.json())
    reused = await create(client, admin, name="LEGACY")
    assert reused["display_id"] == "TAG-2"  # numbers are never reused
    await bad(client, admin, "/tags.delete", {"id": "DEVU-1"}, "unexpected_id_type", "id")
    await bad(client, admin, "/tags.delete", {}, "missing_required_field", "id")


async def test_delete_removes_the_tag_from_incidents(client, admin: Actor):
    gone = await create(client, admin, name="outage")
    kept = await create(client, admin, name="customer-facing")
    body = {"title": "down", "tags": [{"tag_id": gone["id"]}, {"tag_id": kept["id"], "value": "eu"}]}
    incident = (await client.post("/incidents.create", json=body, headers=admin.headers)).json()["incident"]
    response = await client.post("/tags.delete", json={"id": gone["id"]}, headers=admin.headers)
    assert response.status_code == 200, response.text
    after = await client.get("/incidents.get", params={"id": incident["id"]}, headers=admin.headers)
    assert [(t["tag"]["id"], t.get("value")) for t in after.json()["incident"]["tags"]] == [(kept["id"], "eu")]


# list --------------------------------------------------------------------------------------------------


async def _walk(client, actor: Actor, method: str, **params: Any) -> tuple[list[list[str]], list[Body]]:
    """Follow next_cursor from the first page to the last; the names on each page and every response."""
    pages: list[list[str]] = []
    responses: list[Body] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        if method == "get":
            response = await client.get("/tags.list", params=query, headers=actor.headers)
        else:
            response = await client.post("/tags.list", json=query, headers=actor.headers)
        assert response.status_code == 200, response.text
        assert_conforms("/tags.list", method, 200, response.json())
        pages.append([tag["name"] for tag in response.json()["tags"]])
        responses.append(response.json())
        cursor = response.json().get("next_cursor")
        if cursor is None:
            return pages, responses


async def test_list_pages_in_id_order_both_forms(client, admin: Actor):
    for name in ("e", "d", "c", "b", "a"):
        await create(client, admin, name=name)
    by_get, responses = await _walk(client, admin, "get", limit="2")
    by_post, _ = await _walk(client, admin, "post", limit=2)
    assert by_get == by_post == [["e", "d"], ["c", "b"], ["a"]]
    assert "prev_cursor" not in responses[0]
    # prev_cursor of the last page walks back to the middle one, whose prev_cursor walks to the first.
    back = await client.post(
        "/tags.list", json={"limit": 2, "cursor": responses[2]["prev_cursor"]}, headers=admin.headers
    )
    assert [tag["name"] for tag in back.json()["tags"]] == ["c", "b"]
    first = await client.post(
        "/tags.list", json={"limit": 2, "cursor": back.json()["prev_cursor"]}, headers=admin.headers
    )
    assert [tag["name"] for tag in first.json()["tags"]] == ["e", "d"]
    assert "prev_cursor" not in first.json() and "next_cursor" in first.json()
    mode = await client.post(
        "/tags.list", json={"limit": 2, "cursor": responses[1]["next_cursor"], "mode": "before"}, headers=admin.headers
    )
    assert [tag["name"] for tag in mode.json()["tags"]] == ["d", "c"]


async def test_list_sorts_by_name_either_way_and_by_id_descending(client, admin: Actor):
    for name in ("delta", "Alpha", "charlie", "Bravo", "echo"):
        await create(client, admin, name=name)
    ascending, _ = await _walk(client, admin, "get", limit="2", sort_by="name:asc")
    assert ascending == [["Alpha", "Bravo"], ["charlie", "delta"], ["echo"]]
    descending, responses = await _walk(client, admin, "post", limit=2, sort_by=["name:desc", "id:asc"])
    assert descending == [["echo", "delta"], ["charlie", "Bravo"], ["Alpha"]]
    back = await client.post(
        "/tags.list",
        json={"limit": 2, "sort_by": ["name:desc", "id:asc"], "cursor": responses[2]["prev_cursor"]},
        headers=admin.headers,
    )
    assert [tag["name"] for tag in back.json()["tags"]] == ["charlie", "Bravo"]
    newest_first, _ = await _walk(client, admin, "get", sort_by='"id:desc"')
    assert newest_first == [["echo", "Bravo", "charlie", "Alpha", "delta"]]


async def test_list_stays_stable_while_tags_come_and_go(client, admin: Actor):
    for name in ("a", "b", "c", "d"):
        await create(client, admin, name=name)
    first = await client.post("/tags.list", json={"limit": 2, "sort_by": ["name"]}, headers=admin.headers)
    await client.post("/tags.delete", json={"id": first.json()["tags"][1]["id"]}, headers=admin.headers)
    await create(client, admin, name="aa")  # sorts before the cursor: not on the next page
    second = await client.post(
        "/tags.list",
        json={"limit": 2, "sort_by": ["name"], "cursor": first.json()["next_cursor"]},
        headers=admin.headers,
    )
    assert [tag["name"] for tag in second.json()["tags"]] == ["c", "d"]


async def test_list_filters_by_name_case_insensitively(client, admin: Actor):
    for name in ("Sev", "ops", "ui"):
        await create(client, admin, name=name)
    by_get = await client.get("/tags.list", params={"name": '"sev","UI"'}, headers=admin.headers)
    assert by_get.status_code == 200
    assert_conforms("/tags.list", "get", 200, by_get.json())
    assert [tag["name"] for tag in by_get.json()["tags"]] == ["Sev", "ui"]
    by_post = await client.post("/tags.list", json={"name": ["OPS", "missing"]}, headers=admin.headers)
    assert [tag["name"] for tag in by_post.json()["tags"]] == ["ops"]
    none = await client.post("/tags.list", json={"name": ["missing"]}, headers=admin.headers)
    assert none.json() == {"tags": []}


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"sort_by": ["color:asc"]}, "invalid_field", "sort_by[0]"),
        ({"sort_by": ["name", "name:up"]}, "invalid_field", "sort_by[1]"),
        ({"limit": 0}, "invalid_field", "limit"),
        ({"mode": "sideways"}, "invalid_enum_value", "mode"),
        ({"name": "ops"}, "unexpected_json_type", "name"),
        ({"tags": ["x"]}, "invalid_field", "tags"),
    ],
)
async def test_list_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await bad(client, admin, "/tags.list", body, kind, field_name)


async def test_cursor_of_another_sort_or_filter_is_a_bad_request(client, admin: Actor):
    for name in ("a", "b", "c"):
        await create(client, admin, name=name)
    first = await client.post("/tags.list", json={"limit": 1}, headers=admin.headers)
    cursor = first.json()["next_cursor"]
    for body in ({"sort_by": ["name:asc"]}, {"name": ["a"]}):
        other = await client.post("/tags.list", json={"limit": 1, "cursor": cursor, **body}, headers=admin.headers)
        assert other.status_code == 400
        assert other.json()["type"] == "bad_request"
        assert_conforms("/tags.list", "post", 400, other.json())
    garbage = await client.get("/tags.list", params={"cursor": "not-a-cursor!"}, headers=admin.headers)
    assert (garbage.status_code, garbage.json()["type"]) == (400, "bad_request")


async def test_list_limit_is_clamped_to_100(client, admin: Actor):
    for index in range(3):
        await create(client, admin, name=f"t{index}")
    response = await client.get("/tags.list", params={"limit": "1000"}, headers=admin.headers)
    assert response.status_code == 200
    assert len(response.json()["tags"]) == 3


# isolation ---------------------------------------------------------------------------------------------


async def test_an_org_never_sees_or_touches_another_orgs_tags(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    theirs = await create(client, other, name="secret")
    mine = await create(client, admin, name="secret")  # names are unique per org only
    assert mine["display_id"] == theirs["display_id"] == "TAG-1"
    for path, body in (
        ("/tags.get", {"id": theirs["id"]}),
        ("/tags.update", {"id": theirs["id"], "name": "stolen"}),
        ("/tags.delete", {"id": theirs["id"]}),
    ):
        response = await client.post(path, json=body, headers=admin.headers)
        assert response.status_code == 404, path
        assert_conforms(path, "post", 404, response.json())
    # TAG-1 is relative to the caller's org.
    by_display = await client.get("/tags.get", params={"id": "TAG-1"}, headers=admin.headers)
    assert by_display.json()["tag"]["id"] == mine["id"]
    listed = await client.get("/tags.list", headers=admin.headers)
    assert [tag["id"] for tag in listed.json()["tags"]] == [mine["id"]]
    still = await client.get("/tags.get", params={"id": theirs["id"]}, headers=other.headers)
    assert still.json()["tag"] == theirs


async def test_list_without_a_token_is_unauthenticated(client):
    response = await client.get("/tags.list")
    assert response.status_code == 401
    assert_conforms("/tags.list", "get", 401, response.json())


# for the incidents domain ------------------------------------------------------------------------------


async def test_summaries_find_existing_tags_of_the_org_only(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    await create(client, admin, name="one")
    await create(client, admin, name="two")
    await create(client, other, name="three")
    await create(client, other, name="four")
    await create(client, other, name="five")
    async with app.state.db.read() as conn:
        found = await tags.summaries(conn, admin.org, [1, 2, 3, 2])
        assert await tags.summaries(conn, admin.org, []) == {}
    assert [summary.name for summary in found.values()] == ["one", "two"]


async def test_summaries_render_devrev_tag_summaries(app, client, admin: Actor):
    colored = await create(client, admin, name="red", style_new={"color": "#ff0000"})
    plain = await create(client, admin, name="plain")
    async with app.state.db.read() as conn:
        found = await tags.summaries(conn, admin.org, [2, 1, 99])
    assert set(found) == {1, 2}
    assert msgspec.to_builtins(found[1]) == {
        "id": colored["id"],
        "display_id": "TAG-1",
        "name": "red",
        "style_new": {"color": "#ff0000"},
    }
    assert msgspec.to_builtins(found[2]) == {"id": plain["id"], "display_id": "TAG-2", "name": "plain"}


async def test_concurrent_creates_of_one_name_make_one_tag(client, admin: Actor):
    names = ["race", "RACE", "Race"] * 2
    responses = await asyncio.gather(
        *(client.post("/tags.create", json={"name": name}, headers=admin.headers) for name in names)
    )
    assert sorted(response.status_code for response in responses) == [201] + [409] * 5
