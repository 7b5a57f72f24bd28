"""Incidents in DevRev's wire shape: a storage row plus everything it points at (users, parts, articles, tags,
accounts, artifacts, stage, schema fragments), fetched with a fixed number of queries however many rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import memo
from incidentd.accounts import service as accounts
from incidentd.articles import service as articles
from incidentd.artifacts import service as artifacts
from incidentd.customization import service as customization
from incidentd.customization.schemas import stage_summary, state_summary
from incidentd.identity import service as identity
from incidentd.identity.schemas import UserSummary, user_summary
from incidentd.incidents import repository, schemas
from incidentd.incidents.repository import Links
from incidentd.kit import ids
from incidentd.kit.enums import IMPACT_COUNT, REPORTED_BY, SEVERITY, SOURCE
from incidentd.kit.references import Lookup
from incidentd.kit.time import to_rfc3339
from incidentd.parts import service as parts
from incidentd.principal import OrgScope
from incidentd.tags import service as tags

PARENT_KIND = "incident"  # what artifacts are attached to

T = TypeVar("T")


# rows -> wire ----------------------------------------------------------------------------------------


Fetch = Callable[[AsyncConnection, OrgScope, Iterable[int]], Awaitable[dict[int, T]]]


# Parts, tags, articles and accounts can be renamed or deleted, and every such change raises the org's summaries
# version in its transaction (`kit.counters.summaries_changed`): a write that read the version before any summary
# takes them from the process's memory under that version (`memo.VersionedRows`), a round trip fewer per kind.
# Users never change (`identity`'s own memory); artifacts are left out (few writes name one).
_REMEMBERED: dict[str, memo.VersionedRows[int, Any]] = {
    kind: memo.VersionedRows() for kind in ("parts", "tags", "articles", "accounts")
}


@dataclass
class Summaries:
    """The objects incidents point at, by number, each kind fetched at most once per request. A write fills them
    while it checks its request's references (`lookup_*`: a check that fetches the summary, in the one query the
    check costs anyway); rendering its answer then fetches only what is still missing. `version`: the org's
    summaries version, read by the write before any summary (`incidents.documents.versions`); with it, summaries
    the process read under the same version are not fetched again (`_REMEMBERED`)."""

    users: dict[int, Row[Any]] = field(default_factory=dict)
    parts: dict[int, Any] = field(default_factory=dict)
    articles: dict[int, Any] = field(default_factory=dict)
    tags: dict[int, Any] = field(default_factory=dict)
    accounts: dict[int, Any] = field(default_factory=dict)
    artifacts: dict[int, Any] = field(default_factory=dict)
    version: int | None = None

    def lookup_users(self, org: OrgScope) -> Lookup:
        return self._keeping("users", identity.users_by_number, org, lambda row: row.user_type)

    def lookup_parts(self, org: OrgScope) -> Lookup:
        return self._keeping("parts", parts.summaries, org, lambda summary: summary.type)

    def lookup_articles(self, org: OrgScope) -> Lookup:
        return self._keeping("articles", articles.summaries, org, lambda _: "article")

    def lookup_tags(self, org: OrgScope) -> Lookup:
        return self._keeping("tags", tags.summaries, org, lambda _: "tag")

    def lookup_accounts(self, org: OrgScope) -> Lookup:
        return self._keeping("accounts", accounts.summaries, org, lambda _: "account")

    def lookup_artifacts(self, org: OrgScope) -> Lookup:
        return self._keeping("artifacts", artifacts.summaries, org, lambda _: "artifact")

    async def completed(self, conn: AsyncConnection, org: OrgScope, wanted: _Wanted) -> Summaries:
        """These summaries, completed in place with the wanted ones they lack (one query per kind that lacks any):
        a later rendering in the same request (an update's answer after its event's old incident) fetches only
        what this one did not."""
        await self._complete("users", identity.users_by_number, conn, org, wanted.users)
        await self._complete("parts", parts.summaries, conn, org, wanted.parts)
        await self._complete("articles", articles.summaries, conn, org, wanted.articles)
        await self._complete("tags", tags.summaries, conn, org, wanted.tags)
        await self._complete("accounts", accounts.summaries, conn, org, wanted.accounts)
        await self._complete("artifacts", artifacts.summaries, conn, org, wanted.artifacts)
        return self

    def _keeping(self, kind: str, fetch: Fetch[T], org: OrgScope, kind_of: Callable[[T], str]) -> Lookup:
        """A `kit.references.Lookup` that fetches the summaries of the objects it finds and keeps them here."""
        kept: dict[int, T] = getattr(self, kind)

        async def lookup(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
            found = await self._fetch(kind, fetch, conn, org, numbers)
            kept.update(found)
            return {number: kind_of(item) for number, item in found.items()}

        return lookup

    async def _complete(
        self, kind: str, fetch: Fetch[T], conn: AsyncConnection, org: OrgScope, wanted: set[int]
    ) -> None:
        known: dict[int, T] = getattr(self, kind)
        missing = wanted - known.keys()
        if missing:
            known.update(await self._fetch(kind, fetch, conn, org, missing))

    async def _fetch(
        self, kind: str, fetch: Fetch[T], conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]
    ) -> dict[int, T]:
        memory = _REMEMBERED.get(kind)
        if memory is None or self.version is None:
            return await fetch(conn, org, numbers)
        return await memory.get(conn, org.dev_org_id, self.version, numbers, lambda missing: fetch(conn, org, missing))


@dataclass
class _Wanted:
    """The numbers of the objects some incidents point at, by kind."""

    users: set[int]
    parts: set[int]
    articles: set[int]
    tags: set[int]
    accounts: set[int]
    artifacts: set[int]


@dataclass(frozen=True)
class _Resolved:
    """Everything the incidents of one response point at, each kind fetched once. Users and stages, which most
    incidents of a page share, are built once as wire objects (a page of 50 names a handful of users 200 times)."""

    links: dict[int, Links]
    artifacts_of: dict[int, list[int]]
    summaries: Summaries
    people: dict[int, UserSummary]
    stages: dict[int, schemas.Stage]
    fragment_kinds: dict[int, str]


async def render(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Incident]:
    """Incidents in DevRev's shape, with a fixed number of queries however many rows and references."""
    numbers = [row.number for row in rows]
    links = await repository.links(conn, org.dev_org_id, numbers)
    artifacts_of, attached = await artifacts.attached_with_summaries(conn, org, PARENT_KIND, numbers)
    return await render_linked(conn, org, rows, links, artifacts_of, Summaries(artifacts=attached))


