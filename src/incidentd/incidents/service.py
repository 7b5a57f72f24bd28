"""Rules of incidents: create, get, update, delete, list, group. Raises DevRev errors; never imports the web
framework. Every operation is one unit of work; responses are assembled with a fixed number of queries."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.accounts import service as accounts
from incidentd.articles import service as articles
from incidentd.artifacts import service as artifacts
from incidentd.customization import fields as custom_fields
from incidentd.customization import service as customization
from incidentd.customization.schemas import FieldDescriptor, stage_summary, state_summary
from incidentd.db import Database
from incidentd.errors import BadRequestError, Forbidden, InvalidField, NotFound
from incidentd.identity import repository as users_repository
from incidentd.identity import service as identity
from incidentd.identity.schemas import UserSummary, user_summary
from incidentd.incidents import filters, repository, schemas, stages
from incidentd.incidents.repository import LINK_COLLECTIONS, Links
from incidentd.kit import counters, cursors, ids, pages
from incidentd.kit.enums import IMPACT_COUNT, REPORTED_BY, SEVERITY, SOURCE
from incidentd.kit.references import Lookup, resolve_many
from incidentd.kit.time import now_ms, parse_rfc3339, to_rfc3339
from incidentd.parts import service as parts
from incidentd.principal import OrgScope, Principal
from incidentd.tags import service as tags

PARENT_KIND = "incident"
LEAF_TYPE = "incident"
MAX_TITLE = schemas.MAX_TITLE
MAX_BODY = schemas.MAX_BODY
CUSTOM_GROUP = "custom_fields."  # group_by custom_fields.<name>
FEW_MATCHES_AT_LEAST = 256

T = TypeVar("T")


# create ----------------------------------------------------------------------------------------------


async def create(db: Database, principal: Principal, request: schemas.IncidentsCreateRequest) -> schemas.Incident:
    """Create an incident with every reference resolved, in one transaction: a rejected request leaves nothing."""
    org = principal.org
    values = _scalars(request)
    if request.source is not None:
        _require_system(principal)
        values["source"] = SOURCE.parse(request.source, field_name="source")
    stage_value = request.stage.stage if isinstance(request.stage, schemas.StageInput) else request.stage
    async with db.write() as conn:
        schema = await customization.apply_schema(
            conn, org, LEAF_TYPE, spec=request.custom_schema_spec, given=request.custom_fields, creating=True
        )
        diagram = await customization.load_diagram(
            conn, org, LEAF_TYPE, schema.subtype, number=schema.stage_diagram_number
        )
        requested = stages.resolve(diagram, org, stage_value) if stage_value is not None else None
        stage = stages.initial(
            diagram, requested, allow_non_start="allow_non_start" in (request.stage_validation_options or [])
        )
        known = _Summaries()
        links = await _resolve_links(conn, org, _create_links(request), CREATE_PATHS, known)
        artifact_numbers = await _resolve(
            conn, org, request.artifacts, "artifacts", ("artifact",), known.lookup_artifacts(org)
        )
        number = await counters.allocate(conn, org.dev_org_id, "incident")
        now = now_ms()
        dates = stages.stamp(
            stages.LifecycleDates(values.get("acknowledged_date"), values.get("mitigated_date"), None), None, stage, now
        )
        row = await repository.insert(
            conn,
            {
                **values,
                **_schema_columns(schema),
                "dev_org_id": org.dev_org_id,
                "number": number,
                "stage_number": stage.number,
                "stage_notes": request.stage.notes if isinstance(request.stage, schemas.StageInput) else None,
                "identified_date": values.get("identified_date", now),
                "acknowledged_date": dates.acknowledged_date,
                "mitigated_date": dates.mitigated_date,
                "actual_close_date": dates.actual_close_date,
                "created_by": principal.user_number,
                "created_date": now,
                "modified_by": principal.user_number,
                "modified_date": now,
            },
            links,
            schema.custom_fields,
        )
        await artifacts.attach(
            conn, org, artifact_numbers, parent_kind=PARENT_KIND, parent_number=number, field_name="artifacts"
        )
        # The answer is what was just written: the row as inserted, the links as resolved, and the summaries the
        # reference checks fetched. Nothing is read back.
        attached = {number: artifact_numbers} if artifact_numbers else {}
        return (await _render_linked(conn, org, [row], {number: Links(**links)}, attached, known))[0]


def _schema_columns(schema: customization.AppliedSchema) -> dict[str, Any]:
    return {
        "custom_fields": schema.custom_fields or None,
        "custom_schema_fragments": schema.fragments or None,
        "subtype": schema.subtype,
    }


def _create_links(request: schemas.IncidentsCreateRequest) -> dict[str, Any]:
    """The collections a create request sets, as raw ids (absent ones are empty)."""
    return {
        "owned_by": request.owned_by or [],
        "applies_to_parts": request.applies_to_parts or [],
        "pia": request.pia or [],
        "playbooks": request.playbooks or [],
        "related_docs": request.related_docs or [],
        "tags": request.tags or [],
        "customer_ids": (request.impact.customer_ids if request.impact else None) or [],
    }


def _require_system(principal: Principal) -> None:
    if not principal.is_system:
        raise Forbidden("only sys users and service accounts may set 'source'")


# update ----------------------------------------------------------------------------------------------


async def update(db: Database, principal: Principal, request: schemas.IncidentsUpdateRequest) -> schemas.Incident:
    """Change the fields the request gives; `modified_by` / `modified_date` change on every successful update."""
    org = principal.org
    number = _incident_number(org, request.id)
    values = _scalars(request, clearing=True)
    if request.source is not UNSET:
        _require_system(principal)
        values["source"] = SOURCE.parse(request.source, field_name="source") if request.source is not None else None
    stage_value = request.stage.stage if isinstance(request.stage, schemas.UpdateStage) else request.stage
    async with db.write() as conn:
        row = await repository.lock(conn, org.dev_org_id, number)
        if row is None:
            raise NotFound(f"incident '{request.id}' does not exist")
        now = now_ms()
        schema = await customization.apply_schema(
            conn,
            org,
            LEAF_TYPE,
            spec=request.custom_schema_spec,
            given=request.custom_fields if isinstance(request.custom_fields, dict) else None,
            clear=request.custom_fields is None,
            stored_fields=row.custom_fields,
            stored_fragments=row.custom_schema_fragments,
            creating=False,
        )
        schema_changes = request.custom_schema_spec is not None or request.custom_fields is not UNSET
        if schema_changes:
            values.update(_schema_columns(schema))
        if stage_value is not None:
            values.update(await _move(conn, org, row, values, schema, stage_value, request, now))
        if isinstance(request.stage, schemas.UpdateStage) and request.stage.notes is not None:
            values["stage_notes"] = request.stage.notes
        known = _Summaries()
        links = await _resolve_links(conn, org, _update_links(request), UPDATE_PATHS, known)
        attached: dict[int, list[int]] | None = None
        if request.artifacts is not None and request.artifacts.set is not None:
            numbers = await _resolve(
                conn, org, request.artifacts.set, "artifacts.set", ("artifact",), known.lookup_artifacts(org)
            )
            await artifacts.detach(conn, org, parent_kind=PARENT_KIND, parent_number=number, keep=numbers)
            await artifacts.attach(
                conn, org, numbers, parent_kind=PARENT_KIND, parent_number=number, field_name="artifacts.set"
            )
            attached = {number: numbers} if numbers else {}
        updated = await repository.update(
            conn, org.dev_org_id, number, {**values, "modified_by": principal.user_number, "modified_date": now}
        )
        await repository.replace_links(conn, org.dev_org_id, number, links)
        if schema_changes:
            await repository.replace_custom_values(conn, org.dev_org_id, number, schema.custom_fields)
        # The answer: the row as updated, the collections the request set as resolved, the others as stored.
        if len(links) < len(LINK_COLLECTIONS):
            stored = (await repository.links(conn, org.dev_org_id, [number])).get(number) or Links()
            links = {name: getattr(stored, name) for name in LINK_COLLECTIONS} | links
        if attached is None:
            attached, kept = await artifacts.attached_with_summaries(conn, org, PARENT_KIND, [number])
            known.artifacts |= kept
        return (await _render_linked(conn, org, [updated], {number: Links(**links)}, attached, known))[0]


async def _move(
    conn: AsyncConnection,
    org: OrgScope,
    row: Row[Any],
    values: dict[str, Any],
    schema: customization.AppliedSchema,
    stage_value: str,
    request: schemas.IncidentsUpdateRequest,
    now: int,
) -> dict[str, Any]:
    """Columns of a stage change: the new stage and the dates it stamps (dates given in the request win). The
    incident moves along the stage diagram of its subtype's fragment (as it stands after this update)."""
    subtype = values.get("subtype", row.subtype)
    diagram = await customization.load_diagram(conn, org, LEAF_TYPE, subtype, number=schema.stage_diagram_number)
    current = (await customization.stages(conn, org, [row.stage_number]))[row.stage_number]
    allow_invalid = "allow_invalid_transition" in (request.stage_validation_options or [])
    target = stages.move(diagram, current, stages.resolve(diagram, org, stage_value), allow_invalid=allow_invalid)
    before = stages.LifecycleDates(
        values.get("acknowledged_date", row.acknowledged_date),
        values.get("mitigated_date", row.mitigated_date),
        row.actual_close_date,
    )
    dates = stages.stamp(before, current, target, now)
    return {
        "stage_number": target.number,
        "acknowledged_date": dates.acknowledged_date,
        "mitigated_date": dates.mitigated_date,
        "actual_close_date": dates.actual_close_date,
    }


