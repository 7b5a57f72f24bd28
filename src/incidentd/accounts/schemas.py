"""Wire types of /accounts.* (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.identity.schemas import user_summary
from incidentd.kit import ids
from incidentd.kit.bounds import VALUES, Cursor, Id, Names
from incidentd.kit.pages import PageLimit
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import DateTimeFilter, Request, Response, UserSummary
from incidentd.principal import OrgScope

# At least one visible character; the column holds 256.
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=65_536)]
Tier = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# One domain, external ref or website.
Entry = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Entries = Annotated[list[Entry], VALUES]
ListMode = Literal["after", "before"]


class AccountSummary(Response):
    """DevRev's account-summary, as incidents render their impacted customers."""

    id: str
    display_id: str | None = None
    display_name: str | None = None


class Account(Response):
    id: str
    owned_by: list[UserSummary]  # required by DevRev's account; incidentd keeps no account owners
    display_id: str | None = None
    display_name: str | None = None
    description: str | None = None
    domains: list[str] | None = None
    external_refs: list[str] | None = None
    tier: str | None = None
    websites: list[str] | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None


class DefaultRevOrg(Response):
    """DevRev's rev-org that accounts.create answers with (see `default_rev_org`)."""

    id: str
    display_name: str | None = None
    account: AccountSummary | None = None
    created_date: str | None = None
    modified_date: str | None = None


class AccountsCreateRequest(Request):
    display_name: DisplayName
    description: Description | None = None
    domains: Entries | None = None
    external_refs: Entries | None = None
    tier: Tier | None = None
    websites: Entries | None = None


class AccountsCreateResponse(Response):
    account: Account
    default_rev_org: DefaultRevOrg


class AccountsGetRequest(Request):
    id: Id


class AccountsGetResponse(Response):
    account: Account


class AccountsListRequest(Request):
    created_date: DateTimeFilter | None = None
    cursor: Cursor | None = None
    display_name: Names | None = None
    domains: Entries | None = None
    external_refs: Entries | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    modified_date: DateTimeFilter | None = None
    tier: Names | None = None
    websites: Entries | None = None


class AccountsListResponse(Response):
    accounts: list[Account]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class AccountsUpdateWebsites(Request):
    set: Entries | None = None


class AccountsUpdateRequest(Request):
    id: Id
    display_name: DisplayName | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET  # null clears it
    domains: Entries | UnsetType = UNSET  # replaces the list
    external_refs: Entries | UnsetType = UNSET  # replaces the list
    tier: Tier | UnsetType | None = UNSET  # null clears it
    websites: AccountsUpdateWebsites | UnsetType = UNSET


class AccountsUpdateResponse(Response):
    account: Account


class AccountsDeleteRequest(Request):
    id: Id


# rows -> wire ----------------------------------------------------------------------------------------


def account_summary(row: Any, org: OrgScope) -> AccountSummary:
    return AccountSummary(
        id=org.don("account", row.number),
        display_id=ids.to_display("account", row.number),
        display_name=row.display_name,
    )


def account(row: Any, org: OrgScope, users: dict[int, Any]) -> Account:
    """The account object; `users` holds the rows of its creator and modifier (resolved in one query)."""
    creator = users.get(row.created_by) if row.created_by is not None else None
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return Account(
        id=org.don("account", row.number),
        display_id=ids.to_display("account", row.number),
        display_name=row.display_name,
        description=row.description,
        domains=row.domains or None,
        external_refs=row.external_refs or None,
        tier=row.tier,
        websites=row.websites or None,
        owned_by=[],
        created_by=user_summary(creator, org) if creator is not None else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(modifier, org) if modifier is not None else None,
        modified_date=to_rfc3339(row.modified_date),
    )


def default_rev_org(row: Any, org: OrgScope) -> DefaultRevOrg:
    """The account's default rev org. incidentd keeps no rev orgs: every account stands for exactly one, named
    after it and numbered like it (`revo/<n>`), which DevRev's create response requires."""
    return DefaultRevOrg(
        id=f"don:identity:{org.partition}:devo/{org.slug}:revo/{row.number}",
        display_name=row.display_name,
        account=account_summary(row, org),
        created_date=to_rfc3339(row.created_date),
        modified_date=to_rfc3339(row.modified_date),
    )