async def render_linked(
    conn: AsyncConnection,
    org: OrgScope,
    rows: list[Row[Any]],
    links: dict[int, Links],
    artifacts_of: dict[int, list[int]],
    known: Summaries,
) -> list[schemas.Incident]:
    """`render`, given the incidents' links and artifacts and the summaries known already."""
    every = list(links.values())
    wanted = _Wanted(
        users={n for row in rows for n in (row.created_by, row.modified_by)} | {n for e in every for n in e.owned_by},
        parts={n for e in every for n in e.applies_to_parts},
        articles={n for e in every for n in (*e.pia, *e.playbooks)},
        tags={n for e in every for n, _ in e.tags},
        accounts={n for e in every for n in e.customer_ids},
        artifacts={n for ns in artifacts_of.values() for n in ns},
    )
    fragments = {n for row in rows for n in row.custom_schema_fragments or []}
    summaries = await known.completed(conn, org, wanted)
    stages = await customization.stages(conn, org, {row.stage_number for row in rows})
    resolved = _Resolved(
        links=links,
        artifacts_of=artifacts_of,
        summaries=summaries,
        people={number: user_summary(row, org) for number, row in summaries.users.items()},
        stages={number: _stage(stage, org) for number, stage in stages.items()},
        fragment_kinds=await customization.fragment_kinds(conn, org, fragments) if fragments else {},
    )
    return [_to_wire(row, org, resolved) for row in rows]


async def summaries(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, schemas.IncidentSummary]:
    """DevRev's incident-summary of each existing incident among `numbers` (title, owners, severity, stage), with a
    fixed number of queries however many."""
    rows = await repository.get_many(conn, org.dev_org_id, numbers)
    if not rows:
        return {}
    links = await repository.links(conn, org.dev_org_id, rows.keys())
    users = await identity.users_by_number(conn, org, {n for entry in links.values() for n in entry.owned_by})
    stages = await customization.stages(conn, org, {row.stage_number for row in rows.values()})
    found: dict[int, schemas.IncidentSummary] = {}
    for number, row in rows.items():
        stage = stages.get(row.stage_number)
        found[number] = schemas.IncidentSummary(
            id=org.don("incident", number),
            display_id=ids.to_display("incident", number),
            title=row.title,
            owned_by=[user_summary(users[n], org) for n in links[number].owned_by if n in users] or None,
            severity=SEVERITY.value(row.severity),
            stage=schemas.StageSummary(stage=stage_summary(stage.number, stage.name, org)) if stage else None,
        )
    return found


