"""The same corpus and queries on SQLite and PostgreSQL: each database finds exactly the incidents a Python
reading of the query language finds, in the order of the ranking rule (tiers: every wanted part in the title,
some in the title or tag names, the rest; newest first within each), and, when the suite runs on PostgreSQL, a
SQLite database built beside it answers the same lists."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import httpx

from conftest import ON_POSTGRES, Actor, running
from incidentd import db as database
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.search.query import Clause, SearchQuery, parse
from incidentd.search.snippets import fold

WORDS = (
    "payment payments gateway database failover latency checkout deploy deployment rollback certificate expiry "
    "queue backlog dns resolution memory leak replica primary timeout timeouts cache eviction disk pressure"
).split()
REGIONS = ["eu-west-1", "us-east-1", "ap-south-1"]
TAGS = ["networking", "storage", "payments-team"]
QUERIES = [
    "paym",
    "payment gateway",
    '"database failover"',
    "queue -backlog",
    "dep roll",
    "eu-west-1",
    '"west 1"',
    "cert* expiry",
    "memory leak -dns",
    "networking",
    "payments team",
    "time",
    "timeouts",
    '-"disk pressure" cache',
    "zzz",
]


def corpus(rng: random.Random) -> list[dict[str, Any]]:
    incidents = []
    for index in range(40):
        incidents.append(
            {
                "title": " ".join(rng.sample(WORDS, 3)) + f" {index}",
                "body": " ".join(rng.choice(WORDS) for _ in range(10)) + f" in {rng.choice(REGIONS)}.",
                "comments": [" ".join(rng.sample(WORDS, 4)) for _ in range(rng.randint(0, 2))],
                "tags": rng.sample(TAGS, rng.randint(0, 2)),
            }
        )
    return incidents


def _words(text: str) -> list[str]:
    return [fold(word) for word in re.findall(r"[^\W_]+", text)]


def truth(incidents: list[dict[str, Any]], query: SearchQuery) -> list[int]:
    """The indexes of the incidents the query language finds (each field on its own, as the index holds it), in
    rank order (the corpus is created in index order, so a higher index is a newer incident)."""

    def matches(fields: list[list[str]], clause: Clause) -> bool:
        words = clause.words
        for field in fields:
            if len(words) == 1:
                if any(word == words[0] or (clause.prefix and word.startswith(words[0])) for word in field):
                    return True
            elif any(tuple(field[i : i + len(words)]) == words for i in range(len(field))):
                return True
        return False

    found = []
    for index, incident in enumerate(incidents):
        title, tags = _words(incident["title"]), _words(" ".join(incident["tags"]))
        fields = [title, _words(incident["body"]), _words("\n".join(incident["comments"])), tags]
        if all(matches(fields, c) != c.excluded for c in query.clauses):
            if all(matches([title], clause) for clause in query.wanted):
                tier = 0
            elif any(matches([title, tags], clause) for clause in query.wanted):
                tier = 1
            else:
                tier = 2
            found.append((tier, -index, index))
    return [index for _, _, index in sorted(found)]


async def load(client: httpx.AsyncClient, actor: Actor, incidents: list[dict[str, Any]]) -> dict[str, int]:
    """Write the corpus through the API; {display id: corpus index}."""
    tag_ids = {}
    for name in TAGS:
        response = await client.post("/tags.create", json={"name": name}, headers=actor.headers)
        tag_ids[name] = response.json()["tag"]["id"]
    by_display = {}
    for index, incident in enumerate(incidents):
        body = {"title": incident["title"], "body": incident["body"]}
        body["tags"] = [{"tag_id": tag_ids[name]} for name in incident["tags"]]
        response = await client.post("/incidents.create", json=body, headers=actor.headers)
        assert response.status_code == 201, response.text
        created = response.json()["incident"]
        for text in incident["comments"]:
            comment = {"type": "timeline_comment", "object": created["id"], "body": text}
            answer = await client.post("/timeline-entries.create", json=comment, headers=actor.headers)
            assert answer.status_code == 201, answer.text
        by_display[created["display_id"]] = index
    return by_display


async def answers(client: httpx.AsyncClient, actor: Actor, by_display: dict[str, int]) -> dict[str, list[int]]:
    found = {}
    for query in QUERIES:
        response = await client.post("/incidents.search", json={"query": query, "limit": 100}, headers=actor.headers)
        assert response.status_code == 200, response.text
        found[query] = [by_display[result["incident"]["display_id"]] for result in response.json()["results"]]
    return found


async def sqlite_answers(tmp_path: Path, incidents: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The same corpus and queries on a SQLite database built by the migrations, beside the suite's PostgreSQL."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'parity.db'}"
    migrating = database.Database(Settings(database_url=url))
    await database.upgrade(migrating.engine)
    await migrating.dispose()
    settings = Settings(database_url=url, auto_migrate=False, webhook_delivery=False, artifacts_dir=str(tmp_path))
    async with running(create_app(settings)) as app:
        created = await identity.bootstrap(app.state.db, admin_email="admin@incidentd.local")
        assert created is not None
        actor = Actor(created.org, created.admin_number, "dev_user", created.token.secret)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sqlite.test") as client:
            return await answers(client, actor, await load(client, actor, incidents))


async def test_both_databases_find_what_the_query_language_says(client, admin, tmp_path):
    incidents = corpus(random.Random(7))
    found = await answers(client, admin, await load(client, admin, incidents))
    expected = {query: truth(incidents, parse(query)) for query in QUERIES}
    assert found == expected
    assert sum(1 for query in QUERIES if expected[query]) >= len(QUERIES) - 2  # the queries do find things
    assert any(expected[query] != sorted(expected[query], reverse=True) for query in QUERIES)  # tiers reorder
    if ON_POSTGRES:
        assert await sqlite_answers(tmp_path, incidents) == found
