"""links.create, get, delete and replace: what a link joins, its DevRev shape, and every refusal."""

from __future__ import annotations

import asyncio

import pytest
from links_world import Body, account, article, call, incident, link, part

from conftest import Actor, make_org


def endpoint_of(obj: Body) -> tuple[str, str]:
    return obj["id"], obj["display_id"]


async def test_create_links_an_incident_to_every_kind_of_object_and_renders_their_summaries(client, admin: Actor):
    inc = await incident(client, admin, severity=2, owned_by=[admin.don])
    other = await incident(client, admin, "Payments slow")
    product = await part(client, admin)
    doc = await article(client, admin)
    customer = await account(client, admin)
    made = {
        "incident": await link(client, admin, inc, "is_related_to", other),
        "product": await link(client, admin, inc, "is_related_to", product),
        "article": await link(client, admin, doc, "is_follow_up_of", inc),
        "account": await link(client, admin, customer, "is_related_to", inc),
    }
    source = made["incident"]["source"]
    assert source == {
        "type": "incident",
        "id": inc["id"],
        "display_id": inc["display_id"],
        "title": "Checkout is down",
        "owned_by": inc["owned_by"],
        "severity": {"id": 2, "label": "sev-1", "ordinal": 2},
        "stage": {"stage": inc["stage"]["stage"]},
    }
    assert made["product"]["target"] == {
        "type": "product",
        "id": product["id"],
        "display_id": product["display_id"],
        "name": "Payments",
        "owned_by": product["owned_by"],
    }
    assert made["article"]["source"]["type"] == "article"
    assert made["article"]["source"]["title"] == "Postmortem"
    assert made["account"]["source"] == {
        "type": "account",
        "id": customer["id"],
        "display_id": customer["display_id"],
        "display_name": "Acme",
    }
    for created in made.values():
        assert created["id"].startswith(f"don:core:dvrv-us-1:devo/{admin.org.slug}:link/")
        assert created["created_by"]["id"] == admin.don
        assert created["created_date"] == created["modified_date"]


async def test_every_part_type_is_an_end_of_its_own_type(client, admin: Actor):
    inc = await incident(client, admin)
    product = await part(client, admin)
    body = {"type": "capability", "name": "Cards", "owned_by": [admin.don], "parent_part": [product["id"]]}
    capability = (await client.post("/parts.create", json=body, headers=admin.headers)).json()["part"]
    made = await link(client, admin, capability, "is_related_to", inc)
    assert (made["source"]["type"], made["source"]["id"]) == ("capability", capability["id"])


async def test_create_takes_display_ids_and_get_answers_both_forms(client, admin: Actor):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    body = {"source": first["display_id"], "link_type": "is_parent_of", "target": second["display_id"]}
    made = (await call(client, admin, "/links.create", 201, body))["link"]
    assert (made["source"]["id"], made["target"]["id"]) == (first["id"], second["id"])
    by_get = await call(client, admin, "/links.get", 200, {"id": made["id"]}, get=True)
    by_post = await call(client, admin, "/links.get", 200, {"id": made["id"]})
    assert by_get == by_post == {"link": made}


async def test_delete_answers_empty_and_the_link_is_gone(client, admin: Actor):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    made = await link(client, admin, first, "is_related_to", second)
    assert await call(client, admin, "/links.delete", 200, {"id": made["id"]}) == {}
    await call(client, admin, "/links.get", 404, {"id": made["id"]}, get=True)
    await call(client, admin, "/links.delete", 404, {"id": made["id"]})
    listed = await call(client, admin, "/links.list", 200, {"object": first["id"]})
    assert listed["links"] == []


