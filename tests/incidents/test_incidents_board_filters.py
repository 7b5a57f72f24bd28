"""The list and group filters the web board needs, extensions to DevRev's (docs/compatibility.md): `tags` (any of
these tags) and `title_contains` (case-insensitive text in the title, `%` and `_` literal)."""

from __future__ import annotations

from typing import Any

from conftest import Actor, make_org


async def call(client, actor: Actor, operation: str, status: int = 200, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/{operation}", json=body, headers=actor.headers)
    assert answer.status_code == status, answer.text
    return answer.json()


async def titles(client, actor: Actor, **filters: Any) -> list[str]:
    found = await call(client, actor, "incidents.list", sort_by=["title:asc"], **filters)
    return [incident["title"] for incident in found["incidents"]]


async def test_tags_filter_matches_incidents_with_any_of_the_tags(client, admin: Actor):
    red = (await call(client, admin, "tags.create", 201, name="red"))["tag"]["id"]
    blue = (await call(client, admin, "tags.create", 201, name="blue"))["tag"]["id"]
    await call(client, admin, "incidents.create", 201, title="a", tags=[{"tag_id": red}])
    await call(client, admin, "incidents.create", 201, title="b", tags=[{"tag_id": blue}, {"tag_id": red}])
    await call(client, admin, "incidents.create", 201, title="c")
    assert await titles(client, admin, tags=[red]) == ["a", "b"]
    assert await titles(client, admin, tags=[blue]) == ["b"]
    assert await titles(client, admin, tags=["TAG-999"]) == []
    groups = await call(client, admin, "incidents.group", group_by="stage", tags=[blue])
    assert [group["total"] for group in groups["groups"]] == [1]
    bad = await call(client, admin, "incidents.list", 400, tags=["not-a-tag"])
    assert bad["field_name"] == "tags[0]"


async def test_another_orgs_tag_matches_nothing(app, client, admin: Actor):
    other = await make_org(app, "acme")
    theirs = (await call(client, other, "tags.create", 201, name="red"))["tag"]["id"]
    await call(client, other, "incidents.create", 201, title="theirs", tags=[{"tag_id": theirs}])
    await call(client, admin, "incidents.create", 201, title="ours")
    assert await titles(client, admin, tags=[theirs]) == []


async def test_title_contains_is_case_insensitive_and_literal(client, admin: Actor):
    for title in ("Checkout DOWN", "checkout slow", "Search down", "100% CPU", "disk_full", "diskXfull"):
        await call(client, admin, "incidents.create", 201, title=title)
    assert await titles(client, admin, title_contains="checkout") == ["Checkout DOWN", "checkout slow"]
    assert await titles(client, admin, title_contains="Down") == ["Checkout DOWN", "Search down"]
    assert await titles(client, admin, title_contains="%") == ["100% CPU"]
    assert await titles(client, admin, title_contains="k_f") == ["disk_full"]
    for value, message in (("", "title_contains"), ("x" * 257, "title_contains")):
        answer = await call(client, admin, "incidents.list", 400, title_contains=value)
        assert answer["field_name"] == message
    get = await client.get("/incidents.list?title_contains=search", headers=admin.headers)
    assert [incident["title"] for incident in get.json()["incidents"]] == ["Search down"]
