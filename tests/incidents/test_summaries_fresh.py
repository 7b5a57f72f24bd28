"""No read shows a stale summary once the write that changed it was acknowledged: rename a tag, a part, an
article (a playbook) and an account (an impacted customer), and every way of reading an incident (get, list,
group, search, export) shows the new names at once.

How it is guaranteed: reads answer an incident's stored document only while it is current under the org's
summaries version, which every rename raises in its own transaction (`incidents.documents`); a stale document is
rendered again from the summaries' own tables, and the rename commits before its answer is sent. Users and stages
have no rename operation (DevRev's beta has no dev-users.update; stages are fixed), so nothing of theirs can go
stale.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from world import build_world, ok

from conftest import Actor

Body = dict[str, Any]


async def read_every_way(client: httpx.AsyncClient, admin: Actor, incident_id: str) -> list[Body]:
    """The incident as each read operation renders it."""
    headers = admin.headers
    got = (await ok(await client.get("/incidents.get", params={"id": incident_id}, headers=headers)))["incident"]
    listed = (await ok(await client.post("/incidents.list", json={}, headers=headers)))["incidents"]
    grouped = (await ok(await client.post("/incidents.group", json={"group_by": "stage"}, headers=headers)))["groups"]
    searched = (await ok(await client.post("/incidents.search", json={"query": "freshness"}, headers=headers)))[
        "results"
    ]
    export = await client.post("/incidents.export", json={"format": "ndjson"}, headers=headers)
    assert export.status_code == 200, export.text
    exported = [json.loads(line) for line in export.text.splitlines() if line]
    found = [got]
    found += [i for i in listed if i["id"] == incident_id]
    found += [i for group in grouped for i in group["incidents"] if i["id"] == incident_id]
    found += [r["incident"] for r in searched if r["incident"]["id"] == incident_id]
    found += [line.get("incident", line) for line in exported if line.get("incident", line).get("id") == incident_id]
    assert len(found) == 5, [f.get("id") for f in found]  # one from each way of reading
    return found


async def test_a_renamed_tag_part_playbook_and_customer_show_at_once_in_every_read(client, admin: Actor):
    world = await build_world(client, admin, size=1)
    tag, part, article, account = world.tags[0], world.parts[0], world.articles[0], world.accounts[0]
    created = await client.post(
        "/incidents.create",
        json={
            "title": "freshness check",
            "tags": [{"tag_id": tag["id"]}],
            "applies_to_parts": [part["id"]],
            "playbooks": [article["id"]],
            "impact": {"customer_ids": [account["id"]]},
        },
        headers=admin.headers,
    )
    incident_id = (await ok(created, 201))["incident"]["id"]

    renames = [
        ("/tags.update", {"id": tag["id"], "name": "renamed-area"}),
        ("/parts.update", {"id": part["id"], "type": "product", "name": "Renamed Product"}),
        ("/articles.update", {"id": article["id"], "title": "Renamed Runbook"}),
        ("/accounts.update", {"id": account["id"], "display_name": "Renamed Customer"}),
    ]
    for path, body in renames:
        await ok(await client.post(path, json=body, headers=admin.headers))
        for shown in await read_every_way(client, admin, incident_id):
            rendered = json.dumps(shown)
            for _, earlier in renames[: renames.index((path, body)) + 1]:
                new_name = earlier.get("name") or earlier.get("title") or earlier.get("display_name")
                assert new_name in rendered, (path, new_name)
    for shown in await read_every_way(client, admin, incident_id):
        rendered = json.dumps(shown)
        for old in (tag["name"], part["name"], article["title"], account["display_name"]):
            assert f'"{old}"' not in rendered, old
