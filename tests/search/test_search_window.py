"""incidents.search ranks a bounded window: the newest INCIDENTD_SEARCH_RANK_WINDOW matches (3 here) in tiers
(every wanted word in the title, then some in the title or tag names, then the rest), newest first within a
tier, then the matches older than the window, newest first; cursors keep the first page's window."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import msgspec
import pytest

from conftest import Actor, make_org
from incidentd.config import Settings
from incidentd.kit import cursors

WINDOW = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"search_rank_window": WINDOW})


async def create(client: httpx.AsyncClient, actor: Actor, title: str, body: str | None = None, **fields: Any) -> str:
    response = await client.post(
        "/incidents.create", json={"title": title, **({"body": body} if body else {}), **fields}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["incident"]["display_id"])


async def search(client: httpx.AsyncClient, actor: Actor, query: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/incidents.search", json={"query": query, **fields}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def found(client: httpx.AsyncClient, actor: Actor, query: str, **fields: Any) -> list[str]:
    return [result["incident"]["display_id"] for result in (await search(client, actor, query, **fields))["results"]]


async def paged(client: httpx.AsyncClient, actor: Actor, query: str, limit: int) -> list[list[str]]:
    """Every page of a search, following the cursors."""
    pages, cursor = [], None
    while True:
        page = await search(client, actor, query, limit=limit, **({"cursor": cursor} if cursor else {}))
        pages.append([result["incident"]["display_id"] for result in page["results"]])
        cursor = page.get("next_cursor")
        if cursor is None:
            return pages


async def test_tiers_rank_all_words_in_the_title_then_some_in_title_or_tags_then_the_rest(client, admin):
    tag = (await client.post("/tags.create", json={"name": "failover"}, headers=admin.headers)).json()["tag"]
    oldest_in_body = await create(client, admin, "Slow pages", "The database failover ran overnight")
    in_title = await create(client, admin, "Database failover drill")
    in_tag = await create(client, admin, "Pager noise", "The database answered late", tags=[{"tag_id": tag["id"]}])
    some_in_title = await create(client, admin, "Database slow", "A failover is pending")
    in_body = await create(client, admin, "Slow pages", "The database failover took ten minutes")
    await create(client, admin, "Unrelated")
    # Five matches, a window of three: the two oldest come after it, whatever their tier.
    expected = [some_in_title, in_tag, in_body, in_title, oldest_in_body]
    assert await found(client, admin, "database failover") == expected
    # Without the newest, the window reaches the match in the title: it ranks first.
    expected = [in_title, some_in_title, in_tag, oldest_in_body]
    assert await found(client, admin, "database failover -ten") == expected
    assert await found(client, admin, "datab fail -ten") == expected
    assert await found(client, admin, '"database failover" -ten') == [in_title, oldest_in_body]


async def test_a_match_older_than_the_window_is_not_returned_ahead_of_newer_ones(client, admin):
    oldest_in_title = await create(client, admin, "Queue backlog in eu-west-1")
    older = await create(client, admin, "Workers stuck", "queue backlog grows")
    newer = [await create(client, admin, f"Workers stuck {index}", "queue backlog grows") for index in range(2)]
    newest_in_title = await create(client, admin, "Queue backlog again")
    window = [newest_in_title, newer[1], newer[0]]
    assert await found(client, admin, "queue backlog") == [*window, older, oldest_in_title]


async def test_cursor_pages_across_the_window_are_consistent_and_complete(client, admin):
    titles = ["Disk full", "Node disk pressure", "Slow", "Disk full again", "Slow", "Slow", "Disk full", "Slow"]
    made = [await create(client, admin, title, "disk full on the node") for title in titles]
    everything = await found(client, admin, "disk full", limit=100)
    window, older = made[-WINDOW:], made[:-WINDOW]
    assert everything == [made[6], made[7], made[5], *reversed(older)]
    assert sorted(everything[:WINDOW]) == sorted(window)
    for limit in (1, 2, 3, 5):
        pages = await paged(client, admin, "disk full", limit)
        assert [number for page in pages for number in page] == everything, limit
        assert all(len(page) == limit for page in pages[:-1])

    # A match created between pages is not ranked into a search already under way: its pages keep their window.
    first = await search(client, admin, "disk full", limit=2)
    newest = await create(client, admin, "Disk full everywhere")
    rest = await search(client, admin, "disk full", limit=100, cursor=first["next_cursor"])
    assert [r["incident"]["display_id"] for r in first["results"] + rest["results"]] == everything
    assert (await found(client, admin, "disk full", limit=1)) == [newest]


async def test_filters_apply_within_the_window_and_after_it(client, admin):
    old_high = await create(client, admin, "Cache eviction storm", severity=1)
    await create(client, admin, "Cache eviction storm", severity=3)
    middle_high = await create(client, admin, "Slow", "cache eviction", severity=1)
    await create(client, admin, "Cache eviction", severity=3)
    new_high = await create(client, admin, "Cache eviction", severity=1)
    assert await found(client, admin, "cache eviction", severity=[1]) == [new_high, middle_high, old_high]


async def test_another_orgs_matches_do_not_take_places_in_the_window(client, app, admin):
    in_title = await create(client, admin, "Certificate expiry")
    in_body = [await create(client, admin, "Login errors", "certificate expiry") for _ in range(2)]
    other = await make_org(app, "other-org")
    for _ in range(5):
        await create(client, other, "Login errors", "certificate expiry")
    assert await found(client, admin, "certificate expiry") == [in_title, in_body[1], in_body[0]]
    assert len(await found(client, other, "certificate expiry")) == 5


async def test_a_forged_or_foreign_cursor_is_400(client, admin):
    for index in range(2):
        await create(client, admin, f"Alert {index}")
    cursor = (await search(client, admin, "alert", limit=1))["next_cursor"]
    _, _, fingerprint = msgspec.msgpack.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for values in (
        ["search", 0, -1, 9, 3, None],
        ["search", 1.5, 1, 9, 3, None],
        ["search", 4, 1, 9, 3, None],
        ["search", 0, 1, 9, 0, None],
        ["search", 0, 1, 9, 1_000_001, None],  # a window larger than any server ranks
        ["search", 0, 1, 9, 3, -1],
        ["search", 0.5, 2],
        ["list", 0, 1, 9, 3, None],
    ):
        forged = cursors.encode(values, "after", fingerprint)
        response = await client.post(
            "/incidents.search", json={"query": "alert", "limit": 1, "cursor": forged}, headers=admin.headers
        )
        assert response.status_code == 400, values
