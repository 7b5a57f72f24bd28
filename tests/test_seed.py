"""`incidentd seed`: realistic incidents that the API reads like any others."""

from __future__ import annotations

from conftest import Actor
from contract import assert_conforms
from incidentd.seed.service import seed


async def test_seeded_incidents_are_complete_consistent_and_searchable(app, client, admin: Actor):
    added = await seed(app.state.db, count=300, org_slug=admin.org.slug, batch=128, rng_seed=3)
    assert added == 300
    page = await client.post("/incidents.list", json={"limit": 100}, headers=admin.headers)
    assert page.status_code == 200
    assert_conforms("/incidents.list", "post", 200, page.json())
    incidents = page.json()["incidents"]
    assert len(incidents) == 100 and "next_cursor" in page.json()
    assert {i["severity"]["id"] for i in incidents if "severity" in i} == {1, 2, 3, 4}
    assert len({i["stage"]["stage"]["name"] for i in incidents}) >= 4
    for incident in incidents:
        assert incident["owned_by"] and incident["applies_to_parts"]
        assert incident["custom_fields"]["tnt__service"] in incident["title"]
        closed = incident["stage"]["state"]["is_final"]
        assert ("actual_close_date" in incident) == closed
        if "acknowledged_date" in incident:
            assert incident["acknowledged_date"] >= incident["created_date"]
    region = incidents[0]["custom_fields"]["tnt__region"]
    filtered = await client.post(
        "/incidents.list", json={"limit": 100, "custom_fields": {"tnt__region": region}}, headers=admin.headers
    )
    assert filtered.status_code == 200, filtered.text
    assert filtered.json()["incidents"]
    assert all(i["custom_fields"]["tnt__region"] == region for i in filtered.json()["incidents"])
    grouped = await client.post("/incidents.group", json={"group_by": "severity"}, headers=admin.headers)
    assert sum(group["total"] for group in grouped.json()["groups"]) == 300
