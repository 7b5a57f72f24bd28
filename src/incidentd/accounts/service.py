"""Rules of the accounts domain: the customers an incident impacts, with external refs unique per org."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.accounts import repository, schemas
from incidentd.db import Database
from incidentd.errors import Conflict, NotFound
from incidentd.identity import service as identity
from incidentd.kit import counters, ids, pages
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.time import now_ms, parse_window
from incidentd.principal import OrgScope, Principal


async def summaries(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, schemas.AccountSummary]:
    """DevRev's account-summary of each existing account among `numbers`, in one query."""
    rows = await repository.get_accounts(conn, org.dev_org_id, numbers)
    return {number: schemas.account_summary(row, org) for number, row in rows.items()}


def _distinct(values: Sequence[str] | None) -> list[str]:
    """The list as stored: duplicates dropped, first occurrence kept."""
    return list(dict.fromkeys(values or []))


async def _claim_external_refs(
    conn: AsyncConnection, org: OrgScope, refs: list[str], *, number: int | None = None
) -> None:
    """External refs identify an account in the customer's system of record: one account per ref in an org."""
    if not refs:
        return
    await repository.lock_external_refs(conn, org.dev_org_id)
    holder = await repository.holder_of_external_refs(conn, org.dev_org_id, refs, other_than=number)
    if holder is not None:
        raise Conflict(f"account {ids.to_display('account', holder)} has one of the external refs already")


async def _existing(conn: AsyncConnection, org: OrgScope, reference: str) -> Row[Any]:
    """The account a get/update/delete names; another org's account is as absent as a nonexistent one."""
    parsed = ids.parse(reference, "account", field_name="id")
    found = await repository.get_accounts(conn, org.dev_org_id, [parsed.number]) if org.owns(parsed) else {}
    row = found.get(parsed.number)
    if row is None:
        raise NotFound(f"account '{reference}' does not exist")
    return row


async def _render(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Account]:
    related = [number for row in rows for number in (row.created_by, row.modified_by) if number is not None]
    users = await identity.users_by_number(conn, org, related)
    return [schemas.account(row, org, users) for row in rows]


@dataclass(frozen=True)
class Created:
    account: schemas.Account
    default_rev_org: schemas.DefaultRevOrg


async def create(db: Database, principal: Principal, request: schemas.AccountsCreateRequest) -> Created:
    org = principal.org
    external_refs = _distinct(request.external_refs)
    async with db.write() as conn:
        await _claim_external_refs(conn, org, external_refs)
        number = await counters.allocate(conn, org.dev_org_id, "account")
        now = now_ms()
        await repository.insert_account(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            display_name=request.display_name,
            description=request.description,
            domains=_distinct(request.domains),
            external_refs=external_refs,
            websites=_distinct(request.websites),
            tier=request.tier,
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
        )
        row = (await repository.get_accounts(conn, org.dev_org_id, [number]))[number]
        rendered = (await _render(conn, org, [row]))[0]
    return Created(rendered, schemas.default_rev_org(row, org))


async def get(db: Database, principal: Principal, reference: str) -> schemas.Account:
    async with db.read() as conn:
        row = await _existing(conn, principal.org, reference)
        return (await _render(conn, principal.org, [row]))[0]


async def update(db: Database, principal: Principal, request: schemas.AccountsUpdateRequest) -> schemas.Account:
    """Change the fields the request carries; an absent field is unchanged, `null` clears an optional one, and a
    list replaces the stored one."""
    org = principal.org
    async with db.write() as conn:
        row = await _existing(conn, org, request.id)
        values: dict[str, Any] = {"modified_by": principal.user_number, "modified_date": now_ms()}
        if request.display_name is not UNSET:
            values["display_name"] = request.display_name
        if request.description is not UNSET:
            values["description"] = request.description
        if request.domains is not UNSET:
            values["domains"] = _distinct(request.domains)
        if request.external_refs is not UNSET:
            values["external_refs"] = _distinct(request.external_refs)
            await _claim_external_refs(conn, org, values["external_refs"], number=row.number)
        if request.tier is not UNSET:
            values["tier"] = request.tier
        if request.websites is not UNSET and request.websites.set is not None:
            values["websites"] = _distinct(request.websites.set)
        await repository.update_account(conn, org.dev_org_id, row.number, **values)
        await counters.summaries_changed(conn, org.dev_org_id)  # stored incident documents name it
        updated = (await repository.get_accounts(conn, org.dev_org_id, [row.number]))[row.number]
        return (await _render(conn, org, [updated]))[0]


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete an account; the incidents that name it as a customer lose it."""
    async with db.write() as conn:
        row = await _existing(conn, principal.org, reference)
        await repository.delete_account(conn, principal.org.dev_org_id, row.number)
        await counters.summaries_changed(conn, principal.org.dev_org_id)  # stored incident documents name it


@dataclass(frozen=True)
class AccountsPage:
    accounts: list[schemas.Account]
    next_cursor: str | None
    prev_cursor: str | None


def _range(window: schemas.DateTimeFilter | None, field_name: str) -> tuple[int | None, int | None]:
    if window is None:
        return None, None
    return parse_window(window.after, window.before, field_name=field_name)


async def list_accounts(db: Database, principal: Principal, request: schemas.AccountsListRequest) -> AccountsPage:
    """A page of accounts in id order, with keyset cursors over the account number."""
    check_list_lengths(request)
    org = principal.org
    created_after, created_before = _range(request.created_date, "created_date")
    modified_after, modified_before = _range(request.modified_date, "modified_date")
    page = pages.window(
        request.cursor,
        request.mode,
        request.limit,
        "accounts",
        [created_after, created_before, modified_after, modified_before],
        sorted({name.lower() for name in request.display_name or []}),
        sorted({domain.lower() for domain in request.domains or []}),
        sorted(set(request.external_refs or [])),
        sorted(set(request.tier or [])),
        sorted(set(request.websites or [])),
    )
    async with db.read() as conn:
        rows = list(
            await repository.list_accounts(
                conn,
                org.dev_org_id,
                created_after=created_after,
                created_before=created_before,
                modified_after=modified_after,
                modified_before=modified_before,
                display_names=request.display_name,
                domains=request.domains,
                external_refs=request.external_refs,
                tiers=request.tier,
                websites=request.websites,
                page=page,
            )
        )
        more = len(rows) > page.limit
        rows = sorted(rows[: page.limit], key=lambda row: row.number)
        rendered = await _render(conn, org, rows)
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return AccountsPage(rendered, links.next_cursor, links.prev_cursor)