def _update_links(request: schemas.IncidentsUpdateRequest) -> dict[str, Any]:
    """The collections an update sets (`{"set": [...]}`), as raw ids; collections it leaves out are absent."""
    raw: dict[str, Any] = {}
    for name in ("owned_by", "applies_to_parts", "pia", "playbooks", "related_docs", "tags"):
        change = getattr(request, name)
        if change is not None and change.set is not None:
            raw[name] = change.set
    if request.impact is not None and request.impact.customer_ids is not None:
        if request.impact.customer_ids.set is not None:
            raw["customer_ids"] = request.impact.customer_ids.set
    return raw


# get / delete -----------------------------------------------------------------------------------------


async def get(db: Database, principal: Principal, reference: str) -> schemas.Incident:
    number = _incident_number(principal.org, reference)
    async with db.read() as conn:
        return await _fetch(conn, principal.org, number, reference)


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete an incident: its links go with it and its artifacts are free to attach elsewhere."""
    number = _incident_number(principal.org, reference)
    async with db.write() as conn:
        await artifacts.detach(conn, principal.org, parent_kind=PARENT_KIND, parent_number=number)
        if not await repository.delete(conn, principal.org.dev_org_id, number):
            raise NotFound(f"incident '{reference}' does not exist")


def _incident_number(org: OrgScope, reference: str) -> int:
    """The number of the incident an id names; 404 for ids of other orgs (exactly like ids that do not exist)."""
    parsed = ids.parse(reference, "incident", field_name="id")
    return parsed.number if org.owns(parsed) else 0


async def _fetch(conn: AsyncConnection, org: OrgScope, number: int, reference: str | None = None) -> schemas.Incident:
    rows = await repository.get_many(conn, org.dev_org_id, [number])
    if number not in rows:
        raise NotFound(f"incident '{reference or number}' does not exist")
    return (await render(conn, org, [rows[number]]))[0]


# request -> columns ----------------------------------------------------------------------------------


def _scalars(request: Any, *, clearing: bool = False) -> dict[str, Any]:
    """Validated column values of the scalar fields a create or update request gives. On update (`clearing`),
    `null` clears an optional field; absent (UNSET) fields are left out."""

    def given(value: Any) -> bool:
        return value is not UNSET and (value is not None or clearing)

    values: dict[str, Any] = {}
    if request.title is None and clearing:
        raise InvalidField("title cannot be cleared", field_name="title")
    if given(request.title):
        values["title"] = _title(request.title)
    if given(request.body):
        if request.body is not None and len(request.body) > MAX_BODY:
            raise InvalidField(f"body is longer than {MAX_BODY} characters", field_name="body")
        values["body"] = request.body
    for name in ("identified_date", "acknowledged_date", "mitigated_date", "target_close_date"):
        raw = getattr(request, name)
        if given(raw):
            values[name] = parse_rfc3339(raw, field_name=name) if raw is not None else None
    for name, enum in (("severity", SEVERITY), ("reported_by", REPORTED_BY)):
        raw = getattr(request, name)
        if given(raw):
            values[name] = enum.parse(raw, field_name=name) if raw is not None else None
    if request.impact is not None and given(request.impact.count):
        count = request.impact.count
        values["impact_count"] = IMPACT_COUNT.parse(count, field_name="impact.count") if count is not None else None
    if request.staged_info is not None:
        values["is_staged"] = bool(request.staged_info.is_staged)
        values["staged_info"] = msgspec.to_builtins(request.staged_info)
    if request.sync_metadata is not None:
        values.update(_sync_columns(request.sync_metadata))
    if request.external_source_data is not None:
        source = request.external_source_data
        for name in ("created_date", "modified_date", "closed_date"):
            raw = getattr(source, name)
            if raw is not None:
                values[f"external_{name}"] = parse_rfc3339(raw, field_name=f"external_source_data.{name}")
    return values


def _title(title: str) -> str:
    if not title.strip():
        raise InvalidField("title must not be empty", field_name="title")
    if len(title) > MAX_TITLE:
        raise InvalidField(f"title is longer than {MAX_TITLE} characters", field_name="title")
    return title


def _sync_columns(sync: schemas.SyncMetadataInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if sync.external_reference is not None:
        values["sync_external_reference"] = sync.external_reference
    if sync.origin_system is not None:
        values["sync_origin_system"] = sync.origin_system
    for direction, state in (("in", sync.last_sync_in), ("out", sync.last_sync_out)):
        if state is None:
            continue
        field = f"sync_metadata.last_sync_{direction}"
        if state.status is not None:
            values[f"sync_{direction}_status"] = state.status
        if state.sync_date is not None:
            values[f"sync_{direction}_date"] = parse_rfc3339(state.sync_date, field_name=f"{field}.sync_date")
        if state.sync_unit is not None:
            values[f"sync_{direction}_unit"] = state.sync_unit
        if state.sync_history is not None:
            values[f"sync_{direction}_history"] = state.sync_history
    return values


# references -----------------------------------------------------------------------------------------


async def _resolve(
    conn: AsyncConnection,
    org: OrgScope,
    values: list[str] | None,
    field_name: str,
    kinds: tuple[str, ...],
    lookup: Lookup,
) -> list[int]:
    if not values:
        return []
    return await resolve_many(conn, org, values, kinds=kinds, field_name=field_name, lookup=lookup)


CREATE_PATHS = {"customer_ids": "impact.customer_ids"}
UPDATE_PATHS = {
    name: f"{name}.set" for name in ("owned_by", "applies_to_parts", "pia", "playbooks", "related_docs", "tags")
} | {"customer_ids": "impact.customer_ids.set"}


async def _resolve_links(
    conn: AsyncConnection, org: OrgScope, raw: dict[str, Any], paths: dict[str, str], known: _Summaries
) -> dict[str, Any]:
    """Resolve the raw ids of the collections present in `raw` (keys as in `repository.Links`); errors name the
    request's path of each collection (`paths`, default: the key itself). The summaries of the objects found are
    kept in `known`, for the answer."""

    def path(name: str) -> str:
        return paths.get(name, name)

    resolved: dict[str, Any] = {}
    if "owned_by" in raw:
        resolved["owned_by"] = await _resolve(
            conn, org, raw["owned_by"], path("owned_by"), ids.USER_KINDS, known.lookup_users(org)
        )
    if "applies_to_parts" in raw:
        resolved["applies_to_parts"] = await _resolve(
            conn, org, raw["applies_to_parts"], path("applies_to_parts"), ids.PART_KINDS, known.lookup_parts(org)
        )
    for role in repository.ARTICLE_ROLES:
        if role in raw:
            resolved[role] = await _resolve(conn, org, raw[role], path(role), ("article",), known.lookup_articles(org))
    if "tags" in raw:
        tag_ids = [tag.tag_id for tag in raw["tags"]]
        numbers = await _resolve_each(conn, org, tag_ids, path("tags"), ".tag_id", ("tag",), known.lookup_tags(org))
        # The same tag twice keeps its last value, once.
        by_tag = {number: tag.value for number, tag in zip(numbers, raw["tags"], strict=True)}
        resolved["tags"] = list(by_tag.items())
    if "customer_ids" in raw:
        resolved["customer_ids"] = await _resolve(
            conn, org, raw["customer_ids"], path("customer_ids"), ("account",), known.lookup_accounts(org)
        )
    return resolved


async def _resolve_each(
    conn: AsyncConnection,
    org: OrgScope,
    values: list[str],
    field_name: str,
    suffix: str,
    kinds: tuple[str, ...],
    lookup: Lookup,
) -> list[int]:
    """Like `_resolve`, but one number per element (duplicates kept) and errors named `tags[1].tag_id`."""
    if not values:
        return []
    return await resolve_many(
        conn, org, values, kinds=kinds, field_name=field_name, lookup=lookup, suffix=suffix, keep_duplicates=True
    )


# rows -> wire ----------------------------------------------------------------------------------------


Fetch = Callable[[AsyncConnection, OrgScope, Iterable[int]], Awaitable[dict[int, T]]]


@dataclass
class _Summaries:
    """The objects incidents point at, by number, each kind fetched at most once per request. A write fills them
    while it checks its request's references (`lookup_*`: a check that fetches the summary, in the one query the
    check costs anyway); rendering its answer then fetches only what is still missing."""

    users: dict[int, Row[Any]] = field(default_factory=dict)
    parts: dict[int, Any] = field(default_factory=dict)
    articles: dict[int, Any] = field(default_factory=dict)
    tags: dict[int, Any] = field(default_factory=dict)
    accounts: dict[int, Any] = field(default_factory=dict)
    artifacts: dict[int, Any] = field(default_factory=dict)

    def lookup_users(self, org: OrgScope) -> Lookup:
        return _keeping(self.users, identity.users_by_number, org, lambda row: row.user_type)

    def lookup_parts(self, org: OrgScope) -> Lookup:
        return _keeping(self.parts, parts.summaries, org, lambda summary: summary.type)

    def lookup_articles(self, org: OrgScope) -> Lookup:
        return _keeping(self.articles, articles.summaries, org, lambda _: "article")

    def lookup_tags(self, org: OrgScope) -> Lookup:
        return _keeping(self.tags, tags.summaries, org, lambda _: "tag")

    def lookup_accounts(self, org: OrgScope) -> Lookup:
        return _keeping(self.accounts, accounts.summaries, org, lambda _: "account")

    def lookup_artifacts(self, org: OrgScope) -> Lookup:
        return _keeping(self.artifacts, artifacts.summaries, org, lambda _: "artifact")

    async def completed(self, conn: AsyncConnection, org: OrgScope, wanted: _Wanted) -> _Summaries:
        """These summaries plus the wanted ones they lack, fetched with one query per kind that lacks any."""
        return _Summaries(
            users=await _completing(self.users, identity.users_by_number, conn, org, wanted.users),
            parts=await _completing(self.parts, parts.summaries, conn, org, wanted.parts),
            articles=await _completing(self.articles, articles.summaries, conn, org, wanted.articles),
            tags=await _completing(self.tags, tags.summaries, conn, org, wanted.tags),
            accounts=await _completing(self.accounts, accounts.summaries, conn, org, wanted.accounts),
            artifacts=await _completing(self.artifacts, artifacts.summaries, conn, org, wanted.artifacts),
        )


@dataclass
class _Wanted:
    """The numbers of the objects some incidents point at, by kind."""

    users: set[int]
    parts: set[int]
    articles: set[int]
    tags: set[int]
    accounts: set[int]
    artifacts: set[int]


def _keeping(kept: dict[int, T], fetch: Fetch[T], org: OrgScope, kind_of: Callable[[T], str]) -> Lookup:
    """A `kit.references.Lookup` that fetches the summaries of the objects it finds and keeps them in `kept`."""

    async def lookup(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
        found = await fetch(conn, org, numbers)
        kept.update(found)
        return {number: kind_of(item) for number, item in found.items()}

    return lookup


async def _completing(
    known: dict[int, T], fetch: Fetch[T], conn: AsyncConnection, org: OrgScope, wanted: set[int]
) -> dict[int, T]:
    missing = wanted - known.keys()
    return {**known, **await fetch(conn, org, missing)} if missing else known


@dataclass(frozen=True)
class _Resolved:
    """Everything the incidents of one response point at, each kind fetched once. Users and stages, which most
    incidents of a page share, are built once as wire objects (a page of 50 names a handful of users 200 times)."""

    links: dict[int, Links]
    artifacts_of: dict[int, list[int]]
    summaries: _Summaries
    people: dict[int, UserSummary]
    stages: dict[int, schemas.Stage]
    fragment_kinds: dict[int, str]


async def render(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Incident]:
    """Incidents in DevRev's shape, with a fixed number of queries however many rows and references."""
    numbers = [row.number for row in rows]
    links = await repository.links(conn, org.dev_org_id, numbers)
    artifacts_of, attached = await artifacts.attached_with_summaries(conn, org, PARENT_KIND, numbers)
    return await _render_linked(conn, org, rows, links, artifacts_of, _Summaries(artifacts=attached))


