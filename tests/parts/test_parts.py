from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from conftest import Actor, add_principal, make_org, statements_seen
from contract import assert_conforms, bad
from incidentd.parts import service as parts

Body = dict[str, Any]


async def create(client, actor: Actor, **body: Any) -> Body:
    body.setdefault("owned_by", [actor.don])
    response = await client.post("/parts.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    assert_conforms("/parts.create", "post", 201, response.json())
    return response.json()["part"]


async def hierarchy(client, actor: Actor) -> dict[str, Body]:
    """product > capability > feature > sub-feature, and an enhancement on the capability."""
    product = await create(client, actor, type="product", name="Platform")
    capability = await create(client, actor, type="capability", name="Billing", parent_part=[product["id"]])
    feature = await create(client, actor, type="feature", name="Invoices", parent_part=[capability["display_id"]])
    sub_feature = await create(client, actor, type="feature", name="PDF export", parent_part=[feature["id"]])
    enhancement = await create(client, actor, type="enhancement", name="Faster PDFs", parent_part=[capability["id"]])
    return {
        "product": product,
        "capability": capability,
        "feature": feature,
        "sub_feature": sub_feature,
        "enhancement": enhancement,
    }


@contextlib.contextmanager
def counting_selects(app: Any, *held: Any) -> Iterator[list[str]]:
    """The SELECT statements the database runs inside the block (`held`: connections checked out already)."""
    statements: list[str] = []
    with statements_seen(app, *held) as seen:
        yield statements
        statements.extend(s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH")))


# create ------------------------------------------------------------------------------------------------


async def test_create_builds_the_hierarchy_with_one_number_sequence(client, admin: Actor):
    made = await hierarchy(client, admin)
    slug = admin.org.slug
    expected = [
        ("product", "product", "PROD-1"),
        ("capability", "capability", "CAPL-2"),
        ("feature", "feature", "FEAT-3"),
        ("sub_feature", "feature", "FEAT-4"),
        ("enhancement", "enhancement", "ENH-5"),
    ]
    for key, kind, display_id in expected:
        part = made[key]
        number = display_id.split("-")[1]
        assert (part["type"], part["display_id"]) == (kind, display_id)
        assert part["id"] == f"don:core:dvrv-us-1:devo/{slug}:{kind}/{number}"
    product = made["product"]
    assert product["name"] == "Platform"
    assert [owner["id"] for owner in product["owned_by"]] == [admin.don]
    assert product["owned_by"][0]["type"] == "dev_user"
    assert product["created_by"]["id"] == product["modified_by"]["id"] == admin.don
    assert product["created_date"].endswith("Z") and len(product["created_date"]) == 24
    assert "description" not in product


async def test_create_keeps_owners_in_order_without_duplicates(app, client, admin: Actor):
    robot = await add_principal(app, admin, user_type="service_account")
    colleague = await add_principal(app, admin, email="colleague@example.com")
    part = await create(
        client,
        admin,
        type="product",
        name="Owned",
        description="Many owners",
        owned_by=[f"SVCACC-{robot.user_number}", colleague.don, robot.don],
    )
    assert [owner["id"] for owner in part["owned_by"]] == [robot.don, colleague.don]
    assert [owner["type"] for owner in part["owned_by"]] == ["service_account", "dev_user"]
    assert part["owned_by"][1]["email"] == "colleague@example.com"
    assert part["description"] == "Many owners"


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"name": "p", "owned_by": ["DEVU-1"]}, "missing_required_field", "type"),
        ({"type": "product", "owned_by": ["DEVU-1"]}, "missing_required_field", "name"),
        ({"type": "product", "name": "p"}, "missing_required_field", "owned_by"),
        ({"type": "runnable", "name": "p", "owned_by": ["DEVU-1"]}, "invalid_enum_value", "type"),
        ({"type": "product", "name": " ", "owned_by": ["DEVU-1"]}, "invalid_field", "name"),
        ({"type": "product", "name": "p" * 257, "owned_by": ["DEVU-1"]}, "invalid_field", "name"),
        ({"type": "product", "name": "p", "owned_by": []}, "invalid_field", "owned_by"),
        ({"type": "product", "name": "p", "owned_by": ["DEVU-1", "DEVU-99"]}, "invalid_id", "owned_by[1]"),
        ({"type": "product", "name": "p", "owned_by": ["TAG-1"]}, "unexpected_id_type", "owned_by[0]"),
        ({"type": "product", "name": "p", "owned_by": ["devu"]}, "invalid_id", "owned_by[0]"),
        ({"type": "product", "name": "p", "owned_by": "DEVU-1"}, "unexpected_json_type", "owned_by"),
        ({"type": "product", "name": "p", "owned_by": ["DEVU-1"], "tags": []}, "invalid_field", "tags"),
        ({"type": "product", "name": "p", "owned_by": ["DEVU-1"], "artifacts": []}, "invalid_field", "artifacts"),
        (
            {"type": "product", "name": "p", "owned_by": ["DEVU-1"], "parent_part": ["PROD-1"]},
            "invalid_field",
            "parent_part",
        ),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    error = await bad(client, admin, "/parts.create", body, kind, field_name)
    if kind == "invalid_enum_value":
        assert sorted(error["allowed_values"]) == ["capability", "enhancement", "feature", "product"]


