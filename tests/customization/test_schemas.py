"""schemas.custom.set|get|list and schemas.subtypes.list: versioned fragments, and subtypes with their own stage
diagram."""

from __future__ import annotations

from typing import Any

from fragments import assert_rejected, create, fragment_body, get_fragment, set_fragment, update

from conftest import Actor, make_org
from contract import assert_conforms
from incidentd.customization import service as customization

REGION = {"name": "region", "field_type": "text", "description": "Where it happens"}
TIER = {"name": "tier", "field_type": "int", "gte": 1, "lte": 3}


async def test_a_fragment_lifecycle_keeps_old_incidents_on_their_version(client, admin: Actor):
    first = await set_fragment(client, admin, fragment_body("tenant_fragment", [REGION]))
    assert first.startswith(f"don:core:dvrv-us-1:devo/{admin.org.slug}:tenant_fragment/")
    fetched = await get_fragment(client, admin, first)
    assert fetched["type"] == "tenant_fragment" and fetched["fragment_type"] == "tenant"
    assert fetched["id"] == first and fetched["display_id"].startswith("TFRAG-")
    assert fetched["fields"] == [REGION] and fetched["leaf_type"] == "incident"
    assert fetched["created_by"]["id"] == admin.don
    assert "old_fragment_ref" not in fetched and "new_fragment_ref" not in fetched
    by_display = await get_fragment(client, admin, fetched["display_id"])
    assert by_display == fetched
    # Setting the same content again changes nothing: same id.
    assert await set_fragment(client, admin, fragment_body("tenant_fragment", [REGION])) == first

    old = await create(client, admin, custom_schema_spec={"tenant_fragment": True}, custom_fields={"tnt__region": "eu"})
    old = old.json()["incident"]
    assert old["custom_schema_fragments"] == [first] and old["custom_fields"] == {"tnt__region": "eu"}

    # A changed fragment is a new version with a new id; the versions point at each other.
    second = await set_fragment(client, admin, fragment_body("tenant_fragment", [REGION, TIER]))
    assert second != first
    assert (await get_fragment(client, admin, first))["new_fragment_ref"]["id"] == second
    newer = await get_fragment(client, admin, second)
    assert newer["old_fragment_ref"] == {"type": "tenant_fragment", "id": first, "display_id": fetched["display_id"]}
    listed = await client.get("/schemas.custom.list", headers=admin.headers)
    assert_conforms("/schemas.custom.list", "get", 200, listed.json())
    assert [f["id"] for f in listed.json()["result"]] == [second]  # the current version of each fragment

    # The old incident still points at (and is valid under) the version it was written with.
    again = await client.get("/incidents.get", params={"id": old["id"]}, headers=admin.headers)
    assert again.json()["incident"]["custom_schema_fragments"] == [first]
    renamed = (await update(client, admin, old["id"], title="Checkout was down")).json()["incident"]
    assert renamed["custom_schema_fragments"] == [first] and renamed["custom_fields"] == {"tnt__region": "eu"}
    new = await create(client, admin, custom_schema_spec={"tenant_fragment": True}, custom_fields={"tnt__tier": 2})
    assert new.json()["incident"]["custom_schema_fragments"] == [second]
    old_spec = await create(client, admin, custom_fields={"tnt__tier": 2})
    assert_rejected(old_spec, "field_not_in_schema", "custom_fields.tnt__tier")

    # Dropping a field needs deleted_fields; a field keeps its type across versions.
    missing = await client.post(
        "/schemas.custom.set", json=fragment_body("tenant_fragment", [TIER]), headers=admin.headers
    )
    assert missing.status_code == 400 and missing.json()["field_name"] == "fields"
    assert_conforms("/schemas.custom.set", "post", 400, missing.json())
    retyped = await client.post(
        "/schemas.custom.set",
        json=fragment_body("tenant_fragment", [REGION, {"name": "tier", "field_type": "text"}]),
        headers=admin.headers,
    )
    assert retyped.status_code == 400 and retyped.json()["field_name"] == "fields[1].field_type"
    third = await set_fragment(client, admin, fragment_body("tenant_fragment", [TIER], deleted_fields=["region"]))
    # Moving the old incident to the current version drops the values of deleted fields.
    moved = await update(client, admin, old["id"], custom_schema_spec={"tenant_fragment": True})
    assert moved.json()["incident"]["custom_schema_fragments"] == [third]
    assert "custom_fields" not in moved.json()["incident"]
    # A dropped name may come back (with its old type) in a later version.
    fourth = await set_fragment(client, admin, fragment_body("tenant_fragment", [TIER, REGION]))
    assert (await get_fragment(client, admin, fourth))["old_fragment_ref"]["id"] == third