async def _render_linked(
    conn: AsyncConnection,
    org: OrgScope,
    rows: list[Row[Any]],
    links: dict[int, Links],
    artifacts_of: dict[int, list[int]],
    known: _Summaries,
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


# list ------------------------------------------------------------------------------------------------

GROUP_FIELDS = {
    "severity": "severity",
    "stage": "stage_number",
    "reported_by": "reported_by",
    "source": "source",
    "subtype": "subtype",
    "owned_by": "owned_by",
    "applies_to_parts": "applies_to_parts",
    "created_by": "created_by",
}


@dataclass(frozen=True)
class IncidentsPage:
    incidents: list[schemas.Incident]
    next_cursor: str | None
    prev_cursor: str | None


def _request_fingerprint(request: Any, *extra: Any) -> str:
    """What a cursor is bound to: the filters and sort of the request (not its cursor, mode or limits)."""
    document = msgspec.to_builtins(request)
    for name in ("cursor", "mode", "limit", "limit_per_group"):
        document.pop(name, None)
    return cursors.fingerprint(document, *extra)


async def _filter_spec(conn: AsyncConnection, org: OrgScope, request: Any, now: int) -> filters.FilterSpec:
    """The request's filters with stage names and custom field values resolved (and how selective each custom
    field filter is)."""
    spec = filters.parse_filters(request, org, now)
    if spec.stage_names:
        assert spec.stage_numbers is not None
        spec.stage_numbers += await customization.stage_numbers_named(conn, org, spec.stage_names, field_name="stage")
    if spec.custom_fields:
        declared = await customization.declared_fields(conn, org, LEAF_TYPE)
        few = await _few_matches(conn, org)
        for name, wanted in spec.custom_fields.items():
            keys = _custom_field_keys(declared, name, wanted, org)
            spec.custom_field_keys[name] = keys
            present = [key for key in keys if key is not None]
            if await repository.count_custom_matches(conn, org.dev_org_id, name, present, up_to=few) <= few:
                spec.sparse_custom_fields.add(name)
    return spec


async def _few_matches(conn: AsyncConnection, org: OrgScope) -> int:
    """Up to how many matches a custom field filter starts the query (a semi-join, then sorting the matches)
    rather than walking the sort order and testing each incident. Over n incidents a page of 50 walks about
    50 n / m incidents for m matches; the two cost the same near m = sqrt(64 n) (measured on SQLite, see
    docs/performance.md)."""
    return max(FEW_MATCHES_AT_LEAST, 8 * math.isqrt(await repository.incident_number_ceiling(conn, org.dev_org_id)))


def _custom_field_keys(
    declared: dict[str, list[FieldDescriptor]], name: str, wanted: list[Any], org: OrgScope
) -> list[str | None]:
    """The index keys a custom field filter matches (None: incidents without a value)."""
    field_name = f"custom_fields.{name}"
    if name not in declared:
        raise InvalidField(f"'{name}' is not a field of any schema fragment of incidents", field_name=field_name)
    keys: list[str | None] = []
    for value in wanted:
        if value is None:
            keys.append(None)
        else:
            keys += sorted(custom_fields.filter_keys(declared[name], value, field_name=field_name, org=org))
    return keys


async def list_incidents(db: Database, principal: Principal, request: schemas.IncidentsListRequest) -> IncidentsPage:
    """A page of the incidents that match every filter, in the requested order, with keyset cursors."""
    org = principal.org
    sort = filters.parse_sort(request.sort_by)
    limit = pages.page_limit(request.limit)
    fingerprint = _request_fingerprint(request, "incidents.list")
    boundary, backwards = _position(request.cursor, request.mode, fingerprint, "list", sort)
    async with db.read() as conn:
        clauses = repository.where(org.dev_org_id, await _filter_spec(conn, org, request, now_ms()))
        window = await _walk(conn, clauses, sort, boundary=boundary, backwards=backwards, limit=limit)
        rendered = await render(conn, org, window.rows)
    return IncidentsPage(
        rendered,
        cursors.encode(["list", *window.last], "after", fingerprint) if window.last else None,
        cursors.encode(["list", *window.first], "before", fingerprint) if window.first else None,
    )


def _position(
    cursor: str | None, mode: str | None, fingerprint: str, kind: str, sort: tuple[filters.SortKey, ...]
) -> tuple[list[Any] | None, bool]:
    """(boundary values, walking backwards?) of a request's cursor and mode; a cursor of another kind is 400."""
    if not cursor:
        return None, mode == "before"
    position = cursors.decode(cursor, fingerprint)
    if not position.values or position.values[0] != kind:
        raise BadRequestError("the cursor was made for another operation")
    backwards = (mode or position.direction) == "before"
    return _checked_boundary(position.values[1:], sort), backwards


def _checked_boundary(values: list[Any], sort: tuple[filters.SortKey, ...]) -> list[Any]:
    """A boundary read from a cursor. The server writes one value per sort key (an integer, text for the title,
    or null) and then the incident number; a cursor is not signed, so anything else was forged: 400."""
    if len(values) != len(sort) + 1 or type(values[-1]) is not int:
        raise BadRequestError("the cursor is not valid")
    for key, value in zip(sort, values, strict=False):
        if value is not None and type(value) is not (str if key.column == "title" else int):
            raise BadRequestError("the cursor is not valid")
    return values


@dataclass(frozen=True)
class _Window:
    rows: list[Row[Any]]
    first: list[Any] | None  # boundary values for prev_cursor, when rows lie before the page
    last: list[Any] | None  # boundary values for next_cursor, when rows lie after the page


async def _walk(
    conn: AsyncConnection,
    clauses: list[Any],
    sort: tuple[filters.SortKey, ...],
    *,
    boundary: list[Any] | None,
    backwards: bool,
    limit: int,
) -> _Window:
    """One page in sort order, and whether anything lies before and after it (the far side checked exactly,
    so cursors are omitted only when nothing lies beyond)."""
    rows = list(await repository.page(conn, clauses, sort, boundary=boundary, backwards=backwards, limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    if not rows:
        return _Window([], None, None)
    first, last = repository.sort_values(rows[0], sort), repository.sort_values(rows[-1], sort)
    if backwards:
        has_prev = more
        has_next = boundary is not None and await _any_beyond(conn, clauses, sort, last, backwards=False)
    else:
        has_next = more
        has_prev = boundary is not None and await _any_beyond(conn, clauses, sort, first, backwards=True)
    return _Window(rows, first if has_prev else None, last if has_next else None)


async def _any_beyond(
    conn: AsyncConnection, clauses: list[Any], sort: tuple[filters.SortKey, ...], values: list[Any], *, backwards: bool
) -> bool:
    return bool(await repository.page(conn, clauses, sort, boundary=values, backwards=backwards, limit=1))


# group -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupsPage:
    groups: list[schemas.IncidentsGroup]
    next_cursor: str | None
    prev_cursor: str | None


async def group_incidents(db: Database, principal: Principal, request: schemas.IncidentsGroupRequest) -> GroupsPage:
    """Incidents grouped by a field: groups in key order (no-value group last), each with its first incidents in
    the requested order and its total. A group's `next_cursor` continues that group; the response's
    `next_cursor` / `prev_cursor` page through the groups."""
    org = principal.org
    field = GROUP_FIELDS.get(request.group_by) or (
        request.group_by if request.group_by.startswith(CUSTOM_GROUP) else None
    )
    if field is None:
        raise InvalidField(
            f"'{request.group_by}' cannot be grouped by; use one of {', '.join(GROUP_FIELDS)} or {CUSTOM_GROUP}<name>",
            field_name="group_by",
        )
    sort = filters.parse_sort(request.sort_by)
    group_limit = pages.page_limit(request.limit, default=10)
    per_group = pages.page_limit(request.limit_per_group, field_name="limit_per_group")
    fingerprint = _request_fingerprint(request, "incidents.group")
    position = cursors.decode(request.cursor, fingerprint) if request.cursor else None
    async with db.read() as conn:
        descriptors: list[FieldDescriptor] = []
        if field.startswith(CUSTOM_GROUP):
            declared = await customization.declared_fields(conn, org, LEAF_TYPE)
            descriptors = declared.get(field.removeprefix(CUSTOM_GROUP), [])
            if not descriptors:
                raise InvalidField(
                    f"'{field.removeprefix(CUSTOM_GROUP)}' is not a field of any schema fragment of incidents",
                    field_name="group_by",
                )
        spec = await _filter_spec(conn, org, request, now_ms())
        clauses = repository.where(org.dev_org_id, spec)
        counts = await repository.group_counts(
            conn,
            repository.where(org.dev_org_id, spec, counting=True),
            org.dev_org_id,
            field,
            filtered=spec != filters.FilterSpec(),
        )
        keyed = await _group_keys(conn, org, field, counts, descriptors)
        few = await _few_matches(conn, org) if descriptors else 0
        if position is not None and position.values and position.values[0] == "items":
            # Continue one group: the cursor holds its key and the boundary inside it.
            if len(position.values) < 2 or not isinstance(position.values[1], int | str | None):
                raise BadRequestError("the cursor is not valid")
            key = position.values[1]
            selected = [entry for entry in keyed if entry.key == key]
            boundary: list[Any] | None = _checked_boundary(position.values[2:], sort)
            backwards = (request.mode or position.direction) == "before"
            groups_before = groups_after = False
        else:
            selected, groups_before, groups_after = _select_groups(keyed, position, request.mode, group_limit)
            boundary, backwards = None, False
        windows = []
        for entry in selected:
            group = repository.group_clause(org.dev_org_id, field, entry.key, few=entry.total <= few)
            group_clauses = [*clauses, group]
            window = await _walk(conn, group_clauses, sort, boundary=boundary, backwards=backwards, limit=per_group)
            windows.append((entry, window))
        rendered = iter(await render(conn, org, [row for _, window in windows for row in window.rows]))
    groups = [
        schemas.IncidentsGroup(
            key=entry.field_value,
            incidents=[next(rendered) for _ in window.rows],
            total=entry.total,
            next_cursor=cursors.encode(["items", entry.key, *window.last], "after", fingerprint)
            if window.last
            else None,
        )
        for entry, window in windows
    ]
    return GroupsPage(
        groups,
        cursors.encode(["groups", selected[-1].rank], "after", fingerprint) if groups_after and selected else None,
        cursors.encode(["groups", selected[0].rank], "before", fingerprint) if groups_before and selected else None,
    )


@dataclass(frozen=True)
class _GroupKey:
    key: Any  # the stored value (None: incidents without a value)
    rank: list[Any]  # sort position among groups: no-value last
    total: int
    field_value: schemas.FieldValue


async def _group_keys(
    conn: AsyncConnection,
    org: OrgScope,
    field: str,
    counts: list[tuple[Any, int]],
    descriptors: list[FieldDescriptor],
) -> list[_GroupKey]:
    """Every group's key in DevRev's field-value shape, ordered: enums and numbers ascending, stages by ordinal,
    strings by bytes, custom field values by `fields.group_order`, and the no-value group last."""
    present = [key for key, _ in counts if key is not None]
    empty_type = {
        "stage_number": "stage",
        "subtype": "string",
        "owned_by": "id",
        "created_by": "id",
        "applies_to_parts": "id",
    }.get(field, "int")
    if field.startswith(CUSTOM_GROUP):
        long_values = await repository.custom_long_values(
            conn, org.dev_org_id, field.removeprefix(CUSTOM_GROUP), [key for key in present if key.startswith("#")]
        )
        empty_type = custom_fields.group_value_type(descriptors, None)

        def describe(key: Any) -> tuple[Any, schemas.FieldValue]:
            value = custom_fields.key_value(key, long_values.get(key))
            value_type = custom_fields.group_value_type(descriptors, value)
            return custom_fields.group_order(value), schemas.FieldValue(type=value_type, value=value)

    elif field == "stage_number":
        stage_rows = await customization.stages(conn, org, present)

        def describe(key: Any) -> tuple[Any, schemas.FieldValue]:
            return stage_rows[key].ordinal, schemas.FieldValue(type="stage", name=stage_rows[key].name)

    elif field in ("owned_by", "created_by"):
        kinds = await users_repository.user_kinds(conn, org.dev_org_id, present)

        def describe(key: Any) -> tuple[Any, schemas.FieldValue]:
            return key, schemas.FieldValue(type="id", value=org.don(kinds[key], key))

    elif field == "applies_to_parts":
        part_kinds = await parts.lookup(conn, org.dev_org_id, present)

        def describe(key: Any) -> tuple[Any, schemas.FieldValue]:
            return key, schemas.FieldValue(type="id", value=org.don(part_kinds[key], key))

    elif field == "subtype":

        def describe(key: Any) -> tuple[Any, schemas.FieldValue]:
            return key, schemas.FieldValue(type="string", value=key)

    else:

        def describe(key: Any) -> tuple[Any, schemas.FieldValue]:
            return key, schemas.FieldValue(type="int", value=key)

    keyed = []
    for key, total in counts:
        if key is None:
            keyed.append(_GroupKey(None, [1, None], total, schemas.FieldValue(type=empty_type)))
        else:
            order, value = describe(key)
            keyed.append(_GroupKey(key, [0, order], total, value))
    return sorted(keyed, key=lambda entry: (entry.rank[0], entry.rank[1] if entry.rank[1] is not None else 0))


def _select_groups(
    keyed: list[_GroupKey], position: cursors.Position | None, mode: str | None, limit: int
) -> tuple[list[_GroupKey], bool, bool]:
    """The groups of this page, and whether groups lie before / after it."""
    ranks = [(entry.rank[0], entry.rank[1] if entry.rank[1] is not None else 0) for entry in keyed]
    backwards = mode == "before"
    if position is None:
        start, end = (max(0, len(keyed) - limit), len(keyed)) if backwards else (0, min(limit, len(keyed)))
    else:
        if not position.values or position.values[0] != "groups":
            raise BadRequestError("the cursor was made for another operation")
        mark = position.values[1] if len(position.values) == 2 else None
        if not isinstance(mark, list) or len(mark) != 2 or mark[0] not in (0, 1):
            raise BadRequestError("the cursor is not valid")
        bound = (mark[0], mark[1] if mark[1] is not None else 0)
        backwards = (mode or position.direction) == "before"
        try:
            if backwards:
                end = sum(1 for rank in ranks if rank < bound)
                start = max(0, end - limit)
            else:
                start = sum(1 for rank in ranks if rank <= bound)
                end = min(len(keyed), start + limit)
        except TypeError:  # a key of another type than this field's keys: forged
            raise BadRequestError("the cursor is not valid") from None
    return keyed[start:end], start > 0, end < len(keyed)