async def test_create_of_an_owner_in_another_org_is_an_invalid_id(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    body = {"type": "product", "name": "p", "owned_by": [admin.don, other.don]}
    await bad(client, admin, "/parts.create", body, "invalid_id", "owned_by[1]")


async def test_create_checks_the_parent_part_against_the_hierarchy(app, client, admin: Actor):
    made = await hierarchy(client, admin)
    other = await make_org(app, "other-org")
    foreign = await create(client, other, type="product", name="Foreign")

    def part(type: str, parent: Any) -> Body:
        return {"type": type, "name": "child", "owned_by": [admin.don], "parent_part": parent}

    cases = [
        (part("capability", None), "missing_required_field", "parent_part"),
        ({"type": "feature", "name": "child", "owned_by": [admin.don]}, "missing_required_field", "parent_part"),
        ({"type": "enhancement", "name": "child", "owned_by": [admin.don]}, "missing_required_field", "parent_part"),
        (part("capability", []), "invalid_field", "parent_part"),
        (part("capability", [made["product"]["id"], made["product"]["id"]]), "invalid_field", "parent_part"),
        (part("capability", [made["capability"]["id"]]), "invalid_field", "parent_part"),
        (part("feature", [made["product"]["id"]]), "invalid_field", "parent_part"),
        (part("feature", [made["enhancement"]["id"]]), "invalid_field", "parent_part"),
        (part("enhancement", [made["enhancement"]["id"]]), "invalid_field", "parent_part"),
        (part("capability", ["PROD-99"]), "invalid_id", "parent_part[0]"),
        (part("capability", ["PROD-2"]), "invalid_id", "parent_part[0]"),  # 2 is the capability
        (part("capability", [foreign["id"]]), "invalid_id", "parent_part[0]"),
        (part("capability", ["TAG-1"]), "unexpected_id_type", "parent_part[0]"),
        (part("capability", ["parent"]), "invalid_id", "parent_part[0]"),
        (part("capability", "PROD-1"), "unexpected_json_type", "parent_part"),
    ]
    for body, kind, field_name in cases:
        await bad(client, admin, "/parts.create", body, kind, field_name)
    # where the hierarchy allows it
    await create(client, admin, **part("enhancement", [made["product"]["display_id"]]))
    await create(client, admin, **part("enhancement", [made["sub_feature"]["id"]]))
    await create(client, admin, **part("feature", [made["capability"]["id"]]))
    await create(client, admin, **part("product", []))


# get ---------------------------------------------------------------------------------------------------


async def test_get_answers_by_don_and_display_id_in_both_forms(client, admin: Actor):
    made = await hierarchy(client, admin)
    for part in made.values():
        by_get = await client.get("/parts.get", params={"id": part["display_id"]}, headers=admin.headers)
        by_post = await client.post("/parts.get", json={"id": part["id"]}, headers=admin.headers)
        for response in (by_get, by_post):
            assert response.status_code == 200, response.text
            assert_conforms("/parts.get", response.request.method, 200, response.json())
            assert response.json() == {"part": part}


async def test_get_of_an_unknown_id_or_one_of_the_wrong_part_type_is_not_found(client, admin: Actor):
    await create(client, admin, type="product", name="Only")
    for reference in ("PROD-2", "FEAT-1", "CAPL-1", f"don:core:dvrv-us-1:devo/{admin.org.slug}:enhancement/1"):
        response = await client.get("/parts.get", params={"id": reference}, headers=admin.headers)
        assert response.status_code == 404, reference
        assert response.json()["type"] == "not_found"
        assert_conforms("/parts.get", "get", 404, response.json())
    await bad(client, admin, "/parts.get", {"id": "ACC-1"}, "unexpected_id_type", "id")
    await bad(client, admin, "/parts.get", {"id": "PART-1"}, "invalid_id", "id")
    await bad(client, admin, "/parts.get", {}, "missing_required_field", "id")


# update ------------------------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_it_carries(app, client, admin: Actor):
    colleague = await add_principal(app, admin, email="c@example.com")
    part = await create(client, admin, type="product", name="Old name", description="Keep me")
    response = await client.post(
        "/parts.update", json={"id": part["id"], "name": "New name", "type": "product"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert_conforms("/parts.update", "post", 200, response.json())
    updated = response.json()["part"]
    assert (updated["name"], updated["description"], updated["owned_by"]) == (
        "New name",
        "Keep me",
        part["owned_by"],
    )
    assert updated["modified_date"] >= part["modified_date"]
    reowned = await client.post(
        "/parts.update",
        json={"id": part["display_id"], "owned_by": {"set": [colleague.don, admin.don]}, "description": None},
        headers=admin.headers,
    )
    assert reowned.status_code == 200, reowned.text
    assert_conforms("/parts.update", "post", 200, reowned.json())
    assert [owner["id"] for owner in reowned.json()["part"]["owned_by"]] == [colleague.don, admin.don]
    assert "description" not in reowned.json()["part"]
    untouched = await client.post("/parts.update", json={"id": part["id"], "owned_by": {}}, headers=admin.headers)
    assert len(untouched.json()["part"]["owned_by"]) == 2
    fetched = await client.get("/parts.get", params={"id": part["id"]}, headers=admin.headers)
    assert fetched.json()["part"] == untouched.json()["part"]


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"name": "x"}, "missing_required_field", "id"),
        ({"id": "PROD-1", "name": ""}, "invalid_field", "name"),
        ({"id": "PROD-1", "owned_by": {"set": []}}, "invalid_field", "owned_by.set"),
        ({"id": "PROD-1", "owned_by": {"set": ["DEVU-1", "DEVU-50"]}}, "invalid_id", "owned_by.set[1]"),
        ({"id": "PROD-1", "owned_by": {"set": ["PROD-1"]}}, "unexpected_id_type", "owned_by.set[0]"),
        ({"id": "PROD-1", "owned_by": ["DEVU-1"]}, "unexpected_json_type", "owned_by"),
        ({"id": "PROD-1", "type": "feature"}, "invalid_field", "type"),
        ({"id": "PROD-1", "type": "linkable"}, "invalid_enum_value", "type"),
        ({"id": "PROD-1", "parent_part": ["PROD-1"]}, "invalid_field", "parent_part"),
        ({"id": "PROD-1", "tags": {"set": []}}, "invalid_field", "tags"),
        ({"id": "TAG-1"}, "unexpected_id_type", "id"),
    ],
)
async def test_update_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await create(client, admin, type="product", name="Target")
    await bad(client, admin, "/parts.update", body, kind, field_name)


