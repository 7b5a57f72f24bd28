"""incidents.export with include: ["timeline"]: each NDJSON line is {"incident", "timeline"} with the entries the
caller may see, cut at TIMELINE_LIMIT; the default lines stay plain incidents; CSV refuses it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from corpus import ok
from typer.testing import CliRunner

from conftest import Actor, make_org
from incidentd.cli import app as cli
from incidentd.config import get_settings
from incidentd.incidents import exporting


async def _incident_with_history(client, admin: Actor, member: Actor) -> str:
    created = await ok(await client.post("/incidents.create", json={"title": "db down"}, headers=admin.headers), 201)
    incident = created["incident"]["id"]
    await ok(await client.post("/incidents.update", json={"id": incident, "severity": 1}, headers=admin.headers))
    comments = [
        (admin, {"body": "only for me", "visibility": "private"}),
        (member, {"body": "looking"}),
        (admin, {"body": "fixed"}),
    ]
    for actor, comment in comments:
        body = {"type": "timeline_comment", "object": incident, **comment}
        await ok(await client.post("/timeline-entries.create", json=body, headers=actor.headers), 201)
    return incident


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


async def test_export_includes_each_incidents_timeline_as_the_caller_sees_it(client, admin: Actor, member: Actor):
    incident = await _incident_with_history(client, admin, member)
    plain = _lines((await client.post("/incidents.export", json={}, headers=admin.headers)).text)
    assert len(plain) == 1 and plain[0]["id"] == incident and "timeline" not in plain[0]

    response = await client.post("/incidents.export", json={"include": ["timeline"]}, headers=admin.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    [line] = _lines(response.text)
    assert set(line) == {"incident", "timeline"} and line["incident"] == plain[0]
    kinds = [(entry["type"], entry.get("body")) for entry in line["timeline"]]
    assert kinds == [
        ("timeline_change_event", None),
        ("timeline_change_event", None),
        ("timeline_comment", "only for me"),
        ("timeline_comment", "looking"),
        ("timeline_comment", "fixed"),
    ]
    listed = await ok(await client.post("/timeline-entries.list", json={"object": incident}, headers=admin.headers))
    assert line["timeline"] == listed["timeline_entries"]

    by_member = await client.get("/incidents.export?include=timeline", headers=member.headers)
    [seen] = _lines(by_member.text)
    assert "only for me" not in [entry.get("body") for entry in seen["timeline"]]


async def test_a_long_timeline_is_cut_and_says_so(client, admin: Actor, member: Actor, monkeypatch):
    await _incident_with_history(client, admin, member)
    monkeypatch.setattr(exporting, "TIMELINE_LIMIT", 2)
    [line] = _lines(
        (await client.post("/incidents.export", json={"include": ["timeline"]}, headers=admin.headers)).text
    )
    assert len(line["timeline"]) == 2 and line["timeline_truncated"] is True


async def test_timeline_is_ndjson_only_and_another_org_exports_nothing_of_ours(client, app, admin: Actor, member):
    await _incident_with_history(client, admin, member)
    refused = await client.post(
        "/incidents.export", json={"format": "csv", "include": ["timeline"]}, headers=admin.headers
    )
    assert refused.status_code == 400
    assert refused.json()["type"] == "invalid_field" and refused.json()["field_name"] == "include"
    unknown = await client.post("/incidents.export", json={"include": ["people"]}, headers=admin.headers)
    assert unknown.status_code == 400
    other = await make_org(app, "other")
    assert (await client.post("/incidents.export", json={"include": ["timeline"]}, headers=other.headers)).text == ""


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", database_url)
    yield CliRunner()
    get_settings.cache_clear()


async def test_cli_export_includes_private_comments(client, admin: Actor, member: Actor, runner, tmp_path: Path):
    await _incident_with_history(client, admin, member)
    target = tmp_path / "out.ndjson"
    result = await asyncio.to_thread(runner.invoke, cli, ["export", str(target), "--include", "timeline"])
    assert result.exit_code == 0, result.output
    [line] = _lines(target.read_text())
    assert [entry.get("body") for entry in line["timeline"]][2:] == ["only for me", "looking", "fixed"]
    bad = await asyncio.to_thread(runner.invoke, cli, ["export", str(target), "--include", "people"])
    assert bad.exit_code == 2 and "--include" in bad.stderr
