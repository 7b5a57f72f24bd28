"""The incident page's timeline: comments (markdown, safely), attachments as artifacts with download links,
change events as readable deltas newest first, paging, deleting, and the rules and isolation of the API."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from webpages import logged_in

from conftest import Actor, make_org

EMAIL = "admin@incidentd.local"
SCRIPT = "<script>alert(1)</script>"
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def web(app, client, admin: Actor) -> tuple[httpx.AsyncClient, str]:
    return client, await logged_in(app, client, admin.org, EMAIL)


async def api(client: httpx.AsyncClient, actor: Actor, operation: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/{operation}", json=body, headers=actor.headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def incident(client: httpx.AsyncClient, actor: Actor, title: str = "Checkout is down") -> dict[str, Any]:
    return (await api(client, actor, "incidents.create", title=title, severity="sev-2"))["incident"]


async def entries(client: httpx.AsyncClient, actor: Actor, incident_id: str) -> list[dict[str, Any]]:
    return (await api(client, actor, "timeline-entries.list", object=incident_id, limit=100))["timeline_entries"]


async def comment(
    client: httpx.AsyncClient, csrf: str, display_id: str, body: str, files: Any = None, **headers: str
) -> httpx.Response:
    return await client.post(
        f"/web/incident/{display_id}/comments",
        data={"csrf_token": csrf, "body": body},
        files=files or {"files": ("", b"", "application/octet-stream")},  # an empty file input, as browsers send
        headers=headers,
    )


async def test_a_comment_is_posted_as_the_user_and_shown_rendered_without_a_reload(web, admin: Actor):
    client, csrf = web
    created = await incident(client, admin)
    answer = await comment(client, csrf, created["display_id"], "Rolled back **v2.3**", **HTMX)
    assert answer.status_code == 200
    assert answer.text.startswith('<div id="incident">')  # the htmx fragment, not a whole page
    assert "<strong>v2.3</strong>" in answer.text
    comments = [entry for entry in await entries(client, admin, created["id"]) if entry["type"] == "timeline_comment"]
    assert [entry["body"] for entry in comments] == ["Rolled back **v2.3**"]
    assert comments[0]["created_by"]["id"] == admin.don
    # Without htmx: a redirect back to the page, where the comment is.
    plain = await comment(client, csrf, created["display_id"], "Second")
    assert plain.status_code == 303 and plain.headers["location"].startswith(f"/web/incidents/{created['display_id']}")
    page = await client.get(f"/web/incidents/{created['display_id']}")
    assert page.text.index("Second") < page.text.index("Rolled back")  # newest first
    assert '<label for="comment_body">' in page.text and '<label for="comment_files">' in page.text


async def test_script_and_raw_html_in_a_comment_are_shown_as_text(web, admin: Actor):
    client, csrf = web
    created = await incident(client, admin)
    body = f'{SCRIPT}\n\n<img src=x onerror="alert(2)">\n\n[x](javascript:alert(3))'
    answer = await comment(client, csrf, created["display_id"], body, **HTMX)
    assert answer.status_code == 200
    page = await client.get(f"/web/incidents/{created['display_id']}")
    for html in (answer.text, page.text):
        assert SCRIPT not in html and "<img" not in html and 'href="javascript:' not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "&lt;img src=x onerror=" in html


async def test_an_empty_or_too_long_comment_is_refused_next_to_the_box(web, admin: Actor):
    client, csrf = web
    created = await incident(client, admin)
    empty = await comment(client, csrf, created["display_id"], "   ", **HTMX)
    assert empty.status_code == 400
    assert re.search(r'id="comment_body-error"[^>]*>[^<]*comment', empty.text)
    assert 'aria-describedby="comment_body-error"' in empty.text
    too_long = await comment(client, csrf, created["display_id"], "x" * 70_000, **HTMX)
    assert too_long.status_code == 400 and 'id="comment_body-error"' in too_long.text
    plain = await comment(client, csrf, created["display_id"], "")
    assert plain.status_code == 400 and "<!doctype html>" in plain.text and 'id="comment_body-error"' in plain.text
    assert [e for e in await entries(client, admin, created["id"]) if e["type"] == "timeline_comment"] == []


async def test_files_attach_as_artifacts_and_download_through_a_fresh_signed_link(web, admin: Actor):
    client, csrf = web
    created = await incident(client, admin)
    files = [
        ("files", ("graph.txt", b"p99 = 5.2 s\n", "text/plain")),
        ("files", ("notes.md", b"# notes", "text/markdown")),
    ]
    answer = await comment(client, csrf, created["display_id"], "See the graph", files=files, **HTMX)
    assert answer.status_code == 200, answer.text
    [posted] = [e for e in await entries(client, admin, created["id"]) if e["type"] == "timeline_comment"]
    names = [artifact["file"]["name"] for artifact in posted["artifacts"]]
    assert names == ["graph.txt", "notes.md"]
    links = re.findall(r'href="(/web/artifacts/ARTIFACT-\d+)">graph.txt</a>', answer.text)
    assert len(links) == 1
    download = await client.get(links[0])
    assert download.status_code == 303
    assert "/artifacts.download?" in download.headers["location"] and "signature=" in download.headers["location"]
    content = await client.get(download.headers["location"])
    assert content.status_code == 200 and content.content == b"p99 = 5.2 s\n"
    # A file alone is a comment too.
    alone = await comment(client, csrf, created["display_id"], "", files={"files": ("a.log", b"x", "text/plain")})
    assert alone.status_code == 303


async def test_a_file_over_the_limit_is_refused_next_to_the_file_input(app, web, admin: Actor):
    client, csrf = web
    app.state.db.settings.max_artifact_bytes = 10
    created = await incident(client, admin)
    files = {"files": ("big.bin", b"x" * 11, "application/octet-stream")}
    answer = await comment(client, csrf, created["display_id"], "big", files=files, **HTMX)
    assert answer.status_code == 400
    assert re.search(r'id="comment_files-error"[^>]*>[^<]*10 bytes', answer.text)
    assert [e for e in await entries(client, admin, created["id"]) if e["type"] == "timeline_comment"] == []


async def test_change_events_show_their_field_deltas_in_words(web, admin: Actor):
    client, _csrf = web
    created = await incident(client, admin, "Old title")
    await api(client, admin, "incidents.update", id=created["id"], title="New title", severity="sev-0")
    await api(client, admin, "incidents.update", id=created["id"], owned_by={"set": [admin.don]})
    await api(client, admin, "incidents.update", id=created["id"], stage="acknowledged")
    page = (await client.get(f"/web/incidents/{created['display_id']}")).text
    timeline = page[page.index('id="timeline"') :]
    assert "declared the incident" in timeline
    assert re.search(r'title</span>: <span class="old">Old title</span>.*?<span class="new">New title</span>', timeline)
    assert re.search(r'severity</span>: <span class="old">sev-2</span>.*?<span class="new">sev-0</span>', timeline)
    assert re.search(r'stage</span>: <span class="old">triage</span>.*?<span class="new">acknowledged</span>', timeline)
    assert re.search(r'owners</span>: <span class="old">\(none\)</span>.*?<span class="new">[^<]*admin', timeline)
    assert timeline.index("acknowledged</span>") < timeline.index("New title")  # newest first


async def test_the_timeline_pages_newest_first_with_load_older_entries(web, admin: Actor):
    client, _csrf = web
    created = await incident(client, admin)
    for index in range(25):
        await api(
            client,
            admin,
            "timeline-entries.create",
            type="timeline_comment",
            object=created["id"],
            body=f"note {index:02d}",
        )
    page = (await client.get(f"/web/incidents/{created['display_id']}")).text
    shown = re.findall(r"<p>(note \d\d)</p>", page)
    assert shown == [f"note {i:02d}" for i in range(24, 4, -1)]  # 20, newest first
    more = re.search(r'hx-get="([^"]+)"\s+hx-target="#timeline-more"', page)
    assert more is not None
    older = await client.get(more.group(1).replace("&amp;", "&"))
    assert older.status_code == 200
    assert re.findall(r"<p>(note \d\d)</p>", older.text) == [f"note {i:02d}" for i in range(4, -1, -1)]
    assert "declared the incident" in older.text
    assert "Load older entries" not in older.text
    # The same page without JavaScript: the link's href.
    href = re.search(r'href="([^"]+)" hx-get="[^"]+"\s+hx-target="#timeline-more"', page).group(1)
    plain = await client.get(href.replace("&amp;", "&"))
    assert re.findall(r"<p>(note \d\d)</p>", plain.text)[:1] == ["note 04"]


async def test_own_comments_are_deleted_and_a_member_cannot_delete_anothers(app, client, admin: Actor, member: Actor):
    csrf = await logged_in(app, client, member.org, "member@incidentd.local")
    created = await incident(client, admin)
    theirs = (
        await api(
            client, admin, "timeline-entries.create", type="timeline_comment", object=created["id"], body="admin's"
        )
    )["timeline_entry"]
    await comment(client, csrf, created["display_id"], "mine", **HTMX)
    mine = next(e for e in await entries(client, admin, created["id"]) if e.get("body") == "mine")
    page = (await client.get(f"/web/incidents/{created['display_id']}")).text
    assert page.count('name="entry"') == 1  # a delete button on the member's own comment only
    refused = await client.post(
        f"/web/incident/{created['display_id']}/comments/delete",
        data={"csrf_token": csrf, "entry": theirs["id"]},
        headers=HTMX,
    )
    assert refused.status_code == 403 and "only the comment" in refused.text
    deleted = await client.post(
        f"/web/incident/{created['display_id']}/comments/delete",
        data={"csrf_token": csrf, "entry": mine["id"]},
        headers=HTMX,
    )
    assert deleted.status_code == 200
    bodies = [e.get("body") for e in await entries(client, admin, created["id"]) if e["type"] == "timeline_comment"]
    assert bodies == ["admin's"]


async def test_another_orgs_incident_cannot_be_commented_or_read(app, web, admin: Actor):
    client, csrf = web
    other = await make_org(app, "acme")
    theirs = await incident(client, other, "Their secret")
    their_comment = (
        await api(client, other, "timeline-entries.create", type="timeline_comment", object=theirs["id"], body="x")
    )["timeline_entry"]
    ours = await incident(client, admin)
    for path, data in (
        (f"/web/incident/{theirs['id']}/comments", {"body": "hi"}),
        (f"/web/incident/{theirs['id']}/comments/delete", {"entry": their_comment["id"]}),
        (f"/web/incident/{ours['display_id']}/comments/delete", {"entry": their_comment["id"]}),
    ):
        answer = await client.post(path, data={"csrf_token": csrf, **data}, headers=HTMX)
        assert answer.status_code == 404, path
        assert "Their secret" not in answer.text
    assert (await client.get(f"/web/incident/{theirs['id']}/timeline")).status_code == 404
    artifact = (await api(client, other, "artifacts.prepare", file_name="x.txt"))["id"]
    assert (await client.get(f"/web/artifacts/{artifact}")).status_code == 404
    assert len(await entries(client, other, theirs["id"])) == 2  # created + their comment, untouched


async def test_comment_forms_without_a_csrf_token_are_refused(web, admin: Actor):
    client, _ = web
    created = await incident(client, admin)
    for path, data in (
        (f"/web/incident/{created['display_id']}/comments", {"body": "no token"}),
        (f"/web/incident/{created['display_id']}/comments/delete", {"entry": "x"}),
    ):
        assert (await client.post(path, data=data)).status_code == 403, path
    multipart = await client.post(
        f"/web/incident/{created['display_id']}/comments",
        data={"body": "no token"},
        files={"files": ("a.txt", b"x", "text/plain")},
    )
    assert multipart.status_code == 403
    assert [e for e in await entries(client, admin, created["id"]) if e["type"] == "timeline_comment"] == []


def test_field_values_read_as_words():
    from incidentd.timeline.schemas import FieldValue
    from incidentd.webapp.incident_view import value_text

    names = {"don:identity:dvrv-us-1:devo/default:devu/1": "Ada"}
    assert value_text("severity", FieldValue(type="int", value=1), names) == "sev-0"
    assert value_text("reported_by", FieldValue(type="int", value=3), names) == "System"
    assert value_text("mitigated_date", FieldValue(type="date_time", value="2026-12-06T03:02:00.000Z"), names) == (
        "2026-12-06 03:02 UTC"
    )
    assert value_text("staged_info.is_staged", FieldValue(type="bool", value=False), names) == "no"
    assert value_text("stage", FieldValue(type="stage", name="fixing"), names) == "fixing"
    tags = FieldValue(type="tag_summary_list", values=[{"tag_id": "x", "name": "db"}, {"tag_id": "y", "name": "eu"}])
    assert value_text("tags", tags, names) == "db, eu"
    owners = FieldValue(
        type="id_list",
        values=["don:identity:dvrv-us-1:devo/default:devu/1", "don:core:dvrv-us-1:devo/default:article/7"],
    )
    assert value_text("owned_by", owners, names) == "Ada, ART-7"
    assert value_text("body", FieldValue(type="string", value="x" * 300), names) == "x" * 200 + "…"
    assert value_text("body", None, names) == "(none)"


async def test_a_file_larger_than_the_apps_json_body_limit_attaches(web, admin: Actor):
    client, csrf = web
    created = await incident(client, admin)
    content = bytes(range(256)) * (3 * 4096)  # 3 MiB: past the form parser's memory spool and any JSON limit
    files = {"files": ("dump.bin", content, "application/octet-stream")}
    answer = await comment(client, csrf, created["display_id"], "heap dump", files=files, **HTMX)
    assert answer.status_code == 200, answer.text[-2000:]
    href = re.search(r'href="(/web/artifacts/ARTIFACT-\d+)">dump.bin</a>', answer.text).group(1)
    download = await client.get((await client.get(href)).headers["location"])
    assert download.content == content