async def test_a_failed_update_changes_nothing(client, admin: Actor):
    part = await create(client, admin, type="product", name="Stable")
    body = {"id": part["id"], "name": "Changed", "owned_by": {"set": ["DEVU-404"]}}
    await bad(client, admin, "/parts.update", body, "invalid_id", "owned_by.set[0]")
    fetched = await client.get("/parts.get", params={"id": part["id"]}, headers=admin.headers)
    assert fetched.json()["part"] == part


async def test_update_of_an_unknown_part_is_not_found(client, admin: Actor):
    await create(client, admin, type="product", name="Only")
    for reference in ("PROD-9", "FEAT-1"):
        response = await client.post("/parts.update", json={"id": reference, "name": "x"}, headers=admin.headers)
        assert response.status_code == 404
        assert_conforms("/parts.update", "post", 404, response.json())


# delete ------------------------------------------------------------------------------------------------


async def test_delete_refuses_a_part_with_children_then_goes_leaf_first(client, admin: Actor):
    made = await hierarchy(client, admin)
    for key in ("product", "capability", "feature"):
        response = await client.post("/parts.delete", json={"id": made[key]["id"]}, headers=admin.headers)
        assert response.status_code == 400, key
        assert response.json()["type"] == "bad_request"
        assert_conforms("/parts.delete", "post", 400, response.json())
    for key in ("sub_feature", "feature", "enhancement", "capability", "product"):
        response = await client.post("/parts.delete", json={"id": made[key]["display_id"]}, headers=admin.headers)
        assert response.status_code == 200, (key, response.text)
        assert response.json() == {}
        assert_conforms("/parts.delete", "post", 200, response.json())
        gone = await client.get("/parts.get", params={"id": made[key]["id"]}, headers=admin.headers)
        assert gone.status_code == 404
    again = await client.post("/parts.delete", json={"id": made["product"]["id"]}, headers=admin.headers)
    assert again.status_code == 404
    assert_conforms("/parts.delete", "post", 404, again.json())
    await bad(client, admin, "/parts.delete", {"id": "ACC-1"}, "unexpected_id_type", "id")
    await bad(client, admin, "/parts.delete", {}, "missing_required_field", "id")
    listed = await client.get("/parts.list", headers=admin.headers)
    assert listed.json() == {"parts": []}


