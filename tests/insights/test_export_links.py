"""incidents.export with include: ["links"] puts each link on exactly one line (its first incident end's), and
incidentd import writes them again in another org: ends remapped (incidents through the import map, parts,
articles and accounts by name), links to an incident further down the file written once it is in, a link whose
end has no counterpart dropped and counted, nothing written twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from corpus import ok
from typer.testing import CliRunner

from conftest import Actor, make_org
from incidentd.cli import app as cli
from incidentd.config import get_settings
from incidentd.imports import ndjson
from incidentd.incidents import exporting


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", database_url)
    yield CliRunner()
    get_settings.cache_clear()


async def _linked_incidents(client: Any, admin: Actor) -> dict[str, str]:
    """Three incidents (older to newer: A, B, C) and five links among them, a part and an article."""
    headers = admin.headers

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await ok(await client.post(path, json=body, headers=headers), 201)

    ids = {name: (await post("/incidents.create", {"title": name}))["incident"]["id"] for name in "ABC"}
    ids["part"] = (await post("/parts.create", {"type": "product", "name": "Payments", "owned_by": [admin.don]}))[
        "part"
    ]["id"]
    ids["article"] = (await post("/articles.create", {"title": "Review", "owned_by": [admin.don], "resource": {}}))[
        "article"
    ]["id"]
    for link_type, source, target in (
        ("is_related_to", "A", "B"),
        ("is_parent_of", "A", "C"),  # its target comes later in an export
        ("is_duplicate_of", "C", "A"),
        ("is_follow_up_of", "article", "B"),  # not an incident at the source: on B's line
        ("is_related_to", "B", "part"),
    ):
        await post("/links.create", {"link_type": link_type, "source": ids[source], "target": ids[target]})
    return ids


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _name(end: dict[str, Any]) -> str:
    return end.get("title") or end.get("name") or end["display_id"]


def _links(lines: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, str]]]:
    """{incident title: [(link type, source, target) by title or name]} of an export's lines."""
    return {
        line["incident"]["title"]: [
            (link["link_type"], _name(link["source"]), _name(link["target"])) for link in line["links"]
        ]
        for line in lines
    }


async def test_each_link_is_exported_once_on_its_first_incident_ends_line(client, app, admin: Actor):
    ids = await _linked_incidents(client, admin)
    response = await client.post("/incidents.export", json={"include": ["links"]}, headers=admin.headers)
    assert response.status_code == 200
    lines = _lines(response.text)
    assert all(set(line) == {"incident", "links"} for line in lines)
    assert _links(lines) == {
        "A": [("is_related_to", "A", "B"), ("is_parent_of", "A", "C")],
        "B": [("is_follow_up_of", "Review", "B"), ("is_related_to", "B", "Payments")],
        "C": [("is_duplicate_of", "C", "A")],
    }
    # A link is rendered as links.get renders it.
    first = lines[0]["links"][0]
    got = await ok(await client.post("/links.get", json={"id": first["id"]}, headers=admin.headers))
    assert got["link"] == first
    # Timeline and links together; each without the other's key.
    both = _lines((await client.get("/incidents.export?include=links&include=timeline", headers=admin.headers)).text)
    assert all(set(line) == {"incident", "timeline", "links"} for line in both)
    assert _links(both) == _links(lines)
    assert ids["A"] == lines[0]["incident"]["id"]


async def test_links_are_cut_at_the_limit_ndjson_only_and_never_another_orgs(client, app, admin: Actor, monkeypatch):
    await _linked_incidents(client, admin)
    monkeypatch.setattr(exporting, "LINKS_LIMIT", 1)
    lines = _lines((await client.post("/incidents.export", json={"include": ["links"]}, headers=admin.headers)).text)
    assert [(len(line["links"]), line.get("links_truncated", False)) for line in lines] == [
        (1, True),
        (1, True),
        (1, False),
    ]
    refused = await client.post(
        "/incidents.export", json={"format": "csv", "include": ["links"]}, headers=admin.headers
    )
    assert refused.status_code == 400 and refused.json()["field_name"] == "include"
    other = await make_org(app, "other")
    assert (await client.post("/incidents.export", json={"include": ["links"]}, headers=other.headers)).text == ""


