"""Rules of logging in: argon2 passwords, one-time login links, server-side sessions (idle and absolute expiry,
revocable). Used by the web app and the CLI; never imports the web framework.

A session's cookie carries a random secret; the table holds its SHA-256 only. The CSRF token of a session is an
HMAC of that secret, so it needs no storage and cannot be derived without the cookie."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from incidentd.config import Settings
from incidentd.db import Database
from incidentd.errors import InvalidField, NotFound, Unauthenticated
from incidentd.identity import schemas as identity_schemas
from incidentd.identity import service as identity
from incidentd.kit import org_secrets
from incidentd.kit.time import now_ms
from incidentd.logins import repository
from incidentd.principal import OrgScope, Principal, require_admin

# Session and login-link secrets say their org (`ids_<org number>_<secret>`, kit.org_secrets): one shard on Citus.
SESSION_PREFIX = "ids_"
LINK_PREFIX = "idl_"
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
MAX_EMAIL = 320
# last_seen_at is written at most this often per session, so that page views stay reads.
TOUCH_EVERY_MS = 60_000
# Logging in with a wrong email or password is told apart by neither message nor timing.
BAD_LOGIN = "the email or password is not right"

_hasher = PasswordHasher()
# Verified against when the email has no password, so that an unknown email takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token(session_secret: str) -> str:
    """The CSRF token of the session whose cookie holds `session_secret`."""
    return hmac.new(session_secret.encode("utf-8"), b"incidentd csrf", hashlib.sha256).hexdigest()


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidField(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters; this one has {len(password)}",
            field_name="password",
        )


async def set_password(db: Database, org: OrgScope, user: str, password: str) -> int:
    """Set a dev user's password (by email, DON or display id) and end their sessions; the user's number."""
    check_password_rules(password)
    hashed = await asyncio.to_thread(_hasher.hash, password)
    async with db.write() as conn:
        row = await identity.resolve_user(conn, org, user, kinds=("dev_user",), field_name="user")
        now = now_ms()
        await repository.set_password_hash(conn, org.dev_org_id, row.number, hashed, now)
        await repository.revoke_user_sessions(conn, org.dev_org_id, row.number, now)
    return int(row.number)


@dataclass(frozen=True)
class IssuedSession:
    secret: str  # goes into the cookie once; only its hash is stored
    max_age_seconds: int


async def _open(db: Database, org: OrgScope, user_number: int) -> IssuedSession:
    settings = db.settings
    secret = org_secrets.new(SESSION_PREFIX, org.dev_org_id)
    now = now_ms()
    async with db.write() as conn:
        await repository.insert_session(
            conn,
            dev_org_id=org.dev_org_id,
            session_hash=secret_hash(secret),
            user_number=user_number,
            created_at=now,
            last_seen_at=now,
            expires_at=now + settings.web_session_max_seconds * 1000,
        )
    return IssuedSession(secret, settings.web_session_max_seconds)


async def log_in(db: Database, org_slug: str | None, email: str, password: str) -> IssuedSession:
    """A new session for the active dev user with this email and password; Unauthenticated otherwise (the same
    message whichever was wrong)."""
    if not email or len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
        raise Unauthenticated(BAD_LOGIN)
    async with db.read() as conn:
        try:
            org = await identity.find_org(conn, db.settings.don_partition, org_slug or None)
            user = await identity.resolve_user(conn, org, email, kinds=("dev_user",), field_name="email")
        except NotFound:
            org, user = None, None
        stored = await repository.password_hash(conn, org.dev_org_id, user.number) if org and user else None
    verified = False
    try:
        verified = await asyncio.to_thread(_hasher.verify, stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        pass
    if not verified or stored is None or org is None or user is None or user.state != "active":
        raise Unauthenticated(BAD_LOGIN)
    return await _open(db, org, user.number)


async def issue_login_link(db: Database, org: OrgScope, user: str) -> str:
    """A one-time login link secret for an active dev user (by email, DON or display id)."""
    secret = org_secrets.new(LINK_PREFIX, org.dev_org_id)
    now = now_ms()
    async with db.write() as conn:
        row = await identity.resolve_user(conn, org, user, kinds=("dev_user",), field_name="user")
        if row.state != "active":
            raise InvalidField(f"user '{user}' is {row.state}; only active users log in", field_name="user")
        await repository.insert_login_link(
            conn,
            dev_org_id=org.dev_org_id,
            link_hash=secret_hash(secret),
            user_number=row.number,
            created_at=now,
            expires_at=now + db.settings.web_login_link_seconds * 1000,
        )
    return secret


async def link_for(db: Database, principal: Principal, user: str) -> str:
    """A one-time login link secret for a user of the caller's org, issued by an admin (the web app's users page:
    what `incidentd login-link` prints)."""
    require_admin(principal, "issue login links")
    return await issue_login_link(db, principal.org, user)


async def invite(
    db: Database, principal: Principal, *, email: str, display_name: str | None
) -> tuple[identity_schemas.DevUser, str]:
    """A new active dev user (a member) and a one-time login link secret for them; only admins invite."""
    user = await identity.create_dev_user(
        db, principal, email=email, state="active", full_name=None, display_name=display_name
    )
    return user, await link_for(db, principal, user.id)


async def redeem_login_link(db: Database, secret: str) -> IssuedSession:
    """A new session for the link's user; the link works once, before it expires."""
    if not secret.startswith(LINK_PREFIX) or len(secret) > 128:
        raise Unauthenticated("the login link is not valid")
    link_hash = secret_hash(secret)
    now = now_ms()
    async with db.write() as conn:
        row = await repository.find_login_link(conn, link_hash, dev_org_id=org_secrets.org_of(LINK_PREFIX, secret))
        if row is None or not hmac.compare_digest(row.link_hash, link_hash):
            raise Unauthenticated("the login link is not valid")
        if row.expires_at <= now:
            raise Unauthenticated("the login link has expired; ask for a new one (incidentd login-link)")
        if not await repository.use_login_link(conn, row.dev_org_id, link_hash, now):
            raise Unauthenticated("the login link has been used already; ask for a new one (incidentd login-link)")
    return await _open(db, OrgScope(row.dev_org_id, row.org_slug, db.settings.don_partition), row.user_number)