async def test_delete_removes_the_part_from_incidents(client, admin: Actor):
    gone = await create(client, admin, type="product", name="Affected")
    kept = await create(client, admin, type="product", name="Also affected")
    body = {"title": "down", "applies_to_parts": [gone["id"], kept["id"]]}
    incident = (await client.post("/incidents.create", json=body, headers=admin.headers)).json()["incident"]
    response = await client.post("/parts.delete", json={"id": gone["id"]}, headers=admin.headers)
    assert response.status_code == 200, response.text
    after = await client.get("/incidents.get", params={"id": incident["id"]}, headers=admin.headers)
    assert [p["id"] for p in after.json()["incident"]["applies_to_parts"]] == [kept["id"]]


# list --------------------------------------------------------------------------------------------------


async def _list(client, actor: Actor, method: str, params: Body) -> Body:
    if method == "get":
        response = await client.get("/parts.list", params=params, headers=actor.headers)
    else:
        response = await client.post("/parts.list", json=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/parts.list", method, 200, response.json())
    return response.json()


async def _names(client, actor: Actor, method: str, params: Body) -> list[str]:
    return [part["name"] for part in (await _list(client, actor, method, params))["parts"]]


async def test_list_pages_forward_and_back_in_both_forms(client, admin: Actor):
    await hierarchy(client, admin)
    everything = ["Platform", "Billing", "Invoices", "PDF export", "Faster PDFs"]
    for method, limit in (("get", "2"), ("post", 2)):
        pages: list[list[str]] = []
        answers: list[Body] = []
        cursor = None
        while True:
            answer = await _list(client, admin, method, {"limit": limit, **({"cursor": cursor} if cursor else {})})
            pages.append([part["name"] for part in answer["parts"]])
            answers.append(answer)
            cursor = answer.get("next_cursor")
            if cursor is None:
                break
        assert pages == [everything[0:2], everything[2:4], everything[4:]]
        assert "prev_cursor" not in answers[0]
        back = await _list(client, admin, method, {"limit": limit, "cursor": answers[2]["prev_cursor"]})
        assert [part["name"] for part in back["parts"]] == everything[2:4]


async def test_list_filters_by_type_name_and_people(app, client, admin: Actor):
    colleague = await add_principal(app, admin, email="c@example.com")
    made = await hierarchy(client, admin)
    await client.post(
        "/parts.update",
        json={"id": made["feature"]["id"], "owned_by": {"set": [colleague.don]}},
        headers=colleague.headers,
    )
    assert await _names(client, admin, "get", {"type": "feature,enhancement"}) == [
        "Invoices",
        "PDF export",
        "Faster PDFs",
    ]
    assert await _names(client, admin, "post", {"type": ["capability"]}) == ["Billing"]
    assert await _names(client, admin, "get", {"name": '"billing","PDF EXPORT"'}) == ["Billing", "PDF export"]
    assert await _names(client, admin, "post", {"owned_by": [colleague.don]}) == ["Invoices"]
    assert await _names(client, admin, "post", {"owned_by": [f"DEVU-{colleague.user_number}", admin.don]}) == [
        "Platform",
        "Billing",
        "Invoices",
        "PDF export",
        "Faster PDFs",
    ]
    assert await _names(client, admin, "get", {"modified_by": colleague.don}) == ["Invoices"]
    assert await _names(client, admin, "post", {"created_by": [colleague.don]}) == []
    assert len(await _names(client, admin, "post", {"created_by": [admin.don], "type": ["product"]})) == 1
    assert await _names(client, admin, "post", {"owned_by": ["DEVU-999"]}) == []
    assert await _names(client, admin, "post", {"owned_by": [f"SVCACC-{admin.user_number}"]}) == []


async def test_list_filters_by_parent_part_down_to_a_level(client, admin: Actor):
    made = await hierarchy(client, admin)
    product = made["product"]["id"]
    assert await _names(client, admin, "post", {"parent_part": {"parts": [product], "level": 1}}) == ["Billing"]
    assert await _names(client, admin, "get", {"parent_part.parts": product, "parent_part.level": "2"}) == [
        "Billing",
        "Invoices",
        "Faster PDFs",
    ]
    assert await _names(client, admin, "post", {"parent_part": {"parts": [made["product"]["display_id"]]}}) == [
        "Billing",
        "Invoices",
        "PDF export",
        "Faster PDFs",
    ]
    # An id whose type is not the part's names nothing.
    assert await _names(client, admin, "post", {"parent_part": {"parts": ["FEAT-1"]}}) == []
    several = {"parent_part": {"parts": [made["feature"]["id"], made["enhancement"]["id"]]}, "type": ["feature"]}
    assert await _names(client, admin, "post", several) == ["PDF export"]


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"type": ["runnable"]}, "invalid_enum_value", "type[0]"),
        ({"owned_by": ["TAG-1"]}, "unexpected_id_type", "owned_by[0]"),
        ({"created_by": ["DEVU-1", "x"]}, "invalid_id", "created_by[1]"),
        ({"modified_by": ["PROD-1"]}, "unexpected_id_type", "modified_by[0]"),
        ({"parent_part": {"parts": []}}, "invalid_field", "parent_part.parts"),
        ({"parent_part": {"level": 1}}, "missing_required_field", "parent_part.parts"),
        ({"parent_part": {"parts": ["PROD-1"], "level": 0}}, "invalid_field", "parent_part.level"),
        ({"parent_part": {"parts": ["DEVU-1"]}}, "unexpected_id_type", "parent_part.parts[0]"),
        ({"parent_part": ["PROD-1"]}, "unexpected_json_type", "parent_part"),
        ({"limit": -1}, "invalid_field", "limit"),
        ({"sort_by": ["name:asc"]}, "invalid_field", "sort_by"),
        ({"tags": ["TAG-1"]}, "invalid_field", "tags"),
    ],
)
async def test_list_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await bad(client, admin, "/parts.list", body, kind, field_name)


