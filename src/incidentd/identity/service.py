"""Rules of the identity domain: orgs, principals, tokens. Used by the HTTP routes and the CLI alike."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import service as stage_diagrams
from incidentd.db import Database
from incidentd.errors import BadRequestError, Conflict, InvalidField, NotFound, Unauthenticated
from incidentd.identity import repository, schemas
from incidentd.kit import counters, ids, org_secrets, pages
from incidentd.kit.bounds import MAX_EMAIL, MAX_NAME, check_length
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.time import now_ms
from incidentd.memo import ImmutableRows
from incidentd.principal import ADMIN, MEMBER, ROLES, OrgScope, Principal, require_admin

# A token says its org (`idt_<org number>_<secret>`, kit.org_secrets), so that its lookup goes to one shard on Citus.
TOKEN_PREFIX = "idt_"
PAT = "urn:devrev:params:oauth:token-type:pat"
USER_STATES = ("active", "deactivated", "deleted", "locked", "shadow", "unassigned")
# last_used_at is refreshed at most this often per token, so that reads stay reads.
_TOUCH_EVERY_MS = 60_000
_SLUG_ALPHABET = string.ascii_lowercase + string.digits


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def org_of_token(token: str) -> int | None:
    """The org number a token says it belongs to (a routing hint: kit.org_secrets); None for an older token."""
    return org_secrets.org_of(TOKEN_PREFIX, token)


def new_org_slug() -> str:
    return "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class IssuedToken:
    number: int
    secret: str  # shown once; only its hash is stored
    row: Row[Any]


@dataclass(frozen=True)
class Bootstrap:
    org: OrgScope
    admin_number: int
    token: IssuedToken


# orgs ----------------------------------------------------------------------------------------------


async def create_org(conn: AsyncConnection, *, partition: str, display_name: str, slug: str | None = None) -> OrgScope:
    check_length(display_name, MAX_NAME, field_name="display_name")
    slug = slug or new_org_slug()
    if ids.parse_org(ids.org_don(partition, slug)) is None:
        raise InvalidField(f"'{slug}' is not a valid org slug (letters, digits, '-' and '_')", field_name="slug")
    if await repository.get_org(conn, slug=slug) is not None:
        raise Conflict(f"a dev org with slug '{slug}' exists already")
    org_id = await repository.insert_org(conn, slug=slug, display_name=display_name, now=now_ms())
    org = OrgScope(org_id, slug, partition)
    await stage_diagrams.create_default_incident_diagram(conn, org)
    return org


async def find_org(conn: AsyncConnection, partition: str, slug: str | None) -> OrgScope:
    """The org with this slug, or the only org when `slug` is None."""
    if slug is None:
        orgs = await repository.list_orgs(conn)
        if len(orgs) != 1:
            raise BadRequestError(f"there are {len(orgs)} dev orgs; name one with --org")
        return OrgScope(orgs[0].id, orgs[0].slug, partition)
    row = await repository.get_org(conn, slug=slug)
    if row is None:
        raise NotFound(f"dev org '{slug}' does not exist")
    return OrgScope(row.id, row.slug, partition)


async def bootstrap(db: Database, *, admin_email: str) -> Bootstrap | None:
    """On a database with no org: create the default org, an admin dev user and a token for it."""
    async with db.write() as conn:
        if await repository.count_orgs(conn) > 0:
            return None
        org = await create_org(conn, partition=db.settings.don_partition, display_name="Default", slug="default")
        admin = await create_user(
            conn,
            org,
            email=admin_email,
            full_name="Administrator",
            display_name="admin",
            user_type="dev_user",
            role=ADMIN,
        )
        token = await issue_token(conn, org, admin.number, token_hint="bootstrap admin token")
        return Bootstrap(org, admin.number, token)


# users ---------------------------------------------------------------------------------------------


async def create_user(
    conn: AsyncConnection,
    org: OrgScope,
    *,
    email: str | None,
    full_name: str | None = None,
    display_name: str | None = None,
    user_type: str = "dev_user",
    state: str = "active",
    role: str = MEMBER,
    created_by: int | None = None,
) -> Row[Any]:
    if user_type not in ids.USER_KINDS:
        raise InvalidField(f"'{user_type}' is not a principal kind", field_name="type")
    _check_role(role)
    if state not in USER_STATES:
        raise InvalidField(f"'{state}' is not a user state", field_name="state")
    check_length(full_name, MAX_NAME, field_name="full_name")  # the CLI's names: the wire checked them already
    check_length(display_name, MAX_NAME, field_name="display_name")
    if email is not None:
        email = email.strip()
        if "@" not in email or len(email) > MAX_EMAIL:
            raise InvalidField(f"'{email}' is not an email address", field_name="email")
        if await repository.get_user_by_email(conn, org.dev_org_id, email) is not None:
            raise Conflict(f"a user with email '{email}' exists already")
    number = await counters.allocate(conn, org.dev_org_id, user_type)
    now = now_ms()
    await repository.insert_user(
        conn,
        dev_org_id=org.dev_org_id,
        number=number,
        user_type=user_type,
        email=email,
        full_name=full_name,
        # the default is the address's local part, cut to the column (an address may be 320 characters long)
        display_name=display_name or (email.split("@")[0][:MAX_NAME] if email else f"{user_type}-{number}"),
        state=state,
        role=role,
        created_by=created_by,
        created_date=now,
        modified_by=created_by,
        modified_date=now,
    )
    rows = await repository.get_users(conn, org.dev_org_id, [number])
    return rows[number]


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidField(f"'{role}' is not a role ({', '.join(ROLES)})", field_name="role")


async def resolve_user(
    conn: AsyncConnection,
    org: OrgScope,
    reference: str,
    *,
    kinds: tuple[str, ...] = ids.USER_KINDS,
    field_name: str = "id",
) -> Row[Any]:
    """A user of the org by DON, display id, or email (the CLI's convenience); NotFound otherwise."""
    if "@" in reference and not reference.startswith("don:"):
        row = await repository.get_user_by_email(conn, org.dev_org_id, reference)
    else:
        parsed = ids.parse(reference, kinds, field_name=field_name)
        row = None
        if org.owns(parsed):
            row = (await repository.get_users(conn, org.dev_org_id, [parsed.number])).get(parsed.number)
            if row is not None and row.user_type != parsed.kind.name:
                row = None
    if row is None or row.user_type not in kinds:
        raise NotFound(f"user '{reference}' does not exist")
    return row


async def get_dev_user(db: Database, principal: Principal, reference: str) -> schemas.DevUser:
    async with db.read() as conn:
        row = await resolve_user(conn, principal.org, reference, kinds=("dev_user",))
        return (await _render_users(conn, principal.org, [row]))[0]


async def self_user(db: Database, principal: Principal) -> schemas.DevUser:
    async with db.read() as conn:
        rows = await repository.get_users(conn, principal.org.dev_org_id, [principal.user_number])
        return (await _render_users(conn, principal.org, [rows[principal.user_number]]))[0]


async def create_dev_user(
    db: Database, principal: Principal, *, email: str, state: str, full_name: str | None, display_name: str | None
) -> schemas.DevUser:
    """A new dev user (a member; `incidentd user set-role` promotes); only admins create users."""
    require_admin(principal, "create dev users")
    async with db.write() as conn:
        row = await create_user(
            conn,
            principal.org,
            email=email,
            full_name=full_name,
            display_name=display_name,
            state=state,
            created_by=principal.user_number,
        )
        return (await _render_users(conn, principal.org, [row]))[0]


@dataclass(frozen=True)
class DevUsersPage:
    dev_users: list[schemas.DevUser]
    next_cursor: str | None
    prev_cursor: str | None


async def list_dev_users(db: Database, principal: Principal, request: schemas.DevUsersListRequest) -> DevUsersPage:
    """A page of dev users in id order, with keyset cursors over the user number."""
    check_list_lengths(request)
    page = pages.window(
        request.cursor,
        request.mode,
        request.limit,
        "dev_users",
        sorted(request.email or []),
        sorted(request.state or []),
    )
    async with db.read() as conn:
        rows = list(
            await repository.list_users(
                conn,
                principal.org.dev_org_id,
                user_type="dev_user",
                emails=request.email,
                states=request.state,
                page=page,
            )
        )
        more = len(rows) > page.limit
        rows = sorted(rows[: page.limit], key=lambda row: row.number)
        rendered = await _render_users(conn, principal.org, rows)
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return DevUsersPage(rendered, links.next_cursor, links.prev_cursor)


async def _render_users(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.DevUser]:
    related = {number for row in rows for number in (row.created_by, row.modified_by) if number is not None}
    users = await repository.get_users(conn, org.dev_org_id, related)
    return [schemas.dev_user(row, org, users) for row in rows]


# Users are never deleted, and the columns a summary shows never change (see incidentd.memo); only role does.
_users = ImmutableRows[int, Row[Any]]()


async def users_by_number(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, Row[Any]]:
    """The summary columns (kind, names, email, state) of the org's users with these numbers."""
    return await _users.get(conn, org.dev_org_id, numbers, repository.get_user_summaries)


async def list_users(db: Database, org: OrgScope) -> list[Row[Any]]:
    """Every principal of the org by number, with its role (for the CLI)."""
    async with db.read() as conn:
        return list(await repository.list_all_users(conn, org.dev_org_id))


async def set_role(db: Database, org: OrgScope, reference: str, role: str) -> Row[Any]:
    """Make a principal an admin or a member of its org (an operator's act: the CLI). Tokens of the user that this
    process remembers are forgotten at once; other processes see the new role within `TOKEN_CACHE_SECONDS`."""
    _check_role(role)
    async with db.write() as conn:
        user = await resolve_user(conn, org, reference, field_name="user")
        if role != ADMIN and await repository.admin_numbers(conn, org.dev_org_id) == [user.number]:
            raise Conflict(
                f"{ids.to_display(user.user_type, user.number)} is the org's last admin: make another user admin "
                "first, so that someone can still administer the org"
            )
        await repository.set_role(conn, org.dev_org_id, user.number, role, now_ms())
        updated = (await repository.get_users(conn, org.dev_org_id, [user.number]))[user.number]
    token_cache(db).forget_user(org.dev_org_id, user.number)
    return updated


async def change_role(db: Database, principal: Principal, reference: str, role: str) -> schemas.DevUser:
    """An admin makes a dev user of the org an admin or a member (`set_role`'s rules: never the last admin)."""
    require_admin(principal, "change roles")
    async with db.read() as conn:
        await resolve_user(conn, principal.org, reference, kinds=("dev_user",), field_name="user")
    row = await set_role(db, principal.org, reference, role)
    async with db.read() as conn:
        return (await _render_users(conn, principal.org, [row]))[0]


async def user_kinds(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """{number: user_type} of the users that exist, in one query (a `kit.references.Lookup` for other domains)."""
    return await repository.user_kinds(conn, dev_org_id, numbers)


async def list_orgs(conn: AsyncConnection) -> list[Row[Any]]:
    """Every dev org (for the CLI)."""
    return list(await repository.list_orgs(conn))


async def tokens_of(conn: AsyncConnection, org: OrgScope, user_number: int | None) -> list[Row[Any]]:
    """The org's token rows (one user's if `user_number`), of every type; never their secrets (for the CLI)."""
    return list(await repository.list_tokens(conn, org.dev_org_id, user_number=user_number, requested_token_type=None))


# tokens --------------------------------------------------------------------------------------------


async def issue_token(
    conn: AsyncConnection,
    org: OrgScope,
    user_number: int,
    *,
    expires_in_days: int | None = None,
    token_hint: str | None = None,
    requested_token_type: str = PAT,
    scopes: str | None = None,
) -> IssuedToken:
    if expires_in_days is not None and not 0 <= expires_in_days <= schemas.MAX_EXPIRES_IN_DAYS:
        raise InvalidField(
            f"expires_in must be between 0 (never expires) and {schemas.MAX_EXPIRES_IN_DAYS} days",
            field_name="expires_in",
        )
    check_length(token_hint, MAX_NAME, field_name="token_hint")  # the CLI's --hint: the wire checked it already
    number = await counters.allocate(conn, org.dev_org_id, "auth_token")
    secret = org_secrets.new(TOKEN_PREFIX, org.dev_org_id)
    now = now_ms()
    await repository.insert_token(
        conn,
        dev_org_id=org.dev_org_id,
        number=number,
        user_number=user_number,
        token_hash=hash_token(secret),
        token_hint=token_hint,
        requested_token_type=requested_token_type,
        scopes=scopes,
        issued_at=now,
        expires_at=now + expires_in_days * 86_400_000 if expires_in_days else None,
    )
    row = await repository.get_token(conn, org.dev_org_id, number)
    assert row is not None
    return IssuedToken(number, secret, row)


@dataclass
class _VerifiedToken:
    dev_org_id: int
    org_slug: str
    number: int
    user_number: int
    user_type: str
    role: str
    expires_at: int | None
    last_used_at: int | None
    verified_at: float  # monotonic seconds


class TokenCache:
    """Tokens of one database verified in the last `TOKEN_CACHE_SECONDS`, so that most requests skip the token
    lookup. Only valid tokens are kept (unknown ones cannot fill it); revoking through this process forgets a token
    at once, and other processes stop accepting it within `TOKEN_CACHE_SECONDS`."""

    def __init__(self, seconds: float, capacity: int = 10_000) -> None:
        self.seconds = seconds
        self.capacity = capacity
        self._tokens: dict[str, _VerifiedToken] = {}
        # (org, token number) -> when this process last refreshed the token's last_used_at. Kept apart from the
        # verified tokens: when those expire, the requests that verify a token again at the same moment would all
        # read the old last_used_at and all queue to write it.
        self._touched: dict[tuple[int, int], int] = {}

    def get(self, token_hash: str) -> _VerifiedToken | None:
        found = self._tokens.get(token_hash)
        if found is not None and time.monotonic() - found.verified_at > self.seconds:
            del self._tokens[token_hash]
            return None
        return found

    def put(self, token_hash: str, verified: _VerifiedToken) -> None:
        if len(self._tokens) >= self.capacity:
            self._tokens.pop(next(iter(self._tokens)))
        self._tokens[token_hash] = verified

    def due_for_touch(self, verified: _VerifiedToken, now: int) -> bool:
        """True (once per interval and process) when the token's last_used_at should be written again."""
        key = (verified.dev_org_id, verified.number)
        last = max(verified.last_used_at or 0, self._touched.get(key, 0))
        if now - last < _TOUCH_EVERY_MS:
            return False
        if len(self._touched) >= self.capacity:
            self._touched.clear()
        self._touched[key] = now
        return True

    def forget(self, dev_org_id: int, number: int) -> None:
        for token_hash, verified in list(self._tokens.items()):
            if (verified.dev_org_id, verified.number) == (dev_org_id, number):
                del self._tokens[token_hash]

    def forget_user(self, dev_org_id: int, user_number: int) -> None:
        """Forget every token of a user (its role changed: the next request reads it again)."""
        for token_hash, verified in list(self._tokens.items()):
            if (verified.dev_org_id, verified.user_number) == (dev_org_id, user_number):
                del self._tokens[token_hash]


TOKEN_CACHE_SECONDS = 2.0
_token_caches: weakref.WeakKeyDictionary[Database, TokenCache] = weakref.WeakKeyDictionary()


def token_cache(db: Database) -> TokenCache:
    cache = _token_caches.get(db)
    if cache is None:
        cache = _token_caches[db] = TokenCache(TOKEN_CACHE_SECONDS)
    return cache


async def _verify(db: Database, token_hash: str, dev_org_id: int | None) -> _VerifiedToken:
    async with db.read() as conn:
        row = await repository.find_token(conn, token_hash, dev_org_id=dev_org_id)
    # The lookup is by hash; comparing the hash again in constant time keeps timing independent of the secret.
    if row is None or not hmac.compare_digest(row.token_hash, token_hash):
        raise Unauthenticated("the token is not valid")
    if row.revoked_at is not None:
        raise Unauthenticated("the token has been revoked")
    if row.user_state not in ("active", "shadow"):
        raise Unauthenticated("the token's user is not active")
    return _VerifiedToken(
        row.dev_org_id,
        row.org_slug,
        row.number,
        row.user_number,
        row.user_type,
        row.role,
        row.expires_at,
        row.last_used_at,
        time.monotonic(),
    )


async def authenticate(db: Database, partition: str, token: str) -> Principal:
    """The principal a token stands for; Unauthenticated if it is unknown, revoked, expired or its user inactive."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 256:
        raise Unauthenticated("the token is not valid")
    token_hash = hash_token(token)
    cache = token_cache(db)
    verified = cache.get(token_hash)
    if verified is None:
        verified = await _verify(db, token_hash, org_of_token(token))
        cache.put(token_hash, verified)
    now = now_ms()
    if verified.expires_at is not None and verified.expires_at <= now:
        cache.forget(verified.dev_org_id, verified.number)
        raise Unauthenticated("the token has expired")
    if cache.due_for_touch(verified, now):
        async with db.write() as conn:
            await repository.touch_token(conn, verified.dev_org_id, verified.number, now)
    org = OrgScope(verified.dev_org_id, verified.org_slug, partition)
    return Principal(org, verified.user_number, verified.user_type, verified.number, verified.role)


def token_status(row: Row[Any], now: int | None = None) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= (now if now is not None else now_ms()):
        return "expired"
    return "active"


async def create_token(
    db: Database,
    principal: Principal,
    *,
    act_as: str | None,
    expires_in_days: int | None,
    token_hint: str | None,
    requested_token_type: str | None,
    scope: str | None,
) -> IssuedToken:
    """A token for the caller, or (admins only) for another dev user or service account of the org (`act_as`)."""
    async with db.write() as conn:
        user_number = principal.user_number
        if act_as is not None:
            user_number = (
                await resolve_user(
                    conn, principal.org, act_as, kinds=("dev_user", "service_account"), field_name="act_as"
                )
            ).number
            if user_number != principal.user_number:
                require_admin(principal, "create tokens that act as another user")
        return await issue_token(
            conn,
            principal.org,
            user_number,
            expires_in_days=expires_in_days,
            token_hint=token_hint,
            requested_token_type=requested_token_type or PAT,
            scopes=scope,
        )


async def token_of_hash(db: Database, principal: Principal, token_hash: str) -> schemas.AuthToken | None:
    """Metadata of the caller's org's token whose secret hashes to `token_hash` (None if there is none)."""
    async with db.read() as conn:
        row = await repository.find_token(conn, token_hash, dev_org_id=principal.org.dev_org_id)
    if row is None or row.dev_org_id != principal.org.dev_org_id:
        return None
    subject = principal.org.don(row.user_type, row.user_number)
    return schemas.auth_token(row, principal.org, status=token_status(row), subject=subject)


async def list_tokens(
    db: Database, principal: Principal, *, subject: str | None, requested_token_type: str | None
) -> list[schemas.AuthToken]:
    """Metadata of the subject's tokens (the caller's by default; another user's for admins); never the secrets."""
    async with db.read() as conn:
        user = (
            await resolve_user(conn, principal.org, subject, field_name="subject")
            if subject is not None
            else (await repository.get_users(conn, principal.org.dev_org_id, [principal.user_number]))[
                principal.user_number
            ]
        )
        if user.number != principal.user_number:
            require_admin(principal, "list another user's tokens")
        rows = await repository.list_tokens(
            conn, principal.org.dev_org_id, user_number=user.number, requested_token_type=requested_token_type
        )
    subject_don = principal.org.don(user.user_type, user.number)
    now = now_ms()
    return [schemas.auth_token(row, principal.org, status=token_status(row, now), subject=subject_don) for row in rows]


async def revoke_token(db: Database, org: OrgScope, token_id: str | None, *, caller: Principal | None = None) -> None:
    """Revoke a token of the org by id, or the caller's own token when no id is given. A caller who is not an admin
    revokes only their own tokens; without a caller (the CLI's operator) any token of the org."""
    async with db.write() as conn:
        if token_id is None:
            if caller is None or caller.token_number is None:
                raise InvalidField("token_id is required", field_name="token_id")
            number = caller.token_number
        else:
            parsed = ids.parse(token_id, "auth_token", field_name="token_id")
            number = parsed.number if org.owns(parsed) else 0
        row = await repository.get_token(conn, org.dev_org_id, number)
        if row is None:
            raise NotFound(f"token '{token_id}' does not exist")
        if caller is not None and row.user_number != caller.user_number:
            require_admin(caller, "revoke another user's tokens")
        await repository.revoke_token(conn, org.dev_org_id, number, now_ms())
    token_cache(db).forget(org.dev_org_id, number)
