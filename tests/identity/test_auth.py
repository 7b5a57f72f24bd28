from __future__ import annotations

import sqlalchemy as sa

from conftest import Actor, add_older_token, make_org
from contract import assert_conforms
from incidentd.identity import service as identity_service
from incidentd.identity.tables import auth_tokens
from incidentd.kit.time import now_ms


def assert_unauthenticated(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "unauthenticated"
    assert_conforms("/dev-users.self", "get", 401, response.json())


async def test_no_header_is_401(client, admin: Actor):
    assert_unauthenticated(await client.get("/dev-users.self"))


async def test_unknown_token_is_401(client, admin: Actor):
    assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": "Bearer idt_nope"}))
    assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": "garbage"}))


async def test_malformed_headers_are_401(client, admin: Actor):
    for value in ("Bearer", "Bearer a b", f"Basic {admin.token}", "   "):
        assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": value}))


async def test_two_authorization_headers_are_400_even_when_both_are_valid(client, admin: Actor):
    other = await client.post("/auth-tokens.create", json={}, headers=admin.headers)
    for second in (other.json()["access_token"], "idt_nope", admin.token):
        headers = [("Authorization", f"Bearer {admin.token}"), ("Authorization", f"Bearer {second}")]
        response = await client.get("/dev-users.self", headers=headers)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "type": "bad_request",
            "message": "the Authorization header is sent 2 times; send it once",
        }
        assert_conforms("/dev-users.self", "get", 400, response.json())


async def test_revoked_token_is_401(client, admin: Actor):
    created = await client.post("/auth-tokens.create", json={"token_hint": "ci"}, headers=admin.headers)
    assert created.status_code == 201
    secret = created.json()["access_token"]
    assert (await client.get("/dev-users.self", headers={"Authorization": secret})).status_code == 200
    tokens = (await client.get("/auth-tokens.list", headers=admin.headers)).json()["tokens"]
    token_id = next(t["id"] for t in tokens if t.get("token_hint") == "ci")
    deleted = await client.post("/auth-tokens.delete", json={"token_id": token_id}, headers=admin.headers)
    assert deleted.status_code == 200 and deleted.json() == {}
    assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": secret}))
    # The admin's own token is untouched.
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200


async def test_expired_token_is_401(client, admin: Actor, monkeypatch):
    created = await client.post("/auth-tokens.create", json={"expires_in": 1}, headers=admin.headers)
    assert 86_000 <= created.json()["expires_in"] <= 86_400
    secret = created.json()["access_token"]
    assert (await client.get("/dev-users.self", headers={"Authorization": secret})).status_code == 200
    a_day_later = now_ms() + 86_400_001
    monkeypatch.setattr(identity_service, "now_ms", lambda: a_day_later)
    assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": secret}))
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200  # no expiry


async def test_a_token_says_its_org_and_is_found_only_there(app, client, admin: Actor):
    """`idt_<org>_<43 characters>`: the lookup names the org (one shard on Citus). A token whose org part is
    changed names another org, where no token has its hash: 401, even for a real org."""
    other = await make_org(app, "elsewhere")
    prefix, org, rest = admin.token.split("_", 2)
    assert (prefix, int(org), len(rest)) == ("idt", admin.org.dev_org_id, 43)
    assert identity_service.org_of_token(admin.token) == admin.org.dev_org_id
    moved = f"idt_{other.org.dev_org_id}_{rest}"
    assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": f"Bearer {moved}"}))
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200


async def test_a_token_of_the_older_form_without_its_org_still_works(app, client, admin: Actor):
    """Tokens issued before tokens said their org (`idt_` and 43 characters) are looked up by their hash alone."""
    older = "idt_1_" + "a" * 41  # 47 characters: looks like the org-saying form, and is too short for it
    assert identity_service.org_of_token(older) is None
    await add_older_token(app, admin, older)
    answered = await client.get("/dev-users.self", headers={"Authorization": f"Bearer {older}"})
    assert answered.status_code == 200, answered.text
    assert answered.json()["dev_user"]["id"] == admin.org.don("dev_user", admin.user_number)


async def test_verified_tokens_are_cached_briefly(app, client, admin: Actor, monkeypatch):
    """A token changed behind the server's back (another worker, the CLI) stops working within the cache's
    lifetime; one revoked through this process stops at once (see test_revoked_token_is_401)."""
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200
    async with app.state.db.write() as conn:
        await conn.execute(sa.update(auth_tokens).values(revoked_at=now_ms()))
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200  # still cached
    monkeypatch.setattr(identity_service.token_cache(app.state.db), "seconds", 0)
    assert_unauthenticated(await client.get("/dev-users.self", headers=admin.headers))


async def test_tokens_are_stored_only_as_hashes(app, client, admin: Actor):
    async with app.state.db.read() as conn:
        stored = (await conn.execute(sa.select(auth_tokens.c.token_hash))).scalars().all()
    assert admin.token not in stored
    assert all(len(value) == 64 for value in stored)


async def test_last_used_time_is_recorded(client, admin: Actor):
    await client.get("/dev-users.self", headers=admin.headers)
    listed = await client.post("/auth-tokens.list", json={}, headers=admin.headers)
    assert listed.status_code == 200
    assert_conforms("/auth-tokens.list", "post", 200, listed.json())
    (token,) = listed.json()["tokens"]
    assert token["status"] == "active"
    assert token["last_used_at"].endswith("Z")
    assert token["subject"] == admin.don


async def test_deleting_without_id_revokes_the_calling_token(client, admin: Actor):
    created = await client.post("/auth-tokens.create", json={}, headers=admin.headers)
    assert_conforms("/auth-tokens.create", "post", 201, created.json())
    secret = created.json()["access_token"]
    assert (await client.post("/auth-tokens.delete", json={}, headers={"Authorization": secret})).status_code == 200
    assert_unauthenticated(await client.get("/dev-users.self", headers={"Authorization": secret}))


async def test_a_token_of_another_org_cannot_be_revoked(app, client, admin: Actor):
    from conftest import make_org

    other = await make_org(app, "elsewhere")
    their_token = (await client.get("/auth-tokens.list", headers=other.headers)).json()["tokens"][0]["id"]
    response = await client.post("/auth-tokens.delete", json={"token_id": their_token}, headers=admin.headers)
    assert response.status_code == 404
    assert (await client.get("/dev-users.self", headers=other.headers)).status_code == 200


async def test_public_endpoints_need_no_token(client):
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).status_code == 200


def test_requests_that_verify_a_token_at_once_write_its_last_use_once():
    from incidentd.identity.service import TokenCache, _VerifiedToken

    cache = TokenCache(seconds=2.0)
    hour_ago = 1_700_000_000_000

    def verified() -> _VerifiedToken:
        # What each request reads from the database when the cached entry has just expired.
        return _VerifiedToken(1, "acme", 7, 1, "dev_user", "member", None, hour_ago, 0.0)

    now = hour_ago + 3_600_000
    assert [cache.due_for_touch(verified(), now) for _ in range(64)].count(True) == 1
    assert not cache.due_for_touch(verified(), now + 59_000)
    assert cache.due_for_touch(verified(), now + 60_000)