def _stage(stage: customization.StageInfo, org: OrgScope) -> schemas.Stage:
    return schemas.Stage(
        stage=stage_summary(stage.number, stage.name, org),
        state=state_summary(stage.state_number, stage.state_name, stage.is_final, org),
    )


def _listed(numbers: list[int], found: dict[int, T]) -> list[T] | None:
    items = [found[number] for number in numbers if number in found]
    return items or None


def _date(value: int | None) -> str | None:
    return to_rfc3339(value) if value is not None else None


def _to_wire(row: Row[Any], org: OrgScope, resolved: _Resolved) -> schemas.Incident:
    links = resolved.links.get(row.number) or Links()
    summaries = resolved.summaries
    people = resolved.people
    impact = None
    if row.impact_count is not None or links.customer_ids:
        impact = schemas.ImpactedCustomerDetails(
            count=IMPACT_COUNT.value(row.impact_count), customer_ids=_listed(links.customer_ids, summaries.accounts)
        )
    return schemas.Incident(
        id=org.don("incident", row.number),
        display_id=ids.to_display("incident", row.number),
        title=row.title,
        body=row.body,
        created_by=people.get(row.created_by),
        created_date=to_rfc3339(row.created_date),
        modified_by=people.get(row.modified_by),
        modified_date=to_rfc3339(row.modified_date),
        acknowledged_date=_date(row.acknowledged_date),
        actual_close_date=_date(row.actual_close_date),
        applies_to_parts=_listed(links.applies_to_parts, summaries.parts),
        artifacts=_listed(resolved.artifacts_of.get(row.number, []), summaries.artifacts),
        custom_fields=row.custom_fields or None,
        custom_schema_fragments=[
            org.don(resolved.fragment_kinds[n], n)
            for n in row.custom_schema_fragments or []
            if n in resolved.fragment_kinds
        ]
        or None,
        identified_date=_date(row.identified_date),
        impact=impact,
        mitigated_date=_date(row.mitigated_date),
        owned_by=_listed(links.owned_by, people),
        pia=_listed(links.pia, summaries.articles),
        playbooks=_listed(links.playbooks, summaries.articles),
        reported_by=REPORTED_BY.value(row.reported_by),
        severity=SEVERITY.value(row.severity),
        source=SOURCE.value(row.source),
        stage=resolved.stages.get(row.stage_number),
        stock_schema_fragment=org.don("stock_schema_fragment", 1),
        subtype=row.subtype,
        sync_metadata=_sync_metadata(row),
        tags=[
            schemas.TagWithValue(tag=summaries.tags[n], value=value) for n, value in links.tags if n in summaries.tags
        ]
        or None,
        target_close_date=_date(row.target_close_date),
    )


_SYNC_COLUMNS = (
    "sync_external_reference",
    "sync_origin_system",
    *(f"sync_{direction}_{name}" for direction in ("in", "out") for name in ("status", "date", "unit")),
)


def _sync_metadata(row: Row[Any]) -> schemas.SyncMetadata | None:
    mapping = row._mapping
    if all(mapping[column] is None for column in _SYNC_COLUMNS):
        return None  # most incidents: nothing synced

    def side(direction: str, kind: type[Any]) -> Any:
        status, date, unit = (getattr(row, f"sync_{direction}_{name}") for name in ("status", "date", "unit"))
        if status is None and date is None and unit is None:
            return None
        return kind(status=status, sync_date=_date(date), sync_unit=schemas.SyncUnitSummary(id=unit) if unit else None)

    last_in, last_out = side("in", schemas.SyncIn), side("out", schemas.SyncOut)
    if row.sync_external_reference is None and row.sync_origin_system is None and last_in is None and last_out is None:
        return None
    return schemas.SyncMetadata(
        external_reference=row.sync_external_reference,
        last_sync_in=last_in,
        last_sync_out=last_out,
        origin_system=row.sync_origin_system,
    )
