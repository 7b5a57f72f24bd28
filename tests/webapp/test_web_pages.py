"""The board, declare and incident pages, driven as a browser without JavaScript would (forms and links), and
the htmx fragments they poll."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from webpages import csrf_of, logged_in

from conftest import Actor, make_org

EMAIL = "admin@incidentd.local"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def web(app, client, admin: Actor) -> tuple[httpx.AsyncClient, str]:
    """The client logged in as the admin, and its CSRF token."""
    return client, await logged_in(app, client, admin.org, EMAIL)


async def api(client: httpx.AsyncClient, actor: Actor, operation: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/{operation}", json=body, headers=actor.headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def declare(client: httpx.AsyncClient, csrf: str, **fields: Any) -> httpx.Response:
    return await client.post("/web/incidents/new", data={"csrf_token": csrf, **fields})


async def test_declare_lands_on_the_incident_page_created_by_the_logged_in_user(web, admin: Actor):
    client, csrf = web
    form = await client.get("/web/incidents/new")
    assert form.status_code == 200
    for name in ("title", "severity", "owned_by", "applies_to_parts", "tags", "customer_ids", "body"):
        assert f'<label for="{name}">' in form.text and f'id="{name}"' in form.text, name
    answer = await declare(client, csrf, title="Checkout is down", severity="sev-1", body="**bold** move")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert re.fullmatch(r"/web/incidents/INC-\d+", location)
    incident = (await api(client, admin, "incidents.get", id=location.rsplit("/", 1)[1]))["incident"]
    assert incident["title"] == "Checkout is down"
    assert incident["severity"]["label"] == "sev-1"
    assert incident["created_by"]["id"] == admin.don
    shown = await client.get(location)
    assert shown.status_code == 200
    assert "Checkout is down" in shown.text and "<strong>bold</strong>" in shown.text
    assert "sev-1" in shown.text  # severity in words, not only colour


async def test_declare_shows_the_services_error_next_to_its_field(web):
    client, csrf = web
    answer = await declare(client, csrf, title="   ")
    assert answer.status_code == 400
    assert re.search(r'id="title-error"[^>]*>[^<]*title', answer.text)
    assert 'aria-invalid="true" aria-describedby="title-error"' in answer.text
    too_long = await declare(client, csrf, title="x" * 300)
    assert too_long.status_code == 400 and 'id="title-error"' in too_long.text


async def test_script_in_a_title_and_body_is_shown_as_text_everywhere(web, admin: Actor):
    client, csrf = web
    answer = await declare(client, csrf, title=SCRIPT, body=f"{SCRIPT}\n\n[x](javascript:alert(1))")
    page = await client.get(answer.headers["location"])
    board = await client.get("/web/incidents")
    rows = await client.get("/web/incidents/results?status=open")
    for html in (page.text, board.text, rows.text):
        assert SCRIPT not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in page.text
    assert "content-security-policy" in page.headers


async def test_another_orgs_incident_and_unknown_ids_get_the_html_404_page(app, web, admin: Actor):
    client, _ = web
    other = await make_org(app, "acme")
    theirs = (await api(client, other, "incidents.create", title="Their secret"))["incident"]
    for path in (
        f"/web/incidents/{theirs['id']}",
        "/web/incidents/INC-999",
        "/web/incidents/not-an-id",
        "/web/incidents/don:core:dvrv-us-1:devo/acme:incident/999",
        "/web/no-such-page",
    ):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "Their secret" not in answer.text
        assert "Not found" in answer.text


async def test_the_incident_page_accepts_its_own_don(web, admin: Actor):
    client, _ = web
    created = (await api(client, admin, "incidents.create", title="By DON"))["incident"]
    answer = await client.get(f"/web/incidents/{created['id']}")
    assert answer.status_code == 200 and "By DON" in answer.text


async def test_stage_buttons_offer_only_the_diagrams_moves_and_move_the_incident(web, admin: Actor):
    client, csrf = web
    location = (await declare(client, csrf, title="Moves")).headers["location"]
    display_id = location.rsplit("/", 1)[1]
    page = await client.get(location)
    offered = re.findall(r'name="stage" value="([^"]+)"', page.text)
    assert offered == ["acknowledged", "fixing", "canceled", "duplicate"] or sorted(offered) == sorted(
        ["acknowledged", "fixing", "canceled", "duplicate"]
    )
    moved = await client.post(f"/web/incident/{display_id}/stage", data={"csrf_token": csrf, "stage": "acknowledged"})
    assert moved.status_code == 303
    incident = (await api(client, admin, "incidents.get", id=display_id))["incident"]
    assert incident["stage"]["stage"]["name"] == "acknowledged"
    assert incident["acknowledged_date"]
    assert incident["modified_by"]["id"] == admin.don
    # A move the diagram does not allow (acknowledged -> triage) is refused, its message shown by the stage buttons.
    refused = await client.post(
        f"/web/incident/{display_id}/stage",
        data={"csrf_token": csrf, "stage": "triage"},
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 400
    assert 'id="stage-error"' in refused.text and "cannot move" in refused.text
    assert refused.text.lstrip().startswith('<div id="incident" ')  # the fragment htmx swaps in


async def test_every_field_is_editable_in_place(web, admin: Actor):
    client, csrf = web
    tag = (await api(client, admin, "tags.create", name="payments"))["tag"]
    location = (await declare(client, csrf, title="Edit me")).headers["location"]
    display_id = location.rsplit("/", 1)[1]

    async def edit(name: str, *values: str) -> httpx.Response:
        data = {"csrf_token": csrf, "value": list(values)}
        return await client.post(f"/web/incident/{display_id}/fields/{name}", data=data, headers={"HX-Request": "true"})

    assert (await edit("title", "Edited title")).status_code == 200
    assert (await edit("body", "# Heading")).status_code == 200
    assert (await edit("severity", "sev-0")).status_code == 200
    assert (await edit("tags", tag["id"])).status_code == 200
    assert (await edit("owned_by", admin.don)).status_code == 200
    assert (await edit("reported_by", "Customer")).status_code == 200
    assert (await edit("target_close_date", "2030-01-02T03:04")).status_code == 200
    incident = (await api(client, admin, "incidents.get", id=display_id))["incident"]
    assert incident["title"] == "Edited title"
    assert incident["body"] == "# Heading"
    assert incident["severity"]["label"] == "sev-0"
    assert [entry["tag"]["id"] for entry in incident["tags"]] == [tag["id"]]
    assert [owner["id"] for owner in incident["owned_by"]] == [admin.don]
    assert incident["reported_by"]["label"] == "Customer"
    assert incident["target_close_date"].startswith("2030-01-02T03:04")
    bad = await edit("owned_by", "DEVU-999")
    assert bad.status_code == 400 and 'id="owned_by-error"' in bad.text
    assert (await edit("target_close_date", "")).status_code == 200
    assert "target_close_date" not in (await api(client, admin, "incidents.get", id=display_id))["incident"]
    unknown = await client.post(f"/web/incident/{display_id}/fields/created_by", data={"csrf_token": csrf})
    assert unknown.status_code == 404


async def test_a_member_edits_as_a_member_with_the_apis_rules(app, client, admin: Actor, member: Actor):
    await logged_in(app, client, member.org, "member@incidentd.local")
    csrf = csrf_of((await client.get("/web/incidents/new")).text)
    answer = await declare(client, csrf, title="By a member")
    incident_id = answer.headers["location"].rsplit("/", 1)[1]
    incident = (await api(client, admin, "incidents.get", id=incident_id))["incident"]
    assert incident["created_by"]["id"] == member.don


async def test_the_board_shows_open_incidents_first_filters_and_pages(web, admin: Actor):
    client, _ = web
    part = (await api(client, admin, "parts.create", type="product", name="Checkout", owned_by=[admin.don]))["part"]
    tag = (await api(client, admin, "tags.create", name="db"))["tag"]
    for index in range(30):
        body: dict[str, Any] = {"title": f"Incident {index:02d}", "severity": ["sev-0", "sev-2"][index % 2]}
        if index % 3 == 0:
            body["applies_to_parts"] = [part["id"]]
        if index % 5 == 0:
            body["tags"] = [{"tag_id": tag["id"]}]
        if index == 7:
            body["owned_by"] = [admin.don]
        created = (await api(client, admin, "incidents.create", **body))["incident"]
        if index == 29:
            await api(client, admin, "incidents.update", id=created["id"], stage="canceled")

    board = await client.get("/web/incidents")
    titles = re.findall(r">(Incident \d\d)</a>", board.text)
    assert len(titles) == 25 and titles[0] == "Incident 28"  # newest open first; the canceled one is not open
    assert "Incident 29" not in board.text
    for label in ("Show", "Title contains", "Stage", "Severity", "Owner", "Part", "Tag", "Sort"):
        assert f">{label}</label>" in board.text, label
    next_url = re.search(r'href="([^"]+)" rel="next"', board.text).group(1).replace("&amp;", "&")
    second = await client.get(next_url)
    assert re.findall(r">(Incident \d\d)</a>", second.text) == [f"Incident {i:02d}" for i in range(3, -1, -1)]
    assert 'rel="prev"' in second.text

    async def shown(query: str) -> list[str]:
        answer = await client.get(f"/web/incidents/results?{query}")
        assert answer.status_code == 200, answer.text
        return re.findall(r">(Incident \d\d)</a>", answer.text)

    assert await shown("status=closed") == ["Incident 29"]
    assert len(await shown("status=all")) == 25
    assert await shown("q=incident 1&sort=title:asc") == [f"Incident {i}" for i in range(10, 20)]
    assert await shown("severity=sev-0&q=incident 0") == [
        "Incident 08",
        "Incident 06",
        "Incident 04",
        "Incident 02",
        "Incident 00",
    ]
    assert await shown(f"part={part['id']}&q=incident 1") == ["Incident 18", "Incident 15", "Incident 12"]
    assert await shown(f"tag={tag['id']}") == [
        "Incident 25",
        "Incident 20",
        "Incident 15",
        "Incident 10",
        "Incident 05",
        "Incident 00",
    ]
    assert await shown(f"owner={admin.don}") == ["Incident 07"]
    assert await shown("stage=canceled") == ["Incident 29"]
    assert (await shown("sort=created_date:asc"))[0] == "Incident 00"
    counts = await client.get("/web/incidents/counts?status=all")
    assert re.search(r"<span>triage</span>: <strong>29</strong>", counts.text)
    assert re.search(r"<span>canceled</span>: <strong>1</strong>", counts.text)
    broken = await client.get("/web/incidents/results?cursor=garbage")
    assert broken.status_code == 400 and "cannot be shown" in broken.text


async def test_the_board_polls_its_rows_so_api_changes_appear(web, admin: Actor):
    client, _ = web
    board = await client.get("/web/incidents")
    assert 'hx-get="/web/incidents/results?status=open' in board.text and "every 5s" in board.text
    await api(client, admin, "incidents.create", title="Made through the API")
    rows = await client.get("/web/incidents/results?status=open&sort=created_date:desc")
    assert "Made through the API" in rows.text


async def test_static_files_have_hashed_names_long_cache_and_pages_stay_small(web):
    client, csrf = web
    await declare(client, csrf, title="Weight", body="x" * 2000)
    board = await client.get("/web/incidents")
    assets = re.findall(r'(?:src|href)="(/web/static/[^"]+)"', board.text)
    assert len(assets) == 3
    total = len(board.content)
    for asset in assets:
        assert re.fullmatch(r"/web/static/(app|htmx\.min|live)\.[0-9a-f]{12}\.(css|js)", asset)
        answer = await client.get(asset)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        total += len(answer.content)
    assert total < 100_000
    assert (await client.get("/web/static/app.000000000000.css")).status_code == 404


async def test_edits_and_moves_cannot_reach_another_orgs_incident(app, web, admin: Actor):
    client, csrf = web
    other = await make_org(app, "acme")
    theirs = (await api(client, other, "incidents.create", title="Theirs"))["incident"]
    mine = (await api(client, admin, "incidents.create", title="Mine"))["incident"]
    assert theirs["display_id"] == mine["display_id"]  # numbers are per org: INC-1 names our own
    for path in (
        f"/web/incident/{theirs['id']}/fields/title",
        f"/web/incident/{theirs['id']}/stage",
        "/web/incident/INC-999/fields/title",
    ):
        answer = await client.post(path, data={"csrf_token": csrf, "value": "Taken", "stage": "canceled"})
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
    unchanged = (await api(client, other, "incidents.get", id=theirs["id"]))["incident"]
    assert unchanged["title"] == "Theirs" and unchanged["stage"]["stage"]["name"] == "triage"
