"""Logging in to the web app: passwords, login links, sessions (cookie flags, expiry, revocation), logout, the
login throttle and CSRF on every POST."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner
from webpages import PASSWORD, csrf_of, give_password, log_in, logged_in

from conftest import Actor, make_org, running
from incidentd.app import create_app
from incidentd.cli import app as cli
from incidentd.config import get_settings
from incidentd.kit import org_secrets
from incidentd.logins import service as logins
from incidentd.logins.tables import user_passwords, web_sessions

EMAIL = "admin@incidentd.local"


async def test_pages_send_a_visitor_without_a_session_to_the_login_page(client, admin: Actor):
    for path in ("/", "/web", "/web/incidents", "/web/incidents/new", "/web/incidents/INC-1"):
        answer = await client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/web/login?next="), path


async def test_the_api_still_answers_with_tokens_and_json(client, admin: Actor):
    answer = await client.get("/incidents.list", headers=admin.headers)
    assert answer.status_code == 200
    assert (await client.get("/incidents.list")).json()["type"] == "unauthenticated"


async def test_log_in_with_a_password_sets_an_httponly_lax_session_cookie_stored_hashed(app, client, admin: Actor):
    await give_password(app, admin.org, EMAIL)
    answer = await log_in(client, EMAIL)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/web/incidents"
    set_cookie = [value for value in answer.headers.get_list("set-cookie") if value.startswith("incidentd_session=")]
    assert len(set_cookie) == 1
    flags = set_cookie[0].lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain HTTP without a trusted proxy
    secret = client.cookies["incidentd_session"]
    async with app.state.db.read() as conn:
        stored = (await conn.execute(sa.select(web_sessions))).all()
        hashes = (await conn.execute(sa.select(user_passwords.c.password_hash))).scalars().all()
    assert [row.session_hash for row in stored] == [logins.secret_hash(secret)]
    assert secret not in str(stored)
    assert hashes[0].startswith("$argon2id$") and PASSWORD not in hashes[0]
    board = await client.get("/web/incidents")
    assert board.status_code == 200 and "Log out" in board.text


async def test_session_cookies_are_secure_over_https_and_behind_a_trusted_proxy(app, settings, admin: Actor):
    await give_password(app, admin.org, EMAIL)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://incidentd.test") as https:
        answer = await log_in(https, EMAIL)
    assert "secure" in answer.headers["set-cookie"].lower()
    async with httpx.AsyncClient(transport=transport, base_url="http://incidentd.test") as proxied:
        answer = await proxied.get("/web/login", headers={"x-forwarded-proto": "https"})
    assert "secure" not in answer.headers["set-cookie"].lower()  # the header is not trusted by default
    trusting = create_app(settings.model_copy(update={"web_trust_forwarded_proto": True}))
    async with running(trusting):
        transport = httpx.ASGITransport(app=trusting)
        async with httpx.AsyncClient(transport=transport, base_url="http://incidentd.test") as proxied:
            answer = await proxied.get("/web/login", headers={"x-forwarded-proto": "https"})
            assert "secure" in answer.headers["set-cookie"].lower()
            answer = await proxied.get("/web/login")
            assert "secure" not in answer.headers["set-cookie"].lower()


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(app, client, admin: Actor):
    await give_password(app, admin.org, EMAIL)
    wrong = await log_in(client, EMAIL, "not the password at all")
    unknown = await log_in(client, "nobody@incidentd.local", "not the password at all")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert logins.BAD_LOGIN in answer.text
        assert "incidentd_session" not in answer.headers.get("set-cookie", "")


async def test_a_session_and_a_login_link_say_their_org_and_older_sessions_still_work(app, client, admin: Actor):
    """The org part routes the lookup (one shard on Citus); changed, the session is looked up in another org and
    not found. A session of the older form (`ids_` and 43 characters) is looked up by its hash alone."""
    link = await logins.issue_login_link(app.state.db, admin.org, EMAIL)
    assert org_secrets.org_of(logins.LINK_PREFIX, link) == admin.org.dev_org_id
    await logged_in(app, client, admin.org, EMAIL)
    secret = client.cookies["incidentd_session"]
    assert org_secrets.org_of(logins.SESSION_PREFIX, secret) == admin.org.dev_org_id
    other = await make_org(app, "elsewhere")
    entropy = secret.removeprefix(f"{logins.SESSION_PREFIX}{admin.org.dev_org_id}_")
    client.cookies.set("incidentd_session", f"{logins.SESSION_PREFIX}{other.org.dev_org_id}_{entropy}")
    assert (await client.get("/web/incidents")).status_code == 303  # to the login page

    older = logins.SESSION_PREFIX + "o" * 43
    async with app.state.db.write() as conn:
        row = (await conn.execute(sa.select(web_sessions))).one()._asdict()
        await conn.execute(sa.insert(web_sessions).values({**row, "session_hash": logins.secret_hash(older)}))
    client.cookies.set("incidentd_session", older)
    board = await client.get("/web/incidents")
    assert board.status_code == 200 and "Log out" in board.text


async def test_logout_revokes_the_session_row_so_a_copied_cookie_stops_working(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, EMAIL)
    secret = client.cookies["incidentd_session"]
    answer = await client.post("/web/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303 and answer.headers["location"] == "/web/login"
    client.cookies.set("incidentd_session", secret)  # a copy kept elsewhere
    assert (await client.get("/web/incidents")).status_code == 303
    async with app.state.db.read() as conn:
        assert (await conn.execute(sa.select(web_sessions.c.revoked_at))).scalar_one() is not None


async def test_setting_a_password_again_ends_the_users_sessions(app, client, admin: Actor):
    await logged_in(app, client, admin.org, EMAIL)
    await give_password(app, admin.org, EMAIL, "another long password")
    assert (await client.get("/web/incidents")).status_code == 303


async def test_sessions_end_when_idle_too_long_and_at_their_absolute_end(app, client, admin: Actor):
    await logged_in(app, client, admin.org, EMAIL)
    idle = app.state.settings.web_session_idle_seconds * 1000
    async with app.state.db.write() as conn:
        await conn.execute(sa.update(web_sessions).values(last_seen_at=web_sessions.c.last_seen_at - idle - 1))
    assert (await client.get("/web/incidents")).status_code == 303

    await logged_in(app, client, admin.org, EMAIL)
    async with app.state.db.write() as conn:
        await conn.execute(sa.update(web_sessions).where(web_sessions.c.revoked_at.is_(None)).values(expires_at=1))
    assert (await client.get("/web/incidents")).status_code == 303


async def test_a_session_is_touched_at_most_once_a_minute(app, client, admin: Actor):
    await logged_in(app, client, admin.org, EMAIL)
    async with app.state.db.write() as conn:
        await conn.execute(sa.update(web_sessions).values(last_seen_at=web_sessions.c.last_seen_at - 120_000))
        before = (await conn.execute(sa.select(web_sessions.c.last_seen_at))).scalar_one()
    await client.get("/web/incidents")
    async with app.state.db.read() as conn:
        touched = (await conn.execute(sa.select(web_sessions.c.last_seen_at))).scalar_one()
    assert touched > before + 60_000


async def test_a_post_without_the_csrf_token_is_403_and_changes_nothing(app, client, admin: Actor):
    csrf = await logged_in(app, client, admin.org, EMAIL)
    for data in ({"title": "no token"}, {"title": "wrong token", "csrf_token": "0" * 64}):
        answer = await client.post("/web/incidents/new", data=data)
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("text/html")
        assert "CSRF" in answer.text
    assert (await client.post("/web/logout", data={})).status_code == 403
    assert (await client.get("/incidents.list", headers=admin.headers)).json()["incidents"] == []
    # The token of another session does not pass either.
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://incidentd.test")
    async with other:
        assert (await log_in(other, EMAIL)).status_code == 303
        other_csrf = csrf_of((await other.get("/web/incidents")).text)
    assert other_csrf != csrf
    answer = await client.post("/web/incidents/new", data={"title": "x", "csrf_token": other_csrf})
    assert answer.status_code == 403
    # htmx sends the token as a header.
    answer = await client.post("/web/incidents/new", data={"title": "by htmx"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 303


async def test_the_login_form_needs_its_csrf_cookie(app, client, admin: Actor):
    await give_password(app, admin.org, EMAIL)
    answer = await client.post("/web/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": "x"})
    assert answer.status_code == 403


async def test_login_attempts_are_rate_limited_per_email(app, client, admin: Actor):
    await give_password(app, admin.org, EMAIL)
    limit = app.state.settings.web_login_attempts
    for _ in range(limit):
        assert (await log_in(client, EMAIL, "wrong password here")).status_code == 401
    blocked = await log_in(client, EMAIL)  # the right password, too late
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert "too many login attempts" in blocked.text
    assert "incidentd_session" not in blocked.headers.get("set-cookie", "")


@pytest.fixture
def runner(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", database_url)
    yield CliRunner()
    get_settings.cache_clear()


async def test_cli_sets_a_password_and_prints_a_login_link_that_works_once(app, client, admin: Actor, runner):
    result = await _invoke(runner, ["user", "set-password", EMAIL, "--password-stdin"], input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "password set for don:identity:" in result.output
    assert (await log_in(client, EMAIL)).status_code == 303

    too_short = await _invoke(runner, ["user", "set-password", EMAIL, "--password-stdin"], input="short\n")
    assert too_short.exit_code == 1 and "12 to 1024 characters" in too_short.output

    link = await _invoke(runner, ["login-link", EMAIL, "--url", "https://incidents.example"])
    assert link.exit_code == 0, link.output
    url = link.output.strip()
    secret = re.fullmatch(r"https://incidents\.example/web/login/link/(idl_\S+)", url).group(1)
    fresh = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://incidentd.test")
    async with fresh:
        confirm = await fresh.get(f"/web/login/link/{secret}")
        assert confirm.status_code == 200
        assert "incidentd_session" not in fresh.cookies  # looking at the link does not log in
        data = {"csrf_token": csrf_of(confirm.text), "secret": secret}
        used = await fresh.post("/web/login/link", data=data)
        assert used.status_code == 303 and "incidentd_session" in fresh.cookies
        assert (await fresh.get("/web/incidents")).status_code == 200
        confirm = await fresh.get(f"/web/login/link/{secret}")
        again = await fresh.post("/web/login/link", data={"csrf_token": csrf_of(confirm.text), "secret": secret})
        assert again.status_code == 401 and "used already" in again.text


async def test_an_expired_login_link_does_not_log_in(app, client, admin: Actor):
    secret = await logins.issue_login_link(app.state.db, admin.org, EMAIL)
    from incidentd.logins.tables import login_links

    async with app.state.db.write() as conn:
        await conn.execute(sa.update(login_links).values(expires_at=1))
    confirm = await client.get(f"/web/login/link/{secret}")
    answer = await client.post("/web/login/link", data={"csrf_token": csrf_of(confirm.text), "secret": secret})
    assert answer.status_code == 401 and "expired" in answer.text


async def test_with_several_orgs_the_login_form_asks_for_the_org(app, client, admin: Actor):
    other = await make_org(app, "acme")
    await give_password(app, other.org, "owner@acme.test")
    form = await client.get("/web/login")
    assert 'name="org"' in form.text
    assert (await log_in(client, "owner@acme.test", org="acme")).status_code == 303
    assert (await log_in(client, "owner@acme.test", org="default")).status_code == 401


async def _invoke(runner: CliRunner, args: list[str], input: str | None = None):
    import asyncio

    return await asyncio.to_thread(runner.invoke, cli, args, input=input)


async def test_login_link_and_session_secrets_never_reach_a_log_line(app, client, admin: Actor):
    from incidentd.logs import redact_text

    link = await logins.issue_login_link(app.state.db, admin.org, EMAIL)
    session = await logins.redeem_login_link(app.state.db, link)
    for line in (f'"GET /web/login/link/{link} HTTP/1.1" 200', f"session {session.secret} ended"):
        masked = redact_text(line)
        assert link not in masked and session.secret not in masked and "[redacted]" in masked
    assert redact_text("customer_ids_total and ids_list") == "customer_ids_total and ids_list"
