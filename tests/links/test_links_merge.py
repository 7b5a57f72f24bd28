"""incidents.merge (incidentd's extension): the source closes as `duplicate` from any open stage and is linked
`is_merged_into` the target, in one transaction; every refusal is a 400 (or 404 for the source) that says why."""

from __future__ import annotations

import asyncio

import pytest
from links_world import call, incident, link

from conftest import Actor, make_org
from incidentd.customization import service as customization


async def stage_of(client, actor: Actor, incident_id: str) -> str:
    answer = await call(client, actor, "/incidents.get", 200, {"id": incident_id}, get=True)
    return answer["incident"]["stage"]["stage"]["name"]


async def move(client, actor: Actor, incident_id: str, *stages: str) -> None:
    for stage in stages:
        await call(client, actor, "/incidents.update", 200, {"id": incident_id, "stage": stage})


@pytest.mark.parametrize("path", [(), ("acknowledged",), ("fixing",), ("fixing", "mitigated")])
async def test_merge_closes_the_source_as_duplicate_from_any_open_stage(client, admin: Actor, path):
    source = await incident(client, admin, "Checkout errors")
    target = await incident(client, admin, "Payments down")
    await move(client, admin, source["id"], *path)
    merged = await call(
        client, admin, "/incidents.merge", 200, {"source": source["display_id"], "target": target["id"]}
    )
    assert merged["incident"]["id"] == source["id"]
    assert merged["incident"]["stage"]["stage"]["name"] == "duplicate"
    assert merged["incident"]["stage"]["state"]["name"] == "closed"
    assert merged["incident"]["actual_close_date"] == merged["incident"]["modified_date"]
    assert merged["link"]["link_type"] == "is_merged_into"
    assert (merged["link"]["source"]["id"], merged["link"]["target"]["id"]) == (source["id"], target["id"])
    assert merged["link"]["source"]["stage"]["stage"]["name"] == "duplicate"
    assert await stage_of(client, admin, source["id"]) == "duplicate"
    assert await stage_of(client, admin, target["id"]) == "triage"  # the target is untouched
    # The target leads to its merged incidents through its links.
    inbound = await call(client, admin, "/links.list", 200, {"object": target["id"], "link_type": ["is_merged_into"]})
    assert [item["source"]["id"] for item in inbound["links"]] == [source["id"]]


async def test_merge_refusals_say_why_and_change_nothing(client, admin: Actor):
    one, two, three = (
        await incident(client, admin, "one"),
        await incident(client, admin, "two"),
        await incident(client, admin, "three"),
    )
    gone = await incident(client, admin, "gone")
    await call(client, admin, "/incidents.delete", 200, {"id": gone["id"]})
    closed = await incident(client, admin, "closed")
    await move(client, admin, closed["id"], "acknowledged", "resolved")

    async def refused(source: str, target: str, status: int, kind: str, field_name: str | None, words: str) -> None:
        error = await call(client, admin, "/incidents.merge", status, {"source": source, "target": target})
        assert (error["type"], error.get("field_name")) == (kind, field_name), error
        assert words in error["message"], error

    await refused(one["id"], one["display_id"], 400, "invalid_field", "target", "into itself")
    await refused(one["id"], gone["id"], 400, "invalid_id", "target", "deleted")
    await refused(gone["id"], one["id"], 404, "not_found", None, "does not exist")
    await refused(closed["id"], one["id"], 400, "invalid_field", "source", "closed")
    await refused(one["id"], admin.don, 400, "unexpected_id_type", "target", "expected incident")
    await call(client, admin, "/incidents.merge", 200, {"source": two["id"], "target": three["id"]})
    await refused(two["id"], one["id"], 400, "invalid_field", "source", "merged into INC-3 already")
    await refused(one["id"], two["id"], 400, "invalid_field", "target", "merge into INC-3 instead")
    assert await stage_of(client, admin, one["id"]) == "triage"
    assert await stage_of(client, admin, closed["id"]) == "resolved"
    links_of_one = await call(client, admin, "/links.list", 200, {"object": one["id"]})
    assert links_of_one["links"] == []
    for body, kind, field_name in (
        ({"source": one["id"]}, "missing_required_field", "target"),
        ({"source": one["id"], "target": "x" * 300}, "invalid_field", "target"),
    ):
        error = await call(client, admin, "/incidents.merge", 400, body)
        assert (error["type"], error["field_name"]) == (kind, field_name)


async def test_a_merge_link_made_by_hand_follows_the_same_rules(client, admin: Actor):
    one, two, three = (
        await incident(client, admin, "one"),
        await incident(client, admin, "two"),
        await incident(client, admin, "three"),
    )
    made = await link(client, admin, one, "is_merged_into", two)
    body = {"source": one["id"], "link_type": "is_merged_into", "target": three["id"]}
    error = await call(client, admin, "/links.create", 400, body)
    assert (error["type"], error["field_name"]) == ("invalid_field", "source")
    body = {"source": three["id"], "link_type": "is_merged_into", "target": one["id"]}
    error = await call(client, admin, "/links.create", 400, body)
    assert (error["type"], error["field_name"]) == ("invalid_field", "target")
    # Replacing the merge link itself is no second merge.
    body = {"id": made["id"], "source": one["id"], "link_type": "is_merged_into", "target": three["id"]}
    assert (await call(client, admin, "/links.replace", 201, body))["link"]["target"]["id"] == three["id"]
    # A merge link made by hand records the relation only: the stage is the caller's to change.
    assert await stage_of(client, admin, one["id"]) == "triage"