async def test_custom_type_and_app_fragments(client, admin: Actor):
    outage = await set_fragment(
        client,
        admin,
        fragment_body(
            "custom_type_fragment",
            [{"name": "blast_radius", "field_type": "int"}],
            subtype="outage",
            subtype_display_name="Outage",
            path=[{}],
        ),
    )
    fetched = await get_fragment(client, admin, outage)
    assert (fetched["type"], fetched["fragment_type"], fetched["subtype"]) == (
        "custom_type_fragment",
        "custom_type",
        "outage",
    )
    assert fetched["subtype_display_name"] == "Outage" and fetched["display_id"].startswith("CTFRAG-")
    pager = await set_fragment(
        client,
        admin,
        fragment_body(
            "app_fragment", [{"name": "escalation", "field_type": "text"}], app="pager", app_display_name="Pager"
        ),
    )
    fetched = await get_fragment(client, admin, pager)
    assert (fetched["app"], fetched["app_display_name"], fetched["fragment_type"]) == ("pager", "Pager", "app")
    response = await create(
        client,
        admin,
        custom_schema_spec={"subtype": "outage", "apps": ["pager"]},
        custom_fields={"ctype__blast_radius": 3, "pager__escalation": "sre"},
    )
    assert response.status_code == 201, response.text
    incident = response.json()["incident"]
    assert incident["subtype"] == "outage"
    assert incident["custom_schema_fragments"] == [outage, pager]
    assert incident["custom_fields"] == {"ctype__blast_radius": 3, "pager__escalation": "sre"}


async def test_bad_fragments_are_rejected_naming_the_field(client, admin: Actor):
    text = {"name": "note", "field_type": "text"}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({**fragment_body("tenant_fragment", [text]), "leaf_type": "ticket"}, "invalid_field", "leaf_type"),
        (fragment_body("custom_type_fragment", [text]), "missing_required_field", "subtype"),
        (fragment_body("custom_type_fragment", [text], subtype="no spaces"), "invalid_field", "subtype"),
        (fragment_body("tenant_fragment", [text], subtype="outage"), "invalid_field", "subtype"),
        (fragment_body("tenant_fragment", [text], app="pager"), "invalid_field", "app"),
        (fragment_body("app_fragment", [text]), "missing_required_field", "app"),
        (fragment_body("app_fragment", [text], app="tnt"), "invalid_field", "app"),
        (fragment_body("tenant_fragment", [text], conditions=[]), "invalid_field", "conditions"),
        (fragment_body("tenant_fragment", [text], is_custom_leaf_type=True), "invalid_field", "is_custom_leaf_type"),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "colour"}]),
            "invalid_enum_value",
            "fields[0].field_type",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "composite"}]),
            "customization_validation_error",
            "fields[0].field_type",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "array"}]),
            "invalid_field",
            "fields[0].base_type",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "array", "base_type": "struct"}]),
            "customization_validation_error",
            "fields[0].base_type",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "int", "max_len": 3}]),
            "invalid_field",
            "fields[0].max_len",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "text", "gt": 3}]),
            "invalid_field",
            "fields[0].gt",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "text", "min_items": 1}]),
            "invalid_field",
            "fields[0].min_items",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "text", "pattern": "(["}]),
            "invalid_field",
            "fields[0].pattern",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "enum"}]),
            "invalid_field",
            "fields[0].allowed_values",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "enum", "allowed_values": ["a", "a"]}]),
            "invalid_field",
            "fields[0].allowed_values",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "uenum", "allowed_values": [{"id": 1}]}]),
            "invalid_field",
            "fields[0].allowed_values",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "x", "field_type": "id", "id_type": ["spaceship"]}]),
            "invalid_field",
            "fields[0].id_type[0]",
        ),
        (
            fragment_body("tenant_fragment", [{"name": "Bad-Name", "field_type": "text"}]),
            "invalid_field",
            "fields[0].name",
        ),
        (fragment_body("tenant_fragment", [{"name": "a__b", "field_type": "text"}]), "invalid_field", "fields[0].name"),
        (fragment_body("tenant_fragment", [text, text]), "invalid_field", "fields[1].name"),
        (fragment_body("tenant_fragment", [text], deleted_fields=["note"]), "invalid_field", "deleted_fields[0]"),
        (
            fragment_body(
                "custom_type_fragment", [text], subtype="s", stage_diagram="don:core:dvrv-us-1:devo/x:stage_diagram/1"
            ),
            "invalid_id",
            "stage_diagram",
        ),
        (
            fragment_body("custom_type_fragment", [text], subtype="s", stage_diagram="TAG-1"),
            "unexpected_id_type",
            "stage_diagram",
        ),
    ]
    for body, error, field in cases:
        response = await client.post("/schemas.custom.set", json=body, headers=admin.headers)
        assert response.status_code == 400, (body, response.text)
        assert (response.json()["type"], response.json()["field_name"]) == (error, field), (body, response.json())
        assert_conforms("/schemas.custom.set", "post", 400, response.json())
    bad_default = await client.post(
        "/schemas.custom.set",
        json=fragment_body(
            "tenant_fragment", [{"name": "x", "field_type": "enum", "allowed_values": ["a"], "default_value": "b"}]
        ),
        headers=admin.headers,
    )
    assert bad_default.json()["subtype"] == "enum_out_of_range"
    assert bad_default.json()["field_name"] == "fields[0].default_value"
    assert (await client.post("/schemas.custom.list", json={}, headers=admin.headers)).json()["result"] == []


