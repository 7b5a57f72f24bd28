"""incidents.get, update and delete."""

from __future__ import annotations

import asyncio

import pytest
from world import build_world, create_incident, upload_artifact

from conftest import Actor, add_principal, make_org, statements_seen
from contract import assert_conforms


async def update(client, actor: Actor, **fields):
    response = await client.post("/incidents.update", json=fields, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/incidents.update", "post", 200, response.json())
    return response.json()["incident"]


async def test_get_by_don_and_display_id_in_both_forms(client, admin: Actor):
    incident = await create_incident(client, admin)
    for response in (
        await client.get("/incidents.get", params={"id": incident["id"]}, headers=admin.headers),
        await client.get("/incidents.get", params={"id": f'"{incident["display_id"]}"'}, headers=admin.headers),
        await client.post("/incidents.get", json={"id": incident["display_id"]}, headers=admin.headers),
    ):
        assert response.status_code == 200
        assert_conforms("/incidents.get", response.request.method, 200, response.json())
        assert response.json()["incident"] == incident


async def test_get_of_unknown_or_foreign_incident_is_404(app, client, admin: Actor):
    other = await make_org(app, "other")
    theirs = await create_incident(client, other)
    for reference in ("INC-999", theirs["id"]):
        response = await client.get("/incidents.get", params={"id": reference}, headers=admin.headers)
        assert response.status_code == 404
        assert_conforms("/incidents.get", "get", 404, response.json())
    mine = await client.get("/incidents.get", params={"id": theirs["display_id"]}, headers=admin.headers)
    assert mine.status_code == 404  # INC-1 of the admin's org does not exist yet
    unknown = await client.get("/incidents.get", params={"id": "INC-1", "extra": "1"}, headers=admin.headers)
    assert unknown.status_code == 400 and unknown.json()["field_name"] == "extra"


async def test_scalars_replace_and_null_clears(client, admin: Actor):
    incident = await create_incident(
        client, admin, body="first", severity=1, reported_by=2, target_close_date="2026-12-01T00:00:00Z"
    )
    changed = await update(
        client, admin, id=incident["id"], title="Renamed", body=None, severity="sev2", target_close_date=None
    )
    assert changed["title"] == "Renamed"
    assert "body" not in changed and "target_close_date" not in changed
    assert changed["severity"]["id"] == 3
    assert changed["reported_by"]["id"] == 2  # absent: unchanged
    cleared = await update(client, admin, id=incident["id"], severity=None, reported_by=None)
    assert "severity" not in cleared and "reported_by" not in cleared
    refused = await client.post("/incidents.update", json={"id": incident["id"], "title": None}, headers=admin.headers)
    assert refused.status_code == 400 and refused.json()["field_name"] == "title"


async def test_every_update_moves_modified_by_and_date(app, client, admin: Actor):
    incident = await create_incident(client, admin)
    colleague = await add_principal(app, admin, email="colleague@example.com")
    await asyncio.sleep(0.01)
    same = await update(client, colleague, id=incident["id"])
    assert same["modified_by"]["id"] == colleague.don
    assert same["modified_date"] > incident["modified_date"]
    assert same["created_by"]["id"] == admin.don
    assert same["title"] == incident["title"]


async def test_collections_take_set(client, admin: Actor):
    world = await build_world(client, admin)
    incident = await create_incident(
        client,
        admin,
        owned_by=[world.users[1]["id"]],
        applies_to_parts=[world.parts[0]["id"]],
        pia=[world.articles[0]["id"]],
        tags=[{"tag_id": world.tags[0]["id"], "value": "a"}],
        impact={"count": 1, "customer_ids": [world.accounts[0]["id"]]},
    )
    changed = await update(
        client,
        admin,
        id=incident["id"],
        owned_by={"set": [world.users[2]["id"], world.users[3]["id"]]},
        applies_to_parts={"set": []},
        playbooks={"set": [world.articles[1]["id"]]},
        tags={"set": [{"tag_id": world.tags[2]["id"]}, {"tag_id": world.tags[1]["id"], "value": "b"}]},
        impact={"customer_ids": {"set": [world.accounts[2]["id"]]}},
    )
    assert [u["id"] for u in changed["owned_by"]] == [world.users[2]["id"], world.users[3]["id"]]
    assert "applies_to_parts" not in changed
    assert [a["id"] for a in changed["pia"]] == [world.articles[0]["id"]]  # untouched
    assert [a["id"] for a in changed["playbooks"]] == [world.articles[1]["id"]]
    assert [(t["tag"]["id"], t.get("value")) for t in changed["tags"]] == [
        (world.tags[2]["id"], None),
        (world.tags[1]["id"], "b"),
    ]
    assert changed["impact"]["count"]["id"] == 1
    assert [a["id"] for a in changed["impact"]["customer_ids"]] == [world.accounts[2]["id"]]
    # The answer is assembled from what the update wrote and resolved; a read afterwards sees exactly that.
    assert await fetched(client, admin, incident["id"]) == changed
    empty = await update(client, admin, id=incident["id"], owned_by={"set": []}, tags={"set": []}, pia={})
    assert "owned_by" not in empty and "tags" not in empty
    assert [a["id"] for a in empty["pia"]] == [world.articles[0]["id"]]
    assert await fetched(client, admin, incident["id"]) == empty
    bad = await client.post(
        "/incidents.update", json={"id": incident["id"], "owned_by": {"set": ["DEVU-404"]}}, headers=admin.headers
    )
    assert (bad.json()["type"], bad.json()["field_name"]) == ("invalid_id", "owned_by.set[0]")


async def fetched(client, admin: Actor, reference: str) -> dict:
    response = await client.get("/incidents.get", params={"id": reference}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["incident"]


async def test_artifacts_set_frees_removed_ones(client, admin: Actor):
    first = await upload_artifact(client, admin, "a.txt", b"a")
    second = await upload_artifact(client, admin, "b.txt", b"b")
    incident = await create_incident(client, admin, artifacts=[first])
    moved = await update(client, admin, id=incident["id"], artifacts={"set": [second]})
    assert [a["id"] for a in moved["artifacts"]] == [second]
    assert await fetched(client, admin, incident["id"]) == moved
    retitled = await update(client, admin, id=incident["id"], title="artifacts kept")
    assert [a["id"] for a in retitled["artifacts"]] == [second]
    assert await fetched(client, admin, incident["id"]) == retitled
    other = await create_incident(client, admin, artifacts=[first])  # freed, so it may attach elsewhere
    assert other["artifacts"][0]["id"] == first
    again = await update(client, admin, id=incident["id"], artifacts={"set": [second]})
    assert [a["id"] for a in again["artifacts"]] == [second]  # attached to itself already: fine
    taken = await client.post(
        "/incidents.update", json={"id": incident["id"], "artifacts": {"set": [first]}}, headers=admin.headers
    )
    assert taken.status_code == 400
    assert taken.json()["type"] == "artifact_already_attached_to_a_parent"
    assert taken.json()["existing_parent"] == other["id"]


ALLOWED = {
    "triage": {"acknowledged", "fixing", "canceled", "duplicate"},
    "acknowledged": {"fixing", "mitigated", "resolved", "canceled", "duplicate"},
    "fixing": {"mitigated", "resolved", "canceled"},
    "mitigated": {"fixing", "resolved"},
    "resolved": {"fixing"},
    "canceled": {"triage"},
    "duplicate": {"triage"},
}


@pytest.mark.parametrize("source", sorted(ALLOWED))
async def test_every_transition_is_allowed_or_refused_as_the_diagram_says(client, admin: Actor, source):
    for target in sorted(ALLOWED):
        incident = await create_incident(client, admin, stage=source, stage_validation_options=["allow_non_start"])
        response = await client.post(
            "/incidents.update", json={"id": incident["id"], "stage": {"stage": target}}, headers=admin.headers
        )
        if target == source or target in ALLOWED[source]:
            assert response.status_code == 200, (source, target, response.text)
            assert response.json()["incident"]["stage"]["stage"]["name"] == target
        else:
            assert response.status_code == 400, (source, target)
            assert response.json()["type"] == "invalid_field"
            assert response.json()["field_name"] == "stage.stage"
            for allowed in ALLOWED[source]:
                assert f"'{allowed}'" in response.json()["message"]
            forced = await update(
                client,
                admin,
                id=incident["id"],
                stage={"stage": target},
                stage_validation_options=["allow_invalid_transition"],
            )
            assert forced["stage"]["stage"]["name"] == target


async def test_moves_stamp_dates(client, admin: Actor):
    incident = await create_incident(client, admin)
    acknowledged = await update(client, admin, id=incident["id"], stage={"stage": "acknowledged"})
    assert acknowledged["acknowledged_date"] == acknowledged["modified_date"]
    mitigated = await update(client, admin, id=incident["id"], stage="mitigated")
    assert mitigated["mitigated_date"] == mitigated["modified_date"]
    assert mitigated["acknowledged_date"] == acknowledged["acknowledged_date"]
    resolved = await update(client, admin, id=incident["id"], stage="resolved")
    assert resolved["actual_close_date"] == resolved["modified_date"]
    assert resolved["stage"]["state"]["is_final"] is True
    reopened = await update(client, admin, id=incident["id"], stage="fixing")
    assert "actual_close_date" not in reopened
    assert reopened["mitigated_date"] == mitigated["mitigated_date"]  # already set: kept
    explicit = await update(
        client, admin, id=incident["id"], stage="resolved", acknowledged_date="2026-01-01T00:00:00Z"
    )
    assert explicit["acknowledged_date"] == "2026-01-01T00:00:00.000Z"


async def test_concurrent_updates_of_different_fields_both_land(client, admin: Actor):
    world = await build_world(client, admin, size=2)
    incident = await create_incident(client, admin)
    for round_number in range(5):
        results = await asyncio.gather(
            client.post(
                "/incidents.update",
                json={"id": incident["id"], "body": f"round {round_number}"},
                headers=admin.headers,
            ),
            client.post(
                "/incidents.update",
                json={"id": incident["id"], "owned_by": {"set": [world.users[round_number % 2 + 1]["id"]]}},
                headers=admin.headers,
            ),
            client.post(
                "/incidents.update",
                json={"id": incident["id"], "severity": round_number % 4 + 1},
                headers=admin.headers,
            ),
        )
        assert [r.status_code for r in results] == [200, 200, 200]
        final = (await client.get("/incidents.get", params={"id": incident["id"]}, headers=admin.headers)).json()
        assert final["incident"]["body"] == f"round {round_number}"
        assert final["incident"]["owned_by"][0]["id"] == world.users[round_number % 2 + 1]["id"]
        assert final["incident"]["severity"]["id"] == round_number % 4 + 1


async def test_update_of_unknown_incident_is_404(client, admin: Actor):
    response = await client.post("/incidents.update", json={"id": "INC-77", "title": "x"}, headers=admin.headers)
    assert response.status_code == 404
    assert_conforms("/incidents.update", "post", 404, response.json())


async def test_update_source_needs_a_system_principal(app, client, admin: Actor):
    incident = await create_incident(client, admin)
    refused = await client.post("/incidents.update", json={"id": incident["id"], "source": 1}, headers=admin.headers)
    assert refused.status_code == 403
    robot = await add_principal(app, admin, user_type="service_account")
    assert (await update(client, robot, id=incident["id"], source=1))["source"]["id"] == 1


async def test_delete_makes_every_read_404_and_frees_artifacts(client, admin: Actor):
    artifact = await upload_artifact(client, admin, "a.txt", b"a")
    incident = await create_incident(client, admin, artifacts=[artifact], severity=1)
    deleted = await client.post("/incidents.delete", json={"id": incident["display_id"]}, headers=admin.headers)
    assert deleted.status_code == 200 and deleted.json() == {}
    assert_conforms("/incidents.delete", "post", 200, deleted.json())
    for response in (
        await client.get("/incidents.get", params={"id": incident["id"]}, headers=admin.headers),
        await client.post("/incidents.update", json={"id": incident["id"], "title": "x"}, headers=admin.headers),
        await client.post("/incidents.delete", json={"id": incident["id"]}, headers=admin.headers),
    ):
        assert response.status_code == 404
    listed = await client.post("/incidents.list", json={}, headers=admin.headers)
    assert listed.json()["incidents"] == []
    grouped = await client.post("/incidents.group", json={"group_by": "severity"}, headers=admin.headers)
    assert grouped.json()["groups"] == []
    reused = await create_incident(client, admin, artifacts=[artifact])
    assert reused["artifacts"][0]["id"] == artifact
    assert reused["display_id"] == "INC-2"  # numbers are never reused


async def test_an_update_reads_its_links_and_each_summary_kind_once_with_its_event(app, client, admin: Actor):
    """The event's old incident and the answer share one read of the stored links and attachments, and the
    summaries the old incident fetched are not fetched again for the answer."""
    world = await build_world(client, admin, size=2)
    references = {
        "owned_by": [user["id"] for user in world.users[:2]],
        "tags": [{"tag_id": tag["id"]} for tag in world.tags[:2]],
        "applies_to_parts": [part["id"] for part in world.parts[:2]],
        "playbooks": [article["id"] for article in world.articles[:2]],
        "impact": {"customer_ids": [account["id"] for account in world.accounts[:2]]},
    }
    incident = await create_incident(client, admin, **references)
    with statements_seen(app) as seen:
        response = await client.post(
            "/incidents.update", json={"id": incident["id"], "title": "renamed"}, headers=admin.headers
        )
    statements = [s for s in seen if "auth_tokens" not in s and "idempotency" not in s]
    assert response.status_code == 200, response.text
    answer = response.json()["incident"]
    assert answer["title"] == "renamed" and len(answer["tags"]) == 2 and len(answer["applies_to_parts"]) == 2
    assert any("INSERT INTO webhook_events" in s for s in statements)  # the event (and its old incident) was made
    link_reads = [s for s in statements if "UNION ALL" in s and "incident_owners" in s]
    assert len(link_reads) == 1, link_reads
    for table in ("tags", "parts", "articles", "accounts"):
        reads = [s for s in statements if s.lstrip().startswith("SELECT") and f"FROM {table} " in s + " "]
        assert len(reads) <= 1, (table, reads)
