"""Settings for admins: webhooks (create with the secret shown once, status, deliveries, replay, test, delete),
users (invite with a one-time login link, role), the stage diagram and custom fields. Members get 403 on every
admin action, another org's webhook is a 404 page, and a POST without the CSRF token is a 403."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webpages import csrf_of, logged_in

from conftest import Actor, make_org
from incidentd.config import Settings

sys.path.insert(0, str(Path(__file__).parents[1] / "webhooks"))
from webhooks_support import Receiver, eventually, receiving

ADMIN_EMAIL = "admin@incidentd.local"
MEMBER_EMAIL = "member@incidentd.local"
SECRET = "web-settings-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_delivery": True, "webhook_poll_seconds": 0.05, "webhook_retry_first_seconds": 0.1}
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


async def api(client: httpx.AsyncClient, actor: Actor, operation: str, **body: Any) -> dict[str, Any]:
    answer = await client.post(f"/{operation}", json=body, headers=actor.headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def active_webhook(client: httpx.AsyncClient, actor: Actor, receiver: Receiver) -> dict[str, Any]:
    receiver.secrets["/hook"] = SECRET
    hook = await api(
        client, actor, "webhooks.create", url=receiver.url(), event_types=["incident_created"], secret=SECRET
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = await api(client, actor, "webhooks.get", id=hook["webhook"]["id"])
        if got["webhook"]["status"] == "active":
            return got["webhook"]
        await asyncio.sleep(0.02)
    raise AssertionError("never active")


async def test_an_admin_creates_a_webhook_whose_secret_is_shown_once(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, ADMIN_EMAIL)
    answer = await client.post(
        "/web/settings/webhooks",
        data={"csrf_token": csrf, "url": "https://hooks.example.com/in", "event_types": ["incident_created"]},
    )
    assert answer.status_code == 200, answer.text
    secret = re.search(r'id="new-webhook-secret" value="([^"]+)"', answer.text).group(1)
    listed = (await api(client, admin, "webhooks.list"))["webhooks"]
    assert [hook["url"] for hook in listed] == ["https://hooks.example.com/in"]
    assert listed[0]["secret"] == secret and listed[0]["event_types"] == ["incident_created"]
    again = await client.get("/web/settings")
    assert secret not in again.text  # shown once
    assert "https://hooks.example.com/in" in again.text and "unverified" in again.text
    detail = await client.get("/web/settings/webhook", params={"id": listed[0]["id"]})
    assert detail.status_code == 200 and "No deliveries yet" in detail.text and secret not in detail.text


async def test_a_bad_webhook_url_is_shown_next_to_its_field(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, ADMIN_EMAIL)
    answer = await client.post("/web/settings/webhooks", data={"csrf_token": csrf, "url": "ftp://nope"})
    assert answer.status_code == 400 and 'id="url-error"' in answer.text
    assert 'id="new-webhook-secret"' not in answer.text


async def test_deliveries_are_listed_replayed_tested_and_the_webhook_deleted(app, client, admin: Actor, receiver):
    csrf = await logged_in(app, client, admin.org, ADMIN_EMAIL)
    hook = await active_webhook(client, admin, receiver)
    await api(client, admin, "incidents.create", title="Disk full", severity="sev-2")
    await eventually(lambda: len(receiver.events("/hook", "incident_created")) == 1, what="the event")

    page = ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page = (await client.get("/web/settings/webhook", params={"id": hook["id"]})).text
        if 'data-label="State">delivered' in page:
            break
        await asyncio.sleep(0.05)
    assert re.search(r'data-label="State">delivered', page)
    assert re.search(r'data-label="Attempts">1<', page) and re.search(r'data-label="Last status">200', page)
    assert re.search(r'data-label="Latency">\d+ ms', page)
    event_id = re.search(r'name="event_id" value="([^"]+)"', page).group(1)

    replayed = await client.post(
        "/web/settings/webhook/replay", data={"csrf_token": csrf, "id": hook["id"], "event_id": event_id}
    )
    assert replayed.status_code == 200 and "is queued again" in replayed.text
    await eventually(lambda: len(receiver.events("/hook", "incident_created")) == 2, what="the replay")
    bad = await client.post(
        "/web/settings/webhook/replay", data={"csrf_token": csrf, "id": hook["id"], "event_id": "nonsense"}
    )
    assert bad.status_code == 400 and 'class="flash"' in bad.text

    tested = await client.post("/web/settings/webhook/test", data={"csrf_token": csrf, "id": hook["id"]})
    assert tested.status_code == 200 and "Test event: delivered" in tested.text and "HTTP 200" in tested.text
    assert SECRET not in tested.text

    deleted = await client.post("/web/settings/webhook/delete", data={"csrf_token": csrf, "id": hook["id"]})
    assert deleted.status_code == 303
    assert (await api(client, admin, "webhooks.list"))["webhooks"] == []


async def test_another_orgs_webhook_is_a_404_page(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, ADMIN_EMAIL)
    other = await make_org(app, "acme")
    theirs = (await api(client, other, "webhooks.create", url="https://acme.example.com/in"))["webhook"]["id"]
    page = await client.get("/web/settings/webhook", params={"id": theirs})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    for action in ("test", "delete"):
        answer = await client.post(f"/web/settings/webhook/{action}", data={"csrf_token": csrf, "id": theirs})
        assert answer.status_code == 404, action
    replay = {"csrf_token": csrf, "id": theirs, "event_id": f"{theirs}:event/1"}
    assert (await client.post("/web/settings/webhook/replay", data=replay)).status_code == 404
    assert len((await api(client, other, "webhooks.list"))["webhooks"]) == 1


async def test_a_member_sees_users_read_only_and_gets_403_on_every_admin_action(
    app, client, admin: Actor, member: Actor
):
    hook = (await api(client, admin, "webhooks.create", url="https://hooks.example.com/in"))["webhook"]["id"]
    csrf = await logged_in(app, client, member.org, MEMBER_EMAIL)
    page = await client.get("/web/settings")
    assert page.status_code == 200
    assert "Only an admin of the org manages webhooks" in page.text and "hooks.example.com" not in page.text
    assert ADMIN_EMAIL in page.text and 'action="/web/settings/users"' not in page.text
    assert 'action="/web/settings/users/role"' not in page.text
    attempts = {
        "/web/settings/webhooks": {"url": "https://x.example.com/in"},
        "/web/settings/webhook/test": {"id": hook},
        "/web/settings/webhook/replay": {"id": hook, "event_id": f"{hook}:event/1"},
        "/web/settings/webhook/delete": {"id": hook},
        "/web/settings/users": {"email": "new@example.com"},
        "/web/settings/users/link": {"user_id": admin.don},
        "/web/settings/users/role": {"user_id": member.don, "role": "admin"},
    }
    for path, data in attempts.items():
        answer = await client.post(path, data={"csrf_token": csrf, **data})
        assert answer.status_code == 403 and "only an admin" in answer.text, path
    assert (await client.get("/web/settings/webhook", params={"id": hook})).status_code == 403
    me = (await api(client, member, "dev-users.self"))["dev_user"]
    assert me["role"] == "member"
    assert len((await api(client, admin, "webhooks.list"))["webhooks"]) == 1


async def test_posts_without_the_csrf_token_are_refused(app, client, admin: Actor):
    await logged_in(app, client, admin.org, ADMIN_EMAIL)
    for path, data in {
        "/web/settings/webhooks": {"url": "https://x.example.com/in"},
        "/web/settings/users": {"email": "new@example.com"},
        "/web/settings/users/role": {"user_id": admin.don, "role": "member"},
    }.items():
        answer = await client.post(path, data=data)
        assert answer.status_code == 403, path
        wrong = await client.post(path, data={**data, "csrf_token": "not-the-token"})
        assert wrong.status_code == 403, path
    assert (await api(client, admin, "webhooks.list"))["webhooks"] == []


async def test_an_admin_invites_a_user_who_logs_in_with_the_link(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, ADMIN_EMAIL)
    answer = await client.post(
        "/web/settings/users", data={"csrf_token": csrf, "email": "ada@example.com", "display_name": "Ada <L>"}
    )
    assert answer.status_code == 200, answer.text
    link = re.search(r'id="login-link" value="([^"]+)"', answer.text).group(1)
    assert re.fullmatch(r"http://incidentd\.test/web/login/link/idl_[\w-]+", link)
    assert "Ada &lt;L&gt;" in answer.text
    again = await client.get("/web/settings")
    assert link not in again.text
    duplicate = await client.post("/web/settings/users", data={"csrf_token": csrf, "email": "ada@example.com"})
    assert duplicate.status_code == 400 and "exists already" in duplicate.text

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://incidentd.test") as ada:
        form = await ada.get(link.removeprefix("http://incidentd.test"))
        assert form.status_code == 200
        secret = link.rsplit("/", 1)[1]
        answer = await ada.post(
            "/web/login/link", data={"csrf_token": csrf_of(form.text), "secret": secret, "next": "/web/settings"}
        )
        assert answer.status_code == 303
        page = await ada.get("/web/settings")
        assert page.status_code == 200 and "Ada &lt;L&gt;" in page.text
        assert 'action="/web/settings/users"' not in page.text  # a member


async def test_an_admin_sets_roles_but_never_demotes_the_last_admin(app, client, admin: Actor, member: Actor):
    csrf = await logged_in(app, client, admin.org, ADMIN_EMAIL)
    last = await client.post(
        "/web/settings/users/role", data={"csrf_token": csrf, "user_id": admin.don, "role": "member"}
    )
    assert last.status_code == 409 and "last admin" in last.text
    promoted = await client.post(
        "/web/settings/users/role", data={"csrf_token": csrf, "user_id": member.don, "role": "admin"}
    )
    assert promoted.status_code == 200 and "is now admin" in promoted.text
    assert (await api(client, member, "dev-users.self"))["dev_user"]["role"] == "admin"
    bad = await client.post("/web/settings/users/role", data={"csrf_token": csrf, "user_id": member.don, "role": "god"})
    assert bad.status_code == 400 and "is not a role" in bad.text
    other = await make_org(app, "acme")
    theirs = await client.post(
        "/web/settings/users/role", data={"csrf_token": csrf, "user_id": other.don, "role": "member"}
    )
    assert theirs.status_code == 404
    link = await client.post("/web/settings/users/link", data={"csrf_token": csrf, "user_id": other.don})
    assert link.status_code == 404


async def test_the_stage_diagram_and_custom_fields_are_shown(app, client, admin: Actor):
    await api(
        client,
        admin,
        "schemas.custom.set",
        type="tenant_fragment",
        leaf_type="incident",
        description="ours",
        fields=[{"name": "region", "field_type": "tokens", "description": "where <it> hurts", "is_required": False}],
    )
    await logged_in(app, client, admin.org, ADMIN_EMAIL)
    page = (await client.get("/web/settings")).text
    assert re.search(r'<span class="stage">triage</span>\s*<span class="hint">[^<]*where incidents start', page)
    triage = page[page.index('<span class="stage">triage</span>') :].split("</li>", 1)[0]
    assert '<span class="stage">acknowledged</span>' in triage
    assert "<code>region</code>" in page and "where &lt;it&gt; hurts" in page