async def test_cursor_of_other_filters_is_a_bad_request(client, admin: Actor):
    await hierarchy(client, admin)
    first = await client.post("/parts.list", json={"limit": 1}, headers=admin.headers)
    other = await client.post(
        "/parts.list",
        json={"limit": 1, "cursor": first.json()["next_cursor"], "type": ["feature"]},
        headers=admin.headers,
    )
    assert other.status_code == 400
    assert other.json()["type"] == "bad_request"
    assert_conforms("/parts.list", "post", 400, other.json())


async def test_list_renders_a_page_with_a_fixed_number_of_queries(app, client, admin: Actor):
    colleague = await add_principal(app, admin, email="c@example.com")
    for index in range(12):
        await create(client, admin, type="product", name=f"P{index}", owned_by=[admin.don, colleague.don])
    # Reads remember users (incidentd.memo): compare pages once the owners are known.
    await _list(client, admin, "post", {"limit": 12})
    with counting_selects(app) as small:
        await _list(client, admin, "post", {"limit": 2})
    with counting_selects(app) as large:
        answer = await _list(client, admin, "post", {"limit": 12})
    assert len(answer["parts"]) == 12
    assert all(len(part["owned_by"]) == 2 for part in answer["parts"])
    assert len(large) == len(small)


# isolation ---------------------------------------------------------------------------------------------


