"""incidents.search over HTTP: matching (words as prefixes, phrases, exclusions), ranking, snippets, the list
filters, cursor paging, the index following every write (incidents, comments, tags) in its transaction, errors in
DevRev's shape, and isolation between orgs."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Actor, make_org


async def create(client: httpx.AsyncClient, actor: Actor, title: str, body: str | None = None, **fields: Any) -> dict:
    response = await client.post(
        "/incidents.create", json={"title": title, **({"body": body} if body else {}), **fields}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["incident"]


async def search(client: httpx.AsyncClient, actor: Actor, query: str, **fields: Any) -> dict:
    response = await client.post("/incidents.search", json={"query": query, **fields}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def found(client: httpx.AsyncClient, actor: Actor, query: str, **fields: Any) -> list[str]:
    return [result["incident"]["display_id"] for result in (await search(client, actor, query, **fields))["results"]]


async def test_words_are_prefixes_phrases_are_exact_and_minus_excludes(client, admin):
    payment = await create(client, admin, "Payment gateway timeouts", "Checkout calls to the payment provider time out")
    refunds = await create(client, admin, "Refunds delayed", "The payment queue is backed up in eu-west-1")
    await create(client, admin, "Login errors", "Users cannot sign in")
    assert sorted(await found(client, admin, "paym")) == sorted([payment["display_id"], refunds["display_id"]])
    assert await found(client, admin, "paym* gateway") == [payment["display_id"]]
    assert await found(client, admin, '"payment gateway"') == [payment["display_id"]]
    assert await found(client, admin, '"gateway payment"') == []
    assert await found(client, admin, "payment -gateway") == [refunds["display_id"]]
    assert await found(client, admin, "eu-west-1") == [refunds["display_id"]]
    assert await found(client, admin, "PAYMENT Gateway") == [payment["display_id"]]


async def test_title_matches_rank_before_body_matches_and_snippets_mark_the_words(client, admin):
    in_body = await create(client, admin, "Slow pages", "The database failover took ten minutes")
    in_title = await create(client, admin, "Database failover in us-east-1", "Replica promoted")
    answer = await search(client, admin, "database failover")
    assert [r["incident"]["display_id"] for r in answer["results"]] == [in_title["display_id"], in_body["display_id"]]
    assert answer["results"][1]["snippet"] == "The <mark>database</mark> <mark>failover</mark> took ten minutes"
    assert "<mark>Database</mark> <mark>failover</mark>" in answer["results"][0]["snippet"]
    assert (
        answer["results"][0]["incident"]
        == (await client.get("/incidents.get", params={"id": in_title["id"]}, headers=admin.headers)).json()["incident"]
    )


async def test_snippets_escape_the_text_around_the_marks(client, admin):
    await create(client, admin, "XSS attempt", 'payload <script>alert("x")</script> & more')
    [result] = (await search(client, admin, "payload"))["results"]
    assert result["snippet"] == "<mark>payload</mark> &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more"


async def test_list_filters_narrow_the_search(client, admin):
    high = await create(client, admin, "Disk full on db-1", severity=1)
    await create(client, admin, "Disk full on db-2", severity=4)
    assert await found(client, admin, "disk", severity=[1]) == [high["display_id"]]
    response = await client.get("/incidents.search", params={"query": "disk", "severity": "1"}, headers=admin.headers)
    assert response.status_code == 200
    assert [r["incident"]["display_id"] for r in response.json()["results"]] == [high["display_id"]]


async def test_cursor_pages_cover_every_match_once_in_rank_order(client, admin):
    for index in range(7):
        await create(client, admin, f"Queue backlog {index}", "backlog " * (index % 3 + 1))
    everything = await found(client, admin, "backlog", limit=100)
    assert len(everything) == 7
    seen: list[str] = []
    cursor = None
    while True:
        page = await search(client, admin, "backlog", limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [result["incident"]["display_id"] for result in page["results"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert seen == everything
    other = await client.post(
        "/incidents.search",
        json={"query": "queue", "cursor": page_cursor(await search(client, admin, "backlog", limit=1))},
        headers=admin.headers,
    )
    assert other.status_code == 400


def page_cursor(page: dict) -> str:
    assert page.get("next_cursor")
    return page["next_cursor"]


async def test_the_index_follows_updates_deletes_comments_and_tags(client, admin):
    incident = await create(client, admin, "Mystery outage")
    assert await found(client, admin, "kraken") == []
    await client.post(
        "/incidents.update", json={"id": incident["id"], "body": "The kraken ate the cable"}, headers=admin.headers
    )
    assert await found(client, admin, "kraken") == [incident["display_id"]]

    comment = await client.post(
        "/timeline-entries.create",
        json={"type": "timeline_comment", "object": incident["id"], "body": "Leviathan sighted near the router"},
        headers=admin.headers,
    )
    assert comment.status_code == 201
    entry = comment.json()["timeline_entry"]
    answer = await search(client, admin, "leviathan")
    assert answer["results"][0]["snippet"] == "<mark>Leviathan</mark> sighted near the router"
    await client.post(
        "/timeline-entries.update", json={"id": entry["id"], "body": "Squid sighted"}, headers=admin.headers
    )
    assert await found(client, admin, "leviathan") == []
    assert await found(client, admin, "squid") == [incident["display_id"]]
    await client.post("/timeline-entries.delete", json={"id": entry["id"]}, headers=admin.headers)
    assert await found(client, admin, "squid") == []

    private = await client.post(
        "/timeline-entries.create",
        json={"type": "timeline_comment", "object": incident["id"], "body": "secretword", "visibility": "private"},
        headers=admin.headers,
    )
    assert private.status_code == 201
    assert await found(client, admin, "secretword") == []  # private comments are not indexed

    tag = (await client.post("/tags.create", json={"name": "networking"}, headers=admin.headers)).json()["tag"]
    tagged = await client.post(
        "/incidents.update",
        json={"id": incident["id"], "tags": {"set": [{"tag_id": tag["id"]}]}},
        headers=admin.headers,
    )
    assert tagged.status_code == 200, tagged.text
    assert await found(client, admin, "networking") == [incident["display_id"]]
    renamed = await client.post("/tags.update", json={"id": tag["id"], "name": "cabling"}, headers=admin.headers)
    assert renamed.status_code == 200, renamed.text
    assert await found(client, admin, "networking") == []
    assert await found(client, admin, "cabling") == [incident["display_id"]]
    await client.post("/tags.delete", json={"id": tag["id"]}, headers=admin.headers)
    assert await found(client, admin, "cabling") == []

    await client.post("/incidents.delete", json={"id": incident["id"]}, headers=admin.headers)
    assert await found(client, admin, "kraken") == []


async def test_a_rejected_write_leaves_the_index_as_it_was(client, admin):
    incident = await create(client, admin, "Stable title")
    response = await client.post(
        "/incidents.update",
        json={
            "id": incident["id"],
            "title": "Changed title",
            "owned_by": {"set": ["don:identity:dvrv-us-1:devo/1:devu/999"]},
        },
        headers=admin.headers,
    )
    assert response.status_code == 400
    assert await found(client, admin, "changed") == []
    assert await found(client, admin, "stable") == [incident["display_id"]]


async def test_bad_queries_are_400_naming_query(client, admin):
    for query in ["", "   ", "-only -excluded", "!!!", "x" * 513, " ".join(f"w{i}" for i in range(40))]:
        response = await client.post("/incidents.search", json={"query": query}, headers=admin.headers)
        assert response.status_code == 400, (query, response.text)
        assert response.json()["type"] == "invalid_field"
        assert response.json().get("field_name") == "query", response.json()
    missing = await client.post("/incidents.search", json={}, headers=admin.headers)
    assert missing.status_code == 400


async def test_another_orgs_incidents_never_appear_and_members_may_search(client, app, admin, member):
    mine = await create(client, admin, "Shared word zebra")
    other = await make_org(app, "other-org")
    theirs = await create(client, other, "Shared word zebra too")
    assert await found(client, admin, "zebra") == [mine["display_id"]]
    assert await found(client, member, "zebra") == [mine["display_id"]]
    assert [r["incident"]["id"] for r in (await search(client, other, "zebra"))["results"]] == [theirs["id"]]
