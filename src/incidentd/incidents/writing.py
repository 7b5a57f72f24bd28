"""Writing incidents: create, update (stage moves along the diagram included), delete. Each is one unit of work
that checks every reference; its answer is rendered from what was written, without reading it back."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.artifacts import service as artifacts
from incidentd.customization import service as customization
from incidentd.db import Database
from incidentd.errors import Forbidden, InvalidField, NotFound
from incidentd.incidents import documents, history, repository, schemas, stages
from incidentd.incidents.reading import LEAF_TYPE, incident_number
from incidentd.incidents.rendering import PARENT_KIND, Summaries, render, render_linked
from incidentd.incidents.repository import LINK_COLLECTIONS, Links
from incidentd.kit import counters, ids
from incidentd.kit.enums import IMPACT_COUNT, REPORTED_BY, SEVERITY, SOURCE
from incidentd.kit.references import Lookup, resolve_many
from incidentd.kit.time import now_ms, parse_rfc3339
from incidentd.principal import OrgScope, Principal
from incidentd.search import service as search
from incidentd.webhooks import outbox

MAX_TITLE = schemas.MAX_TITLE
MAX_BODY = schemas.MAX_BODY


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
        versions = await documents.versions(conn, org)  # before anything else is read (incidents.documents)
        schema = await customization.apply_schema(
            conn,
            org,
            LEAF_TYPE,
            spec=request.custom_schema_spec,
            given=request.custom_fields,
            creating=True,
            fragments_version=versions.fragments,
        )
        diagram = await customization.load_diagram(
            conn, org, LEAF_TYPE, schema.subtype, number=schema.stage_diagram_number
        )
        requested = stages.resolve(diagram, org, stage_value) if stage_value is not None else None
        stage = stages.initial(
            diagram, requested, allow_non_start="allow_non_start" in (request.stage_validation_options or [])
        )
        known = Summaries(version=versions.summaries)
        links = await _resolve_links(conn, org, _create_links(request), CREATE_PATHS, known)
        artifact_numbers = await _resolve(
            conn, org, request.artifacts, "artifacts", ("artifact",), known.lookup_artifacts(org)
        )
        now = now_ms()
        dates = stages.stamp(
            stages.LifecycleDates(values.get("acknowledged_date"), values.get("mitigated_date"), None), None, stage, now
        )
        # Numbered after every check, so that a rejected request uses no number; on PostgreSQL in a transaction of
        # its own (`counters.allocate_apart`): creates of one org do not queue for each other's commits.
        number = await counters.allocate_apart(db, conn, org.dev_org_id, "incident")
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
        await search.refresh(db, conn, org.dev_org_id, [number], new=True)
        await artifacts.attach(
            conn, org, artifact_numbers, parent_kind=PARENT_KIND, parent_number=number, field_name="artifacts"
        )
        # The answer is what was just written: the row as inserted, the links as resolved, and the summaries the
        # reference checks fetched. Nothing is read back.
        attached = {number: artifact_numbers} if artifact_numbers else {}
        incident = (await render_linked(conn, org, [row], {number: Links(**links)}, attached, known))[0]
        kept = await documents.keep(conn, org, versions.summaries, {number: incident})
        await history.record_created(conn, org, principal, incident)
        if "incident_created" in await outbox.wanted(db, conn, org):
            # The stored document is the incident's JSON already: the event carries its bytes as they are.
            payload = {"incident": documents.wire(kept[number])}
            await outbox.record(db, conn, org, "incident_created", number, payload)
        return incident


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
    number = incident_number(org, request.id)
    values = _scalars(request, clearing=True)
    if request.source is not UNSET:
        _require_system(principal)
        values["source"] = SOURCE.parse(request.source, field_name="source") if request.source is not None else None
    stage_value = request.stage.stage if isinstance(request.stage, schemas.UpdateStage) else request.stage
    async with db.write() as conn:
        row = await repository.lock(conn, org.dev_org_id, number)
        if row is None:
            raise NotFound(f"incident '{request.id}' does not exist")
        versions = await documents.versions(conn, org)  # before anything else is read (incidents.documents)
        # The links and attachments as stored before this update: the event's old incident, the history's old
        # values and the answer's unchanged collections, read once. The summaries the old incident needs stay in
        # `known`, so the answer's rendering fetches only what the update added.
        stored = (await repository.links(conn, org.dev_org_id, [number])).get(number) or Links()
        stored_attached, stored_artifacts = await artifacts.attached_with_summaries(conn, org, PARENT_KIND, [number])
        known = Summaries(artifacts=dict(stored_artifacts), version=versions.summaries)
        # The event carries the incident before and after; rendered only when the event is recorded.
        old = None
        if "incident_updated" in await outbox.wanted(db, conn, org):
            old = (await render_linked(conn, org, [row], {number: stored}, stored_attached, known))[0]
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
            fragments_version=versions.fragments,
        )
        schema_changes = request.custom_schema_spec is not None or request.custom_fields is not UNSET
        if schema_changes:
            values.update(_schema_columns(schema))
        if stage_value is not None:
            values.update(await _move(conn, org, row, values, schema, stage_value, request, now))
        if isinstance(request.stage, schemas.UpdateStage) and request.stage.notes is not None:
            values["stage_notes"] = request.stage.notes
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
        await history.record_updated(conn, org, principal, row, updated, stored, links, known)
        await repository.replace_links(conn, org.dev_org_id, number, links)
        if schema_changes:
            await repository.replace_custom_values(conn, org.dev_org_id, number, schema.custom_fields)
        if "title" in values or "body" in values or "tags" in links:  # the indexed fields (a stage move is not)
            await search.refresh(db, conn, org.dev_org_id, [number])
        # The answer: the row as updated, the collections the request set as resolved, the others as stored.
        links = {name: getattr(stored, name) for name in LINK_COLLECTIONS} | links
        if attached is None:  # the request left the attachments as they were
            attached = stored_attached
        incident = (await render_linked(conn, org, [updated], {number: Links(**links)}, attached, known))[0]
        kept = await documents.keep(conn, org, versions.summaries, {number: incident})
        if old is not None:
            payload = {"incident": documents.wire(kept[number]), "old_incident": old}
            await outbox.record(db, conn, org, "incident_updated", number, payload)
        return incident


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


# merge (incidentd's extension; links.merging calls these in its transaction) --------------------------------


async def lock(conn: AsyncConnection, org: OrgScope, numbers: list[int]) -> dict[int, Row[Any]]:
    """The existing incidents among `numbers`, each locked against concurrent writers until the transaction ends.
    Locked in number order, so that two transactions locking the same incidents cannot deadlock."""
    found: dict[int, Row[Any]] = {}
    for number in sorted(set(numbers)):
        row = await repository.lock(conn, org.dev_org_id, number)
        if row is not None:
            found[number] = row
    return found


DUPLICATE_STAGE = "duplicate"


async def close_as_duplicate(
    conn: AsyncConnection, principal: Principal, row: Row[Any], *, field_name: str
) -> schemas.Incident:
    """Move a locked, open incident to its diagram's `duplicate` stage, from whichever open stage it is in (the
    diagram's transitions do not apply: this is what merging it into another incident does), with the `updated`
    change event of the move. A closed incident, or a diagram without a `duplicate` stage, is 400 invalid_field
    naming `field_name`."""
    org = principal.org
    summaries_version = await documents.version(conn, org)  # before any summary is read (incidents.documents)
    reference = ids.to_display("incident", row.number)
    current = (await customization.stages(conn, org, [row.stage_number]))[row.stage_number]
    if current.is_final:
        raise InvalidField(
            f"{reference} is closed (stage '{current.name}'); only an open incident can be merged",
            field_name=field_name,
        )
    # The incident's own diagram: the one its custom type fragment names, else its subtype's, else the default.
    schema = await customization.apply_schema(
        conn,
        org,
        LEAF_TYPE,
        spec=None,
        given=None,
        stored_fields=row.custom_fields,
        stored_fragments=row.custom_schema_fragments,
        creating=False,
    )
    diagram = await customization.load_diagram(conn, org, LEAF_TYPE, row.subtype, number=schema.stage_diagram_number)
    duplicate = diagram.by_name(DUPLICATE_STAGE)
    if duplicate is None:
        raise InvalidField(f"the stage diagram of {reference} has no '{DUPLICATE_STAGE}' stage", field_name=field_name)
    now = now_ms()
    before = stages.LifecycleDates(row.acknowledged_date, row.mitigated_date, row.actual_close_date)
    dates = stages.stamp(before, current, duplicate, now)
    updated = await repository.update(
        conn,
        org.dev_org_id,
        row.number,
        {
            "stage_number": duplicate.number,
            "acknowledged_date": dates.acknowledged_date,
            "mitigated_date": dates.mitigated_date,
            "actual_close_date": dates.actual_close_date,
            "modified_by": principal.user_number,
            "modified_date": now,
        },
    )
    await history.record_updated(conn, org, principal, row, updated, Links(), {}, Summaries())
    incident = (await render(conn, org, [updated]))[0]
    await documents.keep(conn, org, summaries_version, {row.number: incident})
    return incident


# delete ----------------------------------------------------------------------------------------------


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete an incident: its links go with it and its artifacts are free to attach elsewhere."""
    number = incident_number(principal.org, reference)
    org = principal.org
    async with db.write() as conn:
        old: schemas.Incident | None = None
        if "incident_deleted" in await outbox.wanted(db, conn, org):
            found = await repository.get_many(conn, org.dev_org_id, [number])
            old = (await render(conn, org, [found[number]]))[0] if number in found else None
        await artifacts.detach(conn, org, parent_kind=PARENT_KIND, parent_number=number)
        if not await repository.delete(conn, org.dev_org_id, number):
            raise NotFound(f"incident '{reference}' does not exist")
        await documents.forget(conn, org, [number])
        await search.remove(conn, org.dev_org_id, [number])
        await history.record_deleted(conn, principal.org, principal, number)
        if old is not None:
            await outbox.record(db, conn, org, "incident_deleted", number, {"id": old.id, "old_incident": old})


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
    conn: AsyncConnection, org: OrgScope, raw: dict[str, Any], paths: dict[str, str], known: Summaries
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