@dataclass(frozen=True)
class WebSession:
    """A live session: who it acts as, its CSRF token, and what the page header shows."""

    principal: Principal
    csrf_token: str
    email: str | None
    display_name: str | None


async def session_of(db: Database, secret: str, *, touch: bool = True) -> WebSession:
    """The live session a cookie secret opens; Unauthenticated when it is unknown, revoked, idle too long, past
    its absolute end, or its user is no longer active. `touch=False` checks without counting as activity (an open
    events stream re-checks its session without keeping an idle tab's session alive)."""
    if not secret.startswith(SESSION_PREFIX) or len(secret) > 128:
        raise Unauthenticated("not logged in")
    session_hash = secret_hash(secret)
    settings: Settings = db.settings
    async with db.read() as conn:
        row = await repository.find_session(conn, session_hash, dev_org_id=org_secrets.org_of(SESSION_PREFIX, secret))
    now = now_ms()
    if row is None or not hmac.compare_digest(row.session_hash, session_hash) or row.revoked_at is not None:
        raise Unauthenticated("not logged in")
    if row.expires_at <= now or row.last_seen_at + settings.web_session_idle_seconds * 1000 <= now:
        raise Unauthenticated("the session has expired; log in again")
    if row.user_state != "active":
        raise Unauthenticated("the user is not active")
    if touch and now - row.last_seen_at >= TOUCH_EVERY_MS:
        async with db.write() as conn:
            await repository.touch_session(conn, row.dev_org_id, session_hash, now)
    org = OrgScope(row.dev_org_id, row.org_slug, settings.don_partition)
    principal = Principal(org, row.user_number, row.user_type, None, row.role)
    return WebSession(principal, csrf_token(secret), row.email, row.display_name)


async def end_session(db: Database, secret: str) -> None:
    """Log out: the session's row is revoked (a copied cookie stops working too)."""
    session_hash = secret_hash(secret)
    async with db.write() as conn:
        row = await repository.find_session(conn, session_hash, dev_org_id=org_secrets.org_of(SESSION_PREFIX, secret))
        if row is not None:
            await repository.revoke_session(conn, row.dev_org_id, session_hash, now_ms())


async def end_user_sessions(db: Database, org: OrgScope, user: str) -> int:
    """Revoke every live session of a dev user (by email, DON or display id); how many there were."""
    async with db.write() as conn:
        row = await identity.resolve_user(conn, org, user, kinds=("dev_user",), field_name="user")
        return await repository.revoke_user_sessions(conn, org.dev_org_id, row.number, now_ms())