async def test_a_reopened_merged_incident_stays_merged(client, admin: Actor):
    source, target = await incident(client, admin, "a"), await incident(client, admin, "b")
    await call(client, admin, "/incidents.merge", 200, {"source": source["id"], "target": target["id"]})
    # Reopened from duplicate (triage), it is open again but stays merged: a second merge is refused.
    await move(client, admin, source["id"], "triage")
    error = await call(client, admin, "/incidents.merge", 400, {"source": source["id"], "target": target["id"]})
    assert error["field_name"] == "source"


async def test_concurrent_crossed_merges_let_one_win(client, admin: Actor):
    one, two = await incident(client, admin, "one"), await incident(client, admin, "two")
    responses = await asyncio.gather(
        client.post("/incidents.merge", json={"source": one["id"], "target": two["id"]}, headers=admin.headers),
        client.post("/incidents.merge", json={"source": two["id"], "target": one["id"]}, headers=admin.headers),
    )
    assert sorted(r.status_code for r in responses) == [200, 400], [r.text for r in responses]
    stages = {await stage_of(client, admin, one["id"]), await stage_of(client, admin, two["id"])}
    assert stages == {"duplicate", "triage"}


async def test_a_member_may_merge(client, admin: Actor, member: Actor):
    source, target = await incident(client, admin, "a"), await incident(client, admin, "b")
    merged = await call(client, member, "/incidents.merge", 200, {"source": source["id"], "target": target["id"]})
    assert merged["link"]["created_by"]["id"] == member.don
    assert merged["incident"]["modified_by"]["id"] == member.don


async def test_another_orgs_incidents_cannot_be_merged_or_merged_into(app, client, admin: Actor):
    other = await make_org(app, "other")
    theirs = await incident(client, other, "theirs")
    mine = await incident(client, admin, "mine")
    await call(client, admin, "/incidents.merge", 404, {"source": theirs["id"], "target": mine["id"]})
    error = await call(client, admin, "/incidents.merge", 400, {"source": mine["id"], "target": theirs["id"]})
    assert (error["type"], error["field_name"]) == ("invalid_id", "target")
    # Their display id names my org's incident of that number, which does not exist here.
    error = await call(client, admin, "/incidents.merge", 400, {"source": mine["id"], "target": "INC-99"})
    assert error["type"] == "invalid_id"
    assert await stage_of(client, other, theirs["id"]) == "triage"
    assert await stage_of(client, admin, mine["id"]) == "triage"


async def diagram_over(app, actor: Actor, names: list[str], transitions: list[tuple[str, str]]) -> str:
    """A stage diagram over some of the default stages (the first is the start)."""
    async with app.state.db.write() as conn:
        default = await customization.load_diagram(conn, actor.org, "incident", None)
        stage = {info.name: number for number, info in default.stages.items()}
        number = await customization.create_diagram(
            conn,
            actor.org,
            leaf_type="incident",
            subtype=None,
            stage_numbers=[stage[name] for name in names],
            start=stage[names[0]],
            transitions=[(stage[a], stage[b]) for a, b in transitions],
        )
    return actor.org.don("stage_diagram", number)


async def subtype_with(client, actor: Actor, subtype: str, diagram: str) -> None:
    body = {
        "type": "custom_type_fragment",
        "description": f"{subtype} incidents",
        "leaf_type": "incident",
        "fields": [],
        "subtype": subtype,
        "stage_diagram": diagram,
    }
    response = await client.post("/schemas.custom.set", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text


async def test_merge_follows_the_sources_own_stage_diagram(app, client, admin: Actor):
    # security: triage -> fixing -> resolved, no duplicate stage at all.
    await subtype_with(
        client,
        admin,
        "security",
        await diagram_over(app, admin, ["triage", "fixing", "resolved"], [("triage", "fixing")]),
    )
    # vendor: has duplicate, but no transition into it; merging does not need one.
    vendor = await diagram_over(app, admin, ["triage", "fixing", "duplicate"], [("triage", "fixing")])
    await subtype_with(client, admin, "vendor", vendor)
    target = await incident(client, admin, "target")
    security = await incident(client, admin, "breach", custom_schema_spec={"subtype": "security"})
    error = await call(client, admin, "/incidents.merge", 400, {"source": security["id"], "target": target["id"]})
    assert (error["field_name"], "no 'duplicate' stage" in error["message"]) == ("source", True)
    assert await stage_of(client, admin, security["id"]) == "triage"
    outage = await incident(client, admin, "vendor outage", custom_schema_spec={"subtype": "vendor"})
    await move(client, admin, outage["id"], "fixing")
    merged = await call(client, admin, "/incidents.merge", 200, {"source": outage["id"], "target": target["id"]})
    assert merged["incident"]["stage"]["stage"]["name"] == "duplicate"
    assert merged["incident"]["subtype"] == "vendor"
