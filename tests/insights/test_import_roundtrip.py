"""incidentd import FILE: an export (with timelines) from a populated org loads into another server's org, every
incident equal field by field (ids aside), references remapped by name, numbers kept when free; a second run
changes nothing. On a PostgreSQL run the source is PostgreSQL and the target SQLite (the cross direction)."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import ok
from typer.testing import CliRunner

from conftest import ON_POSTGRES, Actor, _migrate, make_org, running
from incidentd.app import create_app
from incidentd.cli import app as cli
from incidentd.config import Settings, get_settings
from incidentd.identity import service as identity

FRAGMENT = {
    "type": "tenant_fragment",
    "description": "incident fields",
    "leaf_type": "incident",
    "fields": [
        {"name": "region", "field_type": "enum", "allowed_values": ["eu", "us"]},
        {"name": "customers", "field_type": "int"},
        {"name": "paged", "field_type": "bool"},
        {"name": "summary", "field_type": "text"},
        {"name": "services", "field_type": "array", "base_type": "text"},
    ],
}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
async def target(tmp_path: Path, database_template: str) -> AsyncIterator[tuple[str, Any]]:
    """Another server: a SQLite database of its own (a copy of the migrated template, or migrated afresh on a
    PostgreSQL run) and its app, with its bootstrap admin."""
    path = tmp_path / "target.db"
    url = f"sqlite+aiosqlite:///{path}"
    if ON_POSTGRES:
        await _migrate(url)
    else:
        shutil.copyfile(database_template, path)
    settings = Settings(
        database_url=url, auto_migrate=False, log_format="console", artifacts_dir=str(tmp_path / "target-artifacts")
    )
    async with running(create_app(settings)) as app:
        yield url, app


async def _populate(client: Any, admin: Actor) -> None:
    headers = admin.headers

    async def post(path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        return await ok(await client.post(path, json=body, headers=headers), status)

    await post("/schemas.custom.set", FRAGMENT)
    sre = (
        await post(
            "/dev-users.create", {"email": "sre@x.test", "display_name": "sre", "full_name": "S R E", "state": "shadow"}
        )
    )["dev_user"]["id"]
    part = (await post("/parts.create", {"type": "product", "name": "Payments", "owned_by": [admin.don]}))["part"]["id"]
    other_part = (await post("/parts.create", {"type": "product", "name": "Search", "owned_by": [admin.don]}))["part"]
    tag = (await post("/tags.create", {"name": "database"}))["tag"]["id"]
    playbook = (await post("/articles.create", {"title": "Runbook", "owned_by": [admin.don], "resource": {}}))[
        "article"
    ]["id"]
    account = (await post("/accounts.create", {"display_name": "Globex"}))["account"]["id"]
    full = {
        "title": "payment gateway down",
        "body": "**card payments fail**",
        "severity": 1,
        "reported_by": "customer",
        "owned_by": [admin.don, sre],
        "applies_to_parts": [part, other_part["id"]],
        "tags": [{"tag_id": tag}],
        "playbooks": [playbook],
        "identified_date": "2026-03-01T10:00:00Z",
        "acknowledged_date": "2026-03-01T10:05:00Z",
        "mitigated_date": "2026-03-01T11:00:00Z",
        "target_close_date": "2026-03-02T10:00:00Z",
        "impact": {"count": 2, "customer_ids": [account]},
        "sync_metadata": {"external_reference": "PD-42", "origin_system": "pagerduty"},
        "custom_fields": {
            "tnt__region": "eu",
            "tnt__customers": 1200,
            "tnt__paged": True,
            "tnt__summary": "gateway TLS expiry",
            "tnt__services": ["api", "checkout"],
        },
        "custom_schema_spec": {"tenant_fragment": True},
        "stage": "resolved",
        "stage_validation_options": ["allow_non_start"],
    }
    created = (await post("/incidents.create", full))["incident"]
    for body in ("paged the on-call", "rolled the certificate"):
        await post("/timeline-entries.create", {"type": "timeline_comment", "object": created["id"], "body": body})
    await post(
        "/incidents.create",
        {
            "title": "search slow",
            "severity": 3,
            "stage": "acknowledged",
            "stage_validation_options": ["allow_non_start"],
        },
    )
    plain = (await post("/incidents.create", {"title": "minimal"}))["incident"]
    await post("/incidents.update", {"id": plain["id"], "stage": "acknowledged"}, 200)


def _names(items: list[dict[str, Any]] | None, key: str) -> list[Any]:
    return [item.get(key) for item in items or []]


def _comparable(incident: dict[str, Any]) -> dict[str, Any]:
    """The incident with every id replaced by what names the object in any org (ids differ between servers)."""
    found = dict(incident)
    for name in ("id", "display_id", "custom_schema_fragments", "stock_schema_fragment"):
        found.pop(name, None)
    for name in ("created_by", "modified_by"):
        if name in found:
            found[name] = found[name].get("email") or found[name].get("display_name")
    found["owned_by"] = sorted(owner.get("email") or owner["display_name"] for owner in found.get("owned_by", []))
    found["applies_to_parts"] = _names(found.get("applies_to_parts"), "name")
    found["tags"] = [(item["tag"]["name"], item.get("value")) for item in found.get("tags", [])]
    for name in ("pia", "playbooks"):
        found[name] = _names(found.get(name), "title")
    if "impact" in found:
        impact = dict(found["impact"])
        impact["customer_ids"] = _names(impact.get("customer_ids"), "display_name")
        found["impact"] = impact
    stage = found.pop("stage")
    found["stage"] = (stage["stage"]["name"], stage["state"]["name"])
    return found


def _timeline(line: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(entry["type"], entry.get("body") or entry["event"]["type"]) for entry in line["timeline"]]


async def test_an_export_round_trips_into_another_server(client, app, admin: Actor, target, runner, tmp_path: Path):
    await _populate(client, admin)
    target_url, target_app = target
    created = await identity.bootstrap(target_app.state.db, admin_email="admin@incidentd.local")
    assert created is not None
    target_admin = Actor(created.org, created.admin_number, "dev_user", created.token.secret)
    async with __import__("httpx").AsyncClient(
        transport=__import__("httpx").ASGITransport(app=target_app), base_url="http://target.test"
    ) as other:
        # The target declares the same fragment, has the parts under other numbers, and INC-1 is taken.
        headers = target_admin.headers
        await ok(await other.post("/schemas.custom.set", json=FRAGMENT, headers=headers), 201)
        for name in ("Unrelated", "Search", "Payments"):
            body = {"type": "product", "name": name, "owned_by": [target_admin.don]}
            await ok(await other.post("/parts.create", json=body, headers=headers), 201)
        await ok(
            await other.post(
                "/articles.create",
                json={"title": "Runbook", "owned_by": [target_admin.don], "resource": {}},
                headers=headers,
            ),
            201,
        )
        await ok(await other.post("/incidents.create", json={"title": "already here"}, headers=headers), 201)

        exported = tmp_path / "incidents.ndjson"
        source_url = app.state.db.settings.database_url
        arguments = ["export", str(exported), "--include", "timeline", "--database-url", source_url]
        result = await asyncio.to_thread(runner.invoke, cli, arguments)
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in exported.read_text().splitlines()]
        assert len(lines) == 3 and all(set(line) == {"incident", "timeline"} for line in lines)

        imported = await asyncio.to_thread(runner.invoke, cli, ["import", str(exported), "--database-url", target_url])
        assert imported.exit_code == 0, imported.output
        assert "3 read: 3 created, 0 updated, 0 skipped, 0 failed; 1 renumbered" in imported.stdout
        assert "1 users, 1 tags, 0 parts and 1 accounts created, 0 references dropped" in imported.stdout
        assert "imported 3 of 3 (100%)" in imported.stderr

        again = tmp_path / "again.ndjson"
        arguments = ["export", str(again), "--include", "timeline", "--database-url", target_url]
        assert (await asyncio.to_thread(runner.invoke, cli, arguments)).exit_code == 0
        copies = {line["incident"]["title"]: line for line in map(json.loads, again.read_text().splitlines())}
        for line in lines:
            copy = copies[line["incident"]["title"]]
            assert _comparable(copy["incident"]) == _comparable(line["incident"])
            assert _timeline(copy) == _timeline(line)
            if line["incident"]["title"] != "payment gateway down":  # INC-1 was taken: it got a new number
                assert copy["incident"]["display_id"] == line["incident"]["display_id"]
        moved = copies["payment gateway down"]["incident"]["display_id"]
        assert moved != "INC-1"

        # The import wrote the search documents too: title, imported comments and tag names are found.
        for query in ("gateway", "certificate", "database"):
            found = await ok(await other.post("/incidents.search", json={"query": query}, headers=headers), 200)
            assert [r["incident"]["display_id"] for r in found["results"]] == [moved], query

        # The target's counter moved past what the import wrote: a new incident takes a new number.
        fresh = await ok(await other.post("/incidents.create", json={"title": "after"}, headers=headers), 201)
        numbers = {copy["incident"]["display_id"] for copy in copies.values()} | {"INC-1"}
        assert fresh["incident"]["display_id"] not in numbers

        second = await asyncio.to_thread(runner.invoke, cli, ["import", str(exported), "--database-url", target_url])
        assert second.exit_code == 0, second.output
        assert "3 read: 0 created, 0 updated, 3 skipped, 0 failed" in second.stdout
        after = tmp_path / "after.ndjson"
        arguments = ["export", str(after), "--include", "timeline", "--database-url", target_url]
        assert (await asyncio.to_thread(runner.invoke, cli, arguments)).exit_code == 0
        assert [line for line in after.read_text().splitlines() if '"title":"after"' not in line] == (
            again.read_text().splitlines()
        )


async def test_an_export_loads_into_another_org_and_back_into_its_own(client, app, admin: Actor, runner, tmp_path):
    await _populate(client, admin)
    other = await make_org(app, "other")
    url = app.state.db.settings.database_url
    exported = tmp_path / "incidents.ndjson"
    result = await asyncio.to_thread(
        runner.invoke, cli, ["export", str(exported), "--org", "default", "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    before = (await client.post("/incidents.export", json={}, headers=admin.headers)).text

    # Back into its own org: these are its incidents, still there; nothing is written.
    back = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "default", "--database-url", url]
    )
    assert back.exit_code == 0, back.output
    assert "3 read: 0 created, 0 updated, 3 skipped, 0 failed" in back.stdout

    # Into another org of the same server: the numbers are free there; the first org is untouched.
    await ok(await client.post("/schemas.custom.set", json=FRAGMENT, headers=other.headers), 201)
    into = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "other", "--database-url", url]
    )
    assert into.exit_code == 0, into.output
    assert "3 read: 3 created, 0 updated, 0 skipped, 0 failed; 0 renumbered" in into.stdout
    # The other org lacks the products Payments and Search and the account Globex (created), and the article
    # Runbook (left out).
    assert "2 parts and 1 accounts created, 1 references dropped" in into.stdout
    theirs = [
        json.loads(line)
        for line in (await client.post("/incidents.export", json={}, headers=other.headers)).text.splitlines()
    ]
    ours = [json.loads(line) for line in before.splitlines()]
    assert [incident["display_id"] for incident in theirs] == [incident["display_id"] for incident in ours]
    assert all(incident["id"].startswith("don:core:dvrv-us-1:devo/other:") for incident in theirs)
    assert (await client.post("/incidents.export", json={}, headers=admin.headers)).text == before


async def test_a_failing_record_is_rolled_back_alone_and_listed(client, app, admin: Actor, runner, tmp_path: Path):
    await _populate(client, admin)
    other = await make_org(app, "other")
    url = app.state.db.settings.database_url
    exported = tmp_path / "incidents.ndjson"
    arguments = ["export", str(exported), "--org", "default", "--include", "timeline", "--database-url", url]
    assert (await asyncio.to_thread(runner.invoke, cli, arguments)).exit_code == 0
    lines = exported.read_text().splitlines()
    broken = tmp_path / "broken.ndjson"
    broken.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")

    # The other org declares no custom fields: the incident that has some fails, with its comments and events.
    result = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(broken), "--org", "other", "--database-url", url]
    )
    assert result.exit_code == 1
    assert "4 read: 2 created, 0 updated, 0 skipped, 2 failed" in result.stdout
    assert "line 2: not an exported incident" in result.stderr
    assert "custom_fields.tnt__region" in result.stderr and "hint: declare the org's custom fields" in result.stderr
    theirs = (await client.post("/incidents.export", json={"include": ["timeline"]}, headers=other.headers)).text
    titles = [json.loads(line)["incident"]["title"] for line in theirs.splitlines()]
    assert titles == ["search slow", "minimal"]

    # Declared now, the failed one comes in; the others are skipped.
    await ok(await client.post("/schemas.custom.set", json=FRAGMENT, headers=other.headers), 201)
    again = await asyncio.to_thread(
        runner.invoke, cli, ["import", str(exported), "--org", "other", "--database-url", url]
    )
    assert again.exit_code == 0, again.output
    assert "3 read: 1 created, 0 updated, 2 skipped, 0 failed" in again.stdout
