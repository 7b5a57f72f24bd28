"""links.list: the links of one object by direction, link type and the other end's type, oldest first, with
keyset cursors both ways."""

from __future__ import annotations

from links_world import Body, account, article, call, incident, link, part

from conftest import Actor


async def world(client, admin: Actor) -> dict[str, Body]:
    """INC-1 with links in both directions to incidents, a product, an article and an account."""
    hub = await incident(client, admin, "Hub")
    child = await incident(client, admin, "Child")
    parent = await incident(client, admin, "Parent")
    product, doc, customer = await part(client, admin), await article(client, admin), await account(client, admin)
    return {
        "hub": hub,
        "to_child": await link(client, admin, hub, "is_parent_of", child),
        "from_parent": await link(client, admin, parent, "is_parent_of", hub),
        "to_product": await link(client, admin, hub, "is_related_to", product),
        "from_doc": await link(client, admin, doc, "is_follow_up_of", hub),
        "from_customer": await link(client, admin, customer, "is_related_to", hub),
        "elsewhere": await link(client, admin, child, "is_related_to", parent),
    }


async def ids_of(client, admin: Actor, body: Body, *, get: bool = False) -> list[str]:
    return [item["id"] for item in (await call(client, admin, "/links.list", 200, body, get=get))["links"]]


async def test_lists_the_objects_links_in_both_directions_oldest_first(client, admin: Actor):
    w = await world(client, admin)
    every = [w[name]["id"] for name in ("to_child", "from_parent", "to_product", "from_doc", "from_customer")]
    assert await ids_of(client, admin, {"object": w["hub"]["id"]}) == every
    assert await ids_of(client, admin, {"object": w["hub"]["display_id"]}, get=True) == every
    product = w["to_product"]["target"]
    assert await ids_of(client, admin, {"object": product["display_id"]}) == [w["to_product"]["id"]]


async def test_direction_link_type_and_object_types_filter(client, admin: Actor):
    w = await world(client, admin)
    hub = w["hub"]["id"]
    outbound = [w["to_child"]["id"], w["to_product"]["id"]]
    inbound = [w["from_parent"]["id"], w["from_doc"]["id"], w["from_customer"]["id"]]
    assert await ids_of(client, admin, {"object": hub, "direction": "is_source"}) == outbound
    assert await ids_of(client, admin, {"object": hub, "direction": "is_target"}) == inbound
    parents = [w["to_child"]["id"], w["from_parent"]["id"]]
    assert await ids_of(client, admin, {"object": hub, "link_type": ["is_parent_of"]}) == parents
    assert await ids_of(client, admin, {"object": hub, "types": ["is_parent_of"]}) == parents  # deprecated name
    both = {"object": hub, "link_type": ["is_follow_up_of"], "types": ["is_parent_of"]}
    assert await ids_of(client, admin, both) == [*parents, w["from_doc"]["id"]]
    query = {"object": hub, "link_type": '"is_parent_of","is_related_to"', "direction": "is_source"}
    assert await ids_of(client, admin, query, get=True) == outbound
    # object_types: the type of the other end.
    assert await ids_of(client, admin, {"object": hub, "object_types": ["incident"]}) == parents
    others = {"object": hub, "object_types": "product,account"}
    assert await ids_of(client, admin, others, get=True) == [w["to_product"]["id"], w["from_customer"]["id"]]
    narrow = {"object": hub, "object_types": ["article", "account"], "direction": "is_target"}
    assert await ids_of(client, admin, narrow) == [w["from_doc"]["id"], w["from_customer"]["id"]]
    # A DevRev link type or endpoint type incidentd never links is a valid filter that matches nothing.
    assert await ids_of(client, admin, {"object": hub, "link_type": ["serves"], "object_types": ["issue"]}) == []
    # incidentd has no custom link types (DevRev's newer SDKs offer the filter).
    assert await ids_of(client, admin, {"object": hub, "custom_link_type": ["don:core:x"]}) == []


async def test_cursors_walk_forwards_and_back_and_belong_to_their_filters(client, admin: Actor):
    hub = await incident(client, admin, "Hub")
    made = [
        (await link(client, admin, hub, "is_related_to", await incident(client, admin, f"n{n}")))["id"]
        for n in range(7)
    ]
    pages, body = [], {"object": hub["id"], "limit": 3}
    while True:
        page = await call(client, admin, "/links.list", 200, body)
        pages.append([item["id"] for item in page["links"]])
        if "next_cursor" not in page:
            break
        body = {"object": hub["id"], "limit": 3, "cursor": page["next_cursor"]}
    assert pages == [made[0:3], made[3:6], made[6:7]]
    assert "prev_cursor" in page
    back = await call(
        client,
        admin,
        "/links.list",
        200,
        {"object": hub["id"], "limit": 3, "cursor": page["prev_cursor"], "mode": "before"},
    )
    assert [item["id"] for item in back["links"]] == made[3:6]
    first = await call(client, admin, "/links.list", 200, {"object": hub["id"], "limit": 3})
    assert "prev_cursor" not in first
    other_filters = {"object": hub["id"], "direction": "is_source", "cursor": first["next_cursor"]}
    error = await call(client, admin, "/links.list", 400, other_filters)
    assert error["type"] == "bad_request"
    error = await call(client, admin, "/links.list", 400, {"object": hub["id"], "cursor": "garbage"})
    assert error["type"] == "bad_request"
    # Default limit 50, at most 100; below 1 is invalid.
    assert len((await call(client, admin, "/links.list", 200, {"object": hub["id"], "limit": 500}))["links"]) == 7
    error = await call(client, admin, "/links.list", 400, {"object": hub["id"], "limit": 0})
    assert (error["type"], error["field_name"]) == ("invalid_field", "limit")


async def test_bad_filters_are_400s_naming_the_field(client, admin: Actor):
    hub = await incident(client, admin)
    for body, kind, field_name in (
        ({}, "missing_required_field", "object"),
        ({"object": "INC-404"}, "invalid_id", "object"),
        ({"object": admin.don}, "unexpected_id_type", "object"),
        ({"object": hub["id"], "direction": "sideways"}, "invalid_enum_value", "direction"),
        ({"object": hub["id"], "link_type": ["nope"]}, "invalid_enum_value", "link_type[0]"),
        ({"object": hub["id"], "object_types": ["tag"]}, "invalid_enum_value", "object_types[0]"),
        ({"object": hub["id"], "link_type": ["is_related_to"] * 33}, "invalid_field", "link_type"),
    ):
        error = await call(client, admin, "/links.list", 400, body)
        assert (error["type"], error["field_name"]) == (kind, field_name), error
    error = await call(client, admin, "/links.list", 400, {"object": hub["id"], "direction": "up"}, get=True)
    assert error["allowed_values"] == ["is_source", "is_target"]