async def test_list_filters_prune_and_pages(client, admin: Actor):
    ids = {
        "tenant": await set_fragment(client, admin, fragment_body("tenant_fragment", [REGION])),
        "outage": await set_fragment(client, admin, fragment_body("custom_type_fragment", [TIER], subtype="outage")),
        "security": await set_fragment(
            client, admin, fragment_body("custom_type_fragment", [], subtype="security", is_deprecated=True)
        ),
        "pager": await set_fragment(client, admin, fragment_body("app_fragment", [REGION], app="pager")),
    }
    order = [ids["tenant"], ids["outage"], ids["security"], ids["pager"]]

    async def listed(method: str, query: dict[str, Any]) -> list[str]:
        if method == "get":
            response = await client.get("/schemas.custom.list", params=query, headers=admin.headers)
        else:
            response = await client.post("/schemas.custom.list", json=query, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert_conforms("/schemas.custom.list", method, 200, response.json())
        return [fragment["id"] for fragment in response.json()["result"]]

    assert await listed("post", {}) == order
    assert await listed("post", {"types": ["custom_type_fragment"]}) == [ids["outage"], ids["security"]]
    assert await listed("get", {"types": "tenant_fragment,app_fragment"}) == [ids["tenant"], ids["pager"]]
    assert await listed("get", {"subtype": '"security"'}) == [ids["security"]]
    assert await listed("post", {"app": ["pager"]}) == [ids["pager"]]
    assert await listed("post", {"is_deprecated": True}) == [ids["security"]]
    assert await listed("post", {"deprecated": False}) == [ids["tenant"], ids["outage"], ids["pager"]]
    assert await listed("post", {"leaf_type": ["ticket"]}) == []
    assert await listed("post", {"is_custom_leaf_type": True}) == []
    pruned = await client.post("/schemas.custom.list", json={"prune": ["fields"]}, headers=admin.headers)
    assert all("fields" not in fragment for fragment in pruned.json()["result"])
    seen, cursor = [], None
    while True:
        page = (
            await client.post(
                "/schemas.custom.list",
                json={"limit": 3, **({"cursor": cursor} if cursor else {})},
                headers=admin.headers,
            )
        ).json()
        seen += [fragment["id"] for fragment in page["result"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == order
    back = (
        await client.post("/schemas.custom.list", json={"limit": 3, "mode": "before"}, headers=admin.headers)
    ).json()
    assert [fragment["id"] for fragment in back["result"]] == order[1:] and "prev_cursor" in back
    sorted_by = await client.post("/schemas.custom.list", json={"sort_by": ["id:asc"]}, headers=admin.headers)
    assert sorted_by.status_code == 400 and sorted_by.json()["field_name"] == "sort_by"


async def test_subtypes_list_the_current_custom_types(client, admin: Actor):
    outage = await set_fragment(
        client, admin, fragment_body("custom_type_fragment", [], subtype="outage", subtype_display_name="Outage")
    )
    await set_fragment(client, admin, fragment_body("custom_type_fragment", [], subtype="old", is_deprecated=True))
    await set_fragment(client, admin, fragment_body("tenant_fragment", [REGION]))
    expected = [{"fragment_id": outage, "leaf_type": "incident", "value": "outage", "display_name": "Outage"}]
    for response in (
        await client.get("/schemas.subtypes.list", headers=admin.headers),
        await client.post("/schemas.subtypes.list", json={"leaf_types": ["incident"]}, headers=admin.headers),
        await client.get("/schemas.subtypes.list", params={"leaf_type": "incident"}, headers=admin.headers),
    ):
        assert response.status_code == 200, response.text
        assert_conforms("/schemas.subtypes.list", "get", 200, response.json())
        assert response.json()["subtypes"] == expected
    other = await client.post("/schemas.subtypes.list", json={"leaf_types": ["ticket"]}, headers=admin.headers)
    assert other.json() == {"subtypes": []}
    # A deprecated subtype cannot be given to incidents.
    deprecated = await create(client, admin, custom_schema_spec={"subtype": "old"})
    assert_rejected(deprecated, "invalid_argument", "custom_schema_spec.subtype")


async def test_fragments_of_another_org_are_invisible(app, client, admin: Actor):
    other = await make_org(app, "other")
    theirs = await set_fragment(client, other, fragment_body("custom_type_fragment", [TIER], subtype="outage"))
    for reference in (theirs, "CTFRAG-1"):
        response = await client.get("/schemas.custom.get", params={"id": reference}, headers=admin.headers)
        assert response.status_code == 404, reference
        assert_conforms("/schemas.custom.get", "get", 404, response.json())
    assert (await client.post("/schemas.custom.list", json={}, headers=admin.headers)).json()["result"] == []
    assert (await client.get("/schemas.subtypes.list", headers=admin.headers)).json()["subtypes"] == []
    response = await create(client, admin, custom_schema_spec={"subtype": "outage"})
    assert_rejected(response, "fragment_not_found", "custom_schema_spec.subtype")
    wrong_kind = await client.get("/schemas.custom.get", params={"id": "TAG-1"}, headers=admin.headers)
    assert wrong_kind.status_code == 400 and wrong_kind.json()["type"] == "unexpected_id_type"
    # A number of another fragment type is not this fragment.
    mine = await set_fragment(client, admin, fragment_body("tenant_fragment", [REGION]))
    number = mine.rsplit("/", 1)[1]
    response = await client.get("/schemas.custom.get", params={"id": f"CTFRAG-{number}"}, headers=admin.headers)
    assert response.status_code == 404


async def security_diagram(app: Any, actor: Actor) -> str:
    """A diagram for the `security` subtype over the default stages: triage -> fixing -> resolved (and back)."""
    async with app.state.db.write() as conn:
        default = await customization.load_diagram(conn, actor.org, "incident", None)
        stage = {info.name: number for number, info in default.stages.items()}
        number = await customization.create_diagram(
            conn,
            actor.org,
            leaf_type="incident",
            subtype=None,
            stage_numbers=[stage["triage"], stage["fixing"], stage["resolved"]],
            start=stage["triage"],
            transitions=[
                (stage["triage"], stage["fixing"]),
                (stage["fixing"], stage["resolved"]),
                (stage["resolved"], stage["fixing"]),
            ],
        )
    return actor.org.don("stage_diagram", number)


async def test_incidents_of_a_subtype_follow_its_stage_diagram(app, client, admin: Actor):
    diagram = await security_diagram(app, admin)
    fragment = await set_fragment(
        client,
        admin,
        fragment_body(
            "custom_type_fragment", [{"name": "cve", "field_type": "text"}], subtype="security", stage_diagram=diagram
        ),
    )
    assert (await get_fragment(client, admin, fragment))["stage_diagram"] == {"id": diagram}
    created = await create(
        client, admin, custom_schema_spec={"subtype": "security"}, custom_fields={"ctype__cve": "CVE-1"}
    )
    incident = created.json()["incident"]
    assert incident["stage"]["stage"]["name"] == "triage" and incident["subtype"] == "security"
    # acknowledged is not a stage of the security diagram; resolved is not reachable from triage.
    not_in_diagram = await update(client, admin, incident["id"], stage={"stage": "acknowledged"})
    assert not_in_diagram.status_code == 400 and not_in_diagram.json()["field_name"] == "stage.stage"
    skipped = await update(client, admin, incident["id"], stage={"stage": "resolved"})
    assert skipped.status_code == 400 and "'fixing'" in skipped.json()["message"]
    for name in ("fixing", "resolved"):
        moved = await update(client, admin, incident["id"], stage={"stage": name})
        assert moved.status_code == 200 and moved.json()["incident"]["stage"]["stage"]["name"] == name
    # The same move is fine for an incident without the subtype (the default diagram).
    plain = (await create(client, admin)).json()["incident"]
    assert (await update(client, admin, plain["id"], stage={"stage": "acknowledged"})).status_code == 200
    # A security incident may not start in acknowledged even when allowed to skip the start stage.
    start = await create(
        client,
        admin,
        custom_schema_spec={"subtype": "security"},
        stage="acknowledged",
        stage_validation_options=["allow_non_start"],
    )
    assert start.status_code == 400 and start.json()["field_name"] == "stage.stage"
    # Dropping the subtype puts the incident back on the default diagram.
    second = (await create(client, admin, custom_schema_spec={"subtype": "security"})).json()["incident"]
    dropped = await update(
        client, admin, second["id"], custom_schema_spec={"drop": {"subtype": True}}, stage={"stage": "acknowledged"}
    )
    assert dropped.status_code == 200, dropped.text
    assert "subtype" not in dropped.json()["incident"] and "custom_schema_fragments" not in dropped.json()["incident"]
    assert dropped.json()["incident"]["stage"]["stage"]["name"] == "acknowledged"
