"""Settings: API tokens created from the browser (the secret shown once) and revoked; a member revokes only
their own tokens."""

from __future__ import annotations

import re

from webpages import logged_in

from conftest import Actor


async def test_create_a_token_shown_once_that_works_on_the_api_then_revoke_it(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, "admin@incidentd.local")
    settings = await client.get("/web/settings")
    assert settings.status_code == 200 and "API tokens" in settings.text
    created = await client.post(
        "/web/settings/tokens", data={"csrf_token": csrf, "token_hint": "ci", "expires_in": "30"}
    )
    assert created.status_code == 200
    secret = re.search(r'id="new-token" value="(idt_[^"]+)"', created.text).group(1)
    assert (await client.get("/dev-users.self", headers={"Authorization": f"Bearer {secret}"})).status_code == 200
    again = await client.get("/web/settings")
    assert secret not in again.text  # shown once
    token_id = re.search(r'name="token_id" value="([^"]+)"', again.text).group(1)
    listed = (await client.get("/auth-tokens.list", headers={"Authorization": f"Bearer {secret}"})).json()
    mine = next(token for token in listed["tokens"] if token["token_hint"] == "ci")
    answer = await client.post("/web/settings/tokens/revoke", data={"csrf_token": csrf, "token_id": mine["id"]})
    assert answer.status_code == 303
    assert (await client.get("/dev-users.self", headers={"Authorization": f"Bearer {secret}"})).status_code == 401
    assert token_id


async def test_a_bad_expiry_is_shown_next_to_its_field(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, "admin@incidentd.local")
    answer = await client.post("/web/settings/tokens", data={"csrf_token": csrf, "expires_in": "forever"})
    assert answer.status_code == 400 and 'id="expires_in-error"' in answer.text
    assert 'id="new-token"' not in answer.text


async def test_a_member_cannot_revoke_the_admins_token_nor_another_orgs(app, client, admin: Actor, member: Actor):
    from conftest import make_org

    csrf = await logged_in(app, client, member.org, "member@incidentd.local")
    listed = (await client.get("/auth-tokens.list", headers=admin.headers)).json()["tokens"]
    answer = await client.post("/web/settings/tokens/revoke", data={"csrf_token": csrf, "token_id": listed[0]["id"]})
    assert answer.status_code == 403 and "only an admin" in answer.text
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200
    other = await make_org(app, "acme")
    theirs = (await client.get("/auth-tokens.list", headers=other.headers)).json()["tokens"][0]["id"]
    answer = await client.post("/web/settings/tokens/revoke", data={"csrf_token": csrf, "token_id": theirs})
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert (await client.get("/dev-users.self", headers=other.headers)).status_code == 200
