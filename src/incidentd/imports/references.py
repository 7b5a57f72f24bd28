"""How an import finds, in the target org, the users, tags, parts and articles a source record names.

- A user: the org's user with the same email (case-insensitive); else the one of the same kind with the same
  display name; else a new user of that kind (dev user when unknown) with the source's email, display name and
  full name and state, role member. A source user with neither email nor display name is the importing sys user.
- A tag: the org's tag of that name (case-insensitive), created when missing.
- A part: the org's part of that name (case-insensitive); a missing product is created (with the source's
  owners), a missing capability, feature or enhancement is dropped (its parent is not in the reference).
- An impacted customer (account): the org's account with that display name (exact), created when missing.
- An article: the org's article with that title; never created (a reference carries no owner nor content): a
  reference to a missing one is dropped and counted.

Each name is looked up once per import; creations go through the owning domain's service, each in a write
transaction of its own (so a caller resolves a record's references before its own unit of work begins).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from incidentd.accounts import schemas as account_schemas
from incidentd.accounts import service as accounts
from incidentd.articles import schemas as article_schemas
from incidentd.articles import service as articles
from incidentd.db import Database
from incidentd.errors import ApiError
from incidentd.identity import service as identity
from incidentd.kit import ids
from incidentd.parts import schemas as part_schemas
from incidentd.parts import service as parts
from incidentd.principal import MEMBER, Principal
from incidentd.tags import schemas as tag_schemas
from incidentd.tags import service as tags


@dataclass(frozen=True)
class SourceUser:
    """A user as a source names it."""

    email: str | None = None
    display_name: str | None = None
    full_name: str | None = None
    kind: str = "dev_user"
    state: str | None = None


@dataclass
class Counts:
    users_created: int = 0
    tags_created: int = 0
    parts_created: int = 0
    accounts_created: int = 0
    dropped: list[str] = field(default_factory=list)  # references to parts or articles that do not exist here


class References:
    """The target org's objects by the names sources use, found (or created) once per import."""

    def __init__(self, db: Database, principal: Principal) -> None:
        self.db, self.principal = db, principal
        self.counts = Counts()
        self._by_email: dict[str, tuple[str, int]] | None = None
        self._by_name: dict[tuple[str, str], tuple[str, int]] = {}
        self._tags: dict[str, int] = {}
        self._parts: dict[str, str | None] = {}
        self._articles: dict[str, int] | None = None
        self._accounts: dict[str, str] = {}

    async def user(self, source: SourceUser | None) -> tuple[str, int]:
        """(kind, number) of the org's user that stands for `source` (created when missing)."""
        principal = self.principal
        if source is None or not (source.email or source.display_name):
            return principal.user_type, principal.user_number
        if self._by_email is None:
            self._by_email = {}
            for row in await identity.list_users(self.db, principal.org):
                if row.email:
                    self._by_email.setdefault(row.email.lower(), (row.user_type, row.number))
                if row.display_name:
                    self._by_name.setdefault((row.user_type, row.display_name), (row.user_type, row.number))
        kind = source.kind if source.kind in ids.USER_KINDS else "dev_user"
        found = self._by_email.get(source.email.lower()) if source.email else None
        if found is None and source.display_name:
            found = self._by_name.get((kind, source.display_name))
        if found is not None:
            return found
        async with self.db.write() as conn:
            row = await identity.create_user(
                conn,
                principal.org,
                email=source.email,
                display_name=source.display_name,
                full_name=source.full_name,
                user_type=kind,
                state=source.state if source.state in identity.USER_STATES else "active",
                role=MEMBER,
            )
        self.counts.users_created += 1
        found = (row.user_type, row.number)
        if source.email:
            self._by_email[source.email.lower()] = found
        self._by_name[(row.user_type, row.display_name)] = found
        return found

    async def user_id(self, source: SourceUser | None) -> str:
        kind, number = await self.user(source)
        return self.principal.org.don(kind, number)

    async def tag_id(self, name: str) -> str:
        key = name.lower()
        if key not in self._tags:
            page = await tags.list_tags(self.db, self.principal, tag_schemas.TagsListRequest(name=[name], limit=1))
            if page.tags:
                self._tags[key] = ids.parse(page.tags[0].id, ("tag",), field_name="tag").number
            else:
                created = await tags.create(self.db, self.principal, tag_schemas.TagsCreateRequest(name=name))
                self._tags[key] = ids.parse(created.id, ("tag",), field_name="tag").number
                self.counts.tags_created += 1
        return self.principal.org.don("tag", self._tags[key])

    async def part_id(self, name: str, part_type: str, owners: list[SourceUser | None]) -> str | None:
        """The org's part of that name; a missing product is created with the source's owners (a capability,
        feature or enhancement would need its parent, which a reference does not name: dropped)."""
        key = name.lower()
        if key not in self._parts:
            request = part_schemas.PartsListRequest(name=[name], limit=1)
            page = await parts.list_parts(self.db, self.principal, request)
            self._parts[key] = page.parts[0].id if page.parts else None
            if self._parts[key] is None and part_type == "product":
                owned_by = [await self.user_id(owner) for owner in owners if owner is not None]
                create = part_schemas.PartsCreateRequest(type="product", name=name, owned_by=owned_by)
                try:
                    self._parts[key] = (await parts.create(self.db, self.principal, create)).id
                    self.counts.parts_created += 1
                except ApiError:  # e.g. no owner this org knows: the reference is dropped, counted below
                    pass
        found = self._parts[key]
        if found is None:
            self.counts.dropped.append(f"part '{name}'")
        return found

    async def article_id(self, title: str | None) -> str | None:
        if self._articles is None:
            self._articles = {}
            cursor: str | None = None
            while True:
                request = article_schemas.ArticlesListRequest(cursor=cursor, limit=100)
                page = await articles.list_articles(self.db, self.principal, request)
                for article in page.articles:
                    if article.title:
                        self._articles.setdefault(
                            article.title.lower(), ids.parse(article.id, ("article",), field_name="article").number
                        )
                if page.next_cursor is None or not page.articles:
                    break
                cursor = page.next_cursor
        number = self._articles.get((title or "").lower())
        if number is None:
            self.counts.dropped.append(f"article '{title}'")
            return None
        return self.principal.org.don("article", number)

    async def account_id(self, display_name: str) -> str:
        if display_name not in self._accounts:
            request = account_schemas.AccountsListRequest(display_name=[display_name], limit=1)
            page = await accounts.list_accounts(self.db, self.principal, request)
            if page.accounts:
                self._accounts[display_name] = page.accounts[0].id
            else:
                create = account_schemas.AccountsCreateRequest(display_name=display_name)
                self._accounts[display_name] = (await accounts.create(self.db, self.principal, create)).account.id
                self.counts.accounts_created += 1
        return self._accounts[display_name]