async def test_replace_swaps_the_link_for_a_new_one_in_one_step(client, admin: Actor):
    first = await incident(client, admin, "one")
    second = await incident(client, admin, "two")
    third = await incident(client, admin, "three")
    old = await link(client, admin, first, "is_related_to", second)
    body = {"id": old["id"], "source": first["id"], "link_type": "is_duplicate_of", "target": third["id"]}
    new = (await call(client, admin, "/links.replace", 201, body))["link"]
    assert new["id"] != old["id"]
    assert (new["link_type"], new["target"]["id"]) == ("is_duplicate_of", third["id"])
    await call(client, admin, "/links.get", 404, {"id": old["id"]}, get=True)
    listed = await call(client, admin, "/links.list", 200, {"object": first["id"]})
    assert [item["id"] for item in listed["links"]] == [new["id"]]
    # Replacing a link by the very same link is allowed (the old one goes first).
    same = {"id": new["id"], "source": first["id"], "link_type": "is_duplicate_of", "target": third["id"]}
    again = (await call(client, admin, "/links.replace", 201, same))["link"]
    assert again["target"] == new["target"]
    # A refused replacement leaves the old link in place.
    clash = await link(client, admin, first, "is_related_to", second)
    refused = {"id": again["id"], "source": first["id"], "link_type": "is_related_to", "target": second["id"]}
    await call(client, admin, "/links.replace", 409, refused)
    await call(client, admin, "/links.get", 200, {"id": again["id"]})
    missing = {**refused, "id": admin.org.don("link", 999)}
    await call(client, admin, "/links.replace", 404, missing)
    assert clash["id"] != again["id"]


async def test_a_type_incidents_do_not_use_is_refused_with_the_allowed_values(client, admin: Actor):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    for link_type in ("serves", "custom_link", "nonsense"):
        body = {"source": first["id"], "link_type": link_type, "target": second["id"]}
        error = await call(client, admin, "/links.create", 400, body)
        assert error["type"] == "invalid_enum_value" and error["field_name"] == "link_type"
        assert error["allowed_values"] == [
            "is_duplicate_of",
            "is_follow_up_of",
            "is_merged_into",
            "is_parent_of",
            "is_related_to",
        ]
    body = {"source": first["id"], "link_type": "is_related_to", "target": second["id"], "custom_link_type": "x"}
    error = await call(client, admin, "/links.create", 400, body)
    assert (error["type"], error["field_name"]) == ("invalid_field", "custom_link_type")


async def test_ends_are_checked_against_what_the_link_type_joins(client, admin: Actor):
    inc, other = await incident(client, admin), await incident(client, admin, "Second")
    product, doc, customer = await part(client, admin), await article(client, admin), await account(client, admin)
    tag = await client.post("/tags.create", json={"name": "db"}, headers=admin.headers)
    cases = [
        ((inc, "is_duplicate_of", product), "unexpected_id_type", "target"),
        ((doc, "is_parent_of", inc), "unexpected_id_type", "source"),
        ((inc, "is_follow_up_of", doc), "unexpected_id_type", "target"),
        ((customer, "is_follow_up_of", inc), "unexpected_id_type", "source"),
        ((inc, "is_related_to", tag.json()["tag"]), "unexpected_id_type", "target"),
        ((inc, "is_related_to", inc), "invalid_field", "target"),
        ((product, "is_related_to", customer), "invalid_field", "target"),
    ]
    for (source, link_type, target), kind, field_name in cases:
        body = {"source": source["id"], "link_type": link_type, "target": target["id"]}
        error = await call(client, admin, "/links.create", 400, body)
        assert (error["type"], error["field_name"]) == (kind, field_name), (link_type, error)
    # Ids that name nothing, are malformed, or name a part under another type's display id.
    for target in ("INC-999", "nope", product["display_id"].replace("PROD", "FEAT")):
        body = {"source": inc["id"], "link_type": "is_related_to", "target": target}
        error = await call(client, admin, "/links.create", 400, body)
        assert (error["type"], error["field_name"]) == ("invalid_id", "target")
    assert other


async def test_bounds_and_shapes_are_400s_naming_the_field(client, admin: Actor):
    inc = await incident(client, admin)
    for body, kind, field_name in (
        ({"link_type": "is_related_to", "target": inc["id"]}, "missing_required_field", "source"),
        ({"source": inc["id"], "link_type": "is_related_to", "target": "x" * 257}, "invalid_field", "target"),
        ({"source": inc["id"], "link_type": "is_related_to", "target": 7}, "unexpected_json_type", "target"),
        ({"source": inc["id"], "link_type": "is_related_to", "target": inc["id"], "x": 1}, "invalid_field", "x"),
    ):
        error = await call(client, admin, "/links.create", 400, body)
        assert (error["type"], error["field_name"]) == (kind, field_name)
    await call(client, admin, "/links.get", 400, {"id": inc["id"]}, get=True)  # an incident id is no link id