async def test_an_org_never_sees_or_touches_another_orgs_parts(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    theirs = await create(client, other, type="product", name="Theirs")
    mine = await create(client, admin, type="product", name="Mine")
    for path, body in (
        ("/parts.get", {"id": theirs["id"]}),
        ("/parts.update", {"id": theirs["id"], "name": "stolen"}),
        ("/parts.delete", {"id": theirs["id"]}),
    ):
        response = await client.post(path, json=body, headers=admin.headers)
        assert response.status_code == 404, path
        assert_conforms(path, "post", 404, response.json())
    by_display = await client.get("/parts.get", params={"id": "PROD-1"}, headers=admin.headers)
    assert by_display.json()["part"]["id"] == mine["id"]
    assert [part["id"] for part in (await _list(client, admin, "get", {}))["parts"]] == [mine["id"]]
    # another org's part as a parent or in a filter names nothing
    assert await _names(client, admin, "post", {"parent_part": {"parts": [theirs["id"]]}}) == []
    assert await _names(client, admin, "post", {"owned_by": [other.don]}) == []
    still = await client.get("/parts.get", params={"id": theirs["id"]}, headers=other.headers)
    assert still.json()["part"] == theirs


# for the incidents domain ------------------------------------------------------------------------------


async def test_lookup_gives_the_part_type_of_existing_parts_of_the_org(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    await hierarchy(client, admin)
    await create(client, other, type="product", name="Elsewhere")
    async with app.state.db.read() as conn:
        found = await parts.lookup(conn, admin.org.dev_org_id, [5, 1, 2, 3, 6])
        theirs = await parts.lookup(conn, other.org.dev_org_id, [1, 2])
        assert await parts.lookup(conn, admin.org.dev_org_id, []) == {}
    assert found == {1: "product", 2: "capability", 3: "feature", 5: "enhancement"}
    assert theirs == {1: "product"}


async def test_summaries_render_devrev_part_summaries_in_at_most_two_queries(app, client, admin: Actor):
    robot = await add_principal(app, admin, user_type="service_account")
    made = await hierarchy(client, admin)
    await client.post(
        "/parts.update",
        json={"id": made["feature"]["id"], "owned_by": {"set": [robot.don, admin.don]}},
        headers=admin.headers,
    )
    async with app.state.db.read() as conn:
        with counting_selects(app, conn) as statements:
            found = await parts.summaries(conn, admin.org, [1, 2, 3, 4, 5, 99])
        # the parts with their owners, and the owners' users unless remembered (incidentd.memo), whatever the number of
        # parts
        assert 1 <= len(statements) <= 2
        with counting_selects(app, conn) as statements:
            assert await parts.summaries(conn, admin.org, [1, 2, 3, 4, 5, 99]) == found
        assert len(statements) == 1
        assert await parts.summaries(conn, admin.org, []) == {}
    assert set(found) == {1, 2, 3, 4, 5}
    summary = msgspec.to_builtins(found[3])
    assert summary["type"] == "feature"
    assert summary["id"] == made["feature"]["id"]
    assert summary["display_id"] == "FEAT-3"
    assert summary["name"] == "Invoices"
    assert [owner["id"] for owner in summary["owned_by"]] == [robot.don, admin.don]
    assert summary["owned_by"][0]["type"] == "service_account"
    assert set(summary) == {"type", "id", "display_id", "name", "owned_by"}
    assert msgspec.to_builtins(found[1])["owned_by"] == made["product"]["owned_by"]


async def test_deleting_a_parent_while_a_child_is_created_under_it_never_fails_midway(client, admin: Actor):
    for attempt in range(4):
        product = await create(client, admin, type="product", name=f"Racing {attempt}")
        child = {"type": "capability", "name": "child", "owned_by": [admin.don], "parent_part": [product["id"]]}
        created, deleted = await asyncio.gather(
            client.post("/parts.create", json=child, headers=admin.headers),
            client.post("/parts.delete", json={"id": product["id"]}, headers=admin.headers),
        )
        outcome = (created.status_code, deleted.status_code)
        assert outcome in ((201, 400), (400, 200)), (created.text, deleted.text)
        if created.status_code == 400:
            assert (created.json()["type"], created.json()["field_name"]) == ("invalid_id", "parent_part[0]")
        else:
            assert deleted.json()["type"] == "bad_request"