async def test_links_import_into_another_org_once(client, app, admin: Actor, runner, tmp_path: Path, monkeypatch):
    await _linked_incidents(client, admin)
    url = app.state.db.settings.database_url
    exported = tmp_path / "linked.ndjson"
    arguments = ["export", str(exported), "--org", "default", "--include", "links", "--database-url", url]
    result = await asyncio.to_thread(runner.invoke, cli, arguments)
    assert result.exit_code == 0, result.output
    source_lines = _lines(exported.read_text())
    # One incident per transaction: A's link to C waits until C is in.
    monkeypatch.setattr(ndjson, "BATCH", 1)

    other = await make_org(app, "other")
    into = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "other", "--database-url", url]
    )
    assert into.exit_code == 0, into.output
    # The article "Review" does not exist in the other org (articles are never created by an import).
    assert "3 created" in into.stdout and "4 links (1 dropped)" in into.stdout
    theirs = _lines((await client.post("/incidents.export", json={"include": ["links"]}, headers=other.headers)).text)
    expected = _links(source_lines)
    expected["B"] = [link for link in expected["B"] if link[1] != "Review"]
    assert _links(theirs) == expected
    for line in theirs:
        for link in line["links"]:
            assert link["id"].startswith("don:core:dvrv-us-1:devo/other:link/")
            assert link["created_by"]["email"] == source_lines[0]["links"][0]["created_by"]["email"]
    # The imported link keeps its date; no `linked` change events are written for it (the timeline is the source's).
    assert theirs[0]["links"][0]["created_date"] == source_lines[0]["links"][0]["created_date"]
    timeline = await ok(
        await client.post("/timeline-entries.list", json={"object": theirs[0]["incident"]["id"]}, headers=other.headers)
    )
    assert [entry["event"]["type"] for entry in timeline["timeline_entries"]] == ["created"]

    again = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "other", "--database-url", url]
    )
    assert again.exit_code == 0, again.output
    assert "3 skipped" in again.stdout and "0 links (1 dropped)" in again.stdout
    after = (await client.post("/incidents.export", json={"include": ["links"]}, headers=other.headers)).text
    assert _links(_lines(after)) == expected

    # Back into its own org: the links are there already; nothing is written.
    before = (await client.post("/incidents.export", json={"include": ["links"]}, headers=admin.headers)).text
    back = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "default", "--database-url", url]
    )
    assert back.exit_code == 0, back.output
    assert "0 links (0 dropped)" in back.stdout
    assert (await client.post("/incidents.export", json={"include": ["links"]}, headers=admin.headers)).text == before


async def test_a_link_the_other_org_refuses_is_a_listed_failure(client, app, admin: Actor, runner, tmp_path: Path):
    """An export edited by hand to merge one incident into two: the second merge is refused as links.create
    refuses it, listed, and the import exits 1; the incidents and the first merge are in."""
    ids = await _linked_incidents(client, admin)
    await ok(
        await client.post(
            "/links.create",
            json={"link_type": "is_merged_into", "source": ids["C"], "target": ids["B"]},
            headers=admin.headers,
        ),
        201,
    )
    url = app.state.db.settings.database_url
    exported = tmp_path / "linked.ndjson"
    arguments = ["export", str(exported), "--org", "default", "--include", "links", "--database-url", url]
    assert (await asyncio.to_thread(runner.invoke, cli, arguments)).exit_code == 0
    lines = _lines(exported.read_text())
    merge = next(link for link in lines[2]["links"] if link["link_type"] == "is_merged_into")
    second = json.loads(json.dumps(merge))
    second["id"] = merge["id"] + "0"
    second["target"] = {key: lines[0]["incident"][key] for key in ("id", "display_id", "title")} | {"type": "incident"}
    lines[2]["links"].append(second)
    exported.write_text("".join(json.dumps(line) + "\n" for line in lines))

    await make_org(app, "other")
    result = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "other", "--database-url", url]
    )
    assert result.exit_code == 1
    assert "3 created" in result.stdout and "1 failed" in result.stdout
    assert f"link {second['id']}" in result.stderr and "merged into" in result.stderr