async def test_a_second_identical_link_is_a_conflict_but_the_reverse_is_another_link(client, admin: Actor):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    made = await link(client, admin, first, "is_related_to", second)
    body = {"source": first["display_id"], "link_type": "is_related_to", "target": second["id"]}
    error = await call(client, admin, "/links.create", 409, body)
    assert error["type"] == "conflict" and made["id"] in error["message"]
    await link(client, admin, second, "is_related_to", first)
    await link(client, admin, first, "is_parent_of", second)


async def test_concurrent_identical_creates_make_one_link_and_conflicts(client, admin: Actor):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    body = {"source": first["id"], "link_type": "is_related_to", "target": second["id"]}
    responses = await asyncio.gather(
        *(client.post("/links.create", json=body, headers=admin.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7, [r.text for r in responses]
    listed = await call(client, admin, "/links.list", 200, {"object": first["id"]})
    assert len(listed["links"]) == 1


async def test_a_link_goes_with_either_end(client, admin: Actor):
    inc, other = await incident(client, admin), await incident(client, admin, "Second")
    product, doc, customer = await part(client, admin), await article(client, admin), await account(client, admin)
    to_other = await link(client, admin, inc, "is_related_to", other)
    to_product = await link(client, admin, inc, "is_related_to", product)
    from_doc = await link(client, admin, doc, "is_follow_up_of", inc)
    from_customer = await link(client, admin, customer, "is_related_to", inc)
    await call(client, admin, "/incidents.delete", 200, {"id": other["id"]})
    await call(client, admin, "/parts.delete", 200, {"id": product["id"]})
    await call(client, admin, "/articles.delete", 200, {"id": doc["id"]})
    await call(client, admin, "/accounts.delete", 200, {"id": customer["id"]})
    for gone in (to_other, to_product, from_doc, from_customer):
        await call(client, admin, "/links.get", 404, {"id": gone["id"]}, get=True)
    kept = await link(client, admin, inc, "is_related_to", await incident(client, admin, "Third"))
    await call(client, admin, "/incidents.delete", 200, {"id": inc["id"]})
    await call(client, admin, "/links.get", 404, {"id": kept["id"]}, get=True)


async def test_a_member_may_link_and_unlink(client, admin: Actor, member: Actor):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    made = await link(client, member, first, "is_related_to", second)
    assert made["created_by"]["id"] == member.don
    await call(client, member, "/links.delete", 200, {"id": made["id"]})


@pytest.mark.parametrize("operation", ["create", "get", "delete", "replace", "list"])
async def test_another_orgs_ids_get_nothing(app, client, admin: Actor, operation: str):
    other = await make_org(app, "other")
    theirs = [await incident(client, other), await incident(client, other, "Theirs too")]
    their_link = await link(client, other, theirs[0], "is_related_to", theirs[1])
    mine = await incident(client, admin)
    if operation == "create":
        for source, target, field_name in ((mine, theirs[0], "target"), (theirs[0], mine, "source")):
            body = {"source": source["id"], "link_type": "is_related_to", "target": target["id"]}
            error = await call(client, admin, "/links.create", 400, body)
            assert (error["type"], error["field_name"]) == ("invalid_id", field_name)
    elif operation == "get":
        await call(client, admin, "/links.get", 404, {"id": their_link["id"]}, get=True)
    elif operation == "delete":
        await call(client, admin, "/links.delete", 404, {"id": their_link["id"]})
    elif operation == "replace":
        body = {"id": their_link["id"], "source": mine["id"], "link_type": "is_related_to", "target": mine["id"]}
        await call(client, admin, "/links.replace", 404, body)
        own = await link(client, admin, mine, "is_related_to", await incident(client, admin, "Mine too"))
        body = {"id": own["id"], "source": mine["id"], "link_type": "is_related_to", "target": theirs[0]["id"]}
        error = await call(client, admin, "/links.replace", 400, body)
        assert (error["type"], error["field_name"]) == ("invalid_id", "target")
    else:
        error = await call(client, admin, "/links.list", 400, {"object": theirs[0]["id"]})
        assert (error["type"], error["field_name"]) == ("invalid_id", "object")
    # Nothing of theirs changed.
    assert (await call(client, other, "/links.get", 200, {"id": their_link["id"]}))["link"] == their_link
