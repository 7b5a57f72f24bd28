from __future__ import annotations

from conftest import Actor, make_org
from contract import assert_conforms
from incidentd.customization import service as stage_diagrams


async def test_every_org_gets_the_default_incident_stages_and_states(client, admin: Actor):
    stages = await client.get("/stages.custom.list", headers=admin.headers)
    assert stages.status_code == 200
    assert_conforms("/stages.custom.list", "get", 200, stages.json())
    listed = [(s["name"], s["state"]["name"], s["ordinal"]) for s in stages.json()["result"]]
    assert listed == [
        ("triage", "open", 1),
        ("acknowledged", "open", 2),
        ("fixing", "in_progress", 3),
        ("mitigated", "in_progress", 4),
        ("resolved", "closed", 5),
        ("canceled", "closed", 6),
        ("duplicate", "closed", 7),
    ]
    assert "cursor" not in stages.json()
    states = await client.post("/states.custom.list", json={}, headers=admin.headers)
    assert_conforms("/states.custom.list", "post", 200, states.json())
    assert [(s["name"], s["is_final"]) for s in states.json()["result"]] == [
        ("open", False),
        ("in_progress", False),
        ("closed", True),
    ]


async def test_get_stage_and_state_by_don_and_display_id(client, admin: Actor):
    listed = (await client.get("/stages.custom.list", headers=admin.headers)).json()["result"]
    resolved = next(stage for stage in listed if stage["name"] == "resolved")
    by_don = await client.post("/stages.custom.get", json={"id": resolved["id"]}, headers=admin.headers)
    by_display = await client.get("/stages.custom.get", params={"id": resolved["display_id"]}, headers=admin.headers)
    assert by_don.status_code == by_display.status_code == 200
    assert by_don.json() == by_display.json() == {"custom_stage": resolved}
    assert_conforms("/stages.custom.get", "post", 200, by_don.json())
    state = await client.get("/states.custom.get", params={"id": resolved["state"]["id"]}, headers=admin.headers)
    assert_conforms("/states.custom.get", "get", 200, state.json())
    assert state.json()["custom_state"]["is_final"] is True


async def test_filters_and_paging(client, admin: Actor):
    by_name = await client.get("/stages.custom.list", params={"name": "Fixing,mitigated"}, headers=admin.headers)
    assert [s["name"] for s in by_name.json()["result"]] == ["fixing", "mitigated"]
    finals = await client.post("/states.custom.list", json={"is_final": True}, headers=admin.headers)
    assert [s["name"] for s in finals.json()["result"]] == ["closed"]
    seen, cursor = [], None
    while True:
        body = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.post("/stages.custom.list", json=body, headers=admin.headers)).json()
        seen += [s["name"] for s in page["result"]]
        cursor = page.get("cursor")
        if not cursor:
            break
    assert len(seen) == 7 == len(set(seen))


async def test_stages_of_another_org_are_invisible(app, client, admin: Actor):
    other = await make_org(app, "other")
    theirs = (await client.get("/stages.custom.list", headers=other.headers)).json()["result"][0]
    response = await client.get("/stages.custom.get", params={"id": theirs["id"]}, headers=admin.headers)
    assert response.status_code == 404
    assert_conforms("/stages.custom.get", "get", 404, response.json())
    wrong = await client.get("/stages.custom.get", params={"id": "TAG-1"}, headers=admin.headers)
    assert wrong.status_code == 400 and wrong.json()["type"] == "unexpected_id_type"


async def test_the_default_diagram_holds_the_contract_transitions(app, admin: Actor):
    async with app.state.db.read() as conn:
        diagram = await stage_diagrams.load_diagram(conn, admin.org, "incident", None)
    names = {number: stage.name for number, stage in diagram.stages.items()}
    moves = {names[a]: sorted(names[b] for b in targets) for a, targets in diagram.transitions.items()}
    assert names[diagram.start] == "triage"
    assert moves == {name: sorted(targets) for name, targets in stage_diagrams.DEFAULT_TRANSITIONS.items()}
    assert diagram.by_name("RESOLVED").is_final
    assert not diagram.by_name("fixing").is_final
