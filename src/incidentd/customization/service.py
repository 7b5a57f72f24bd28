"""Customization: stage diagrams (the default incident diagram every org gets, loading a diagram, stages and
states) and custom schema fragments (setting, versioning and listing them, and applying them to the custom
fields of an object)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import fields, repository, schemas
from incidentd.customization.schemas import FieldDescriptor, stored_descriptor
from incidentd.db import Database
from incidentd.errors import CustomizationValidationError, InvalidField, InvalidId, MissingRequiredField, NotFound
from incidentd.identity import service as identity
from incidentd.kit import counters, ids, pages
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.time import now_ms
from incidentd.memo import ImmutableRows, VersionedRows
from incidentd.principal import OrgScope, Principal, require_admin

# The default incident stage diagram (contract notes): states, stages with their state, start, transitions.
DEFAULT_STATES = (("open", False), ("in_progress", False), ("closed", True))
DEFAULT_STAGES = (
    ("triage", "open"),
    ("acknowledged", "open"),
    ("fixing", "in_progress"),
    ("mitigated", "in_progress"),
    ("resolved", "closed"),
    ("canceled", "closed"),
    ("duplicate", "closed"),
)
DEFAULT_START = "triage"
DEFAULT_TRANSITIONS = {
    "triage": ("acknowledged", "fixing", "canceled", "duplicate"),
    "acknowledged": ("fixing", "mitigated", "resolved", "canceled", "duplicate"),
    "fixing": ("mitigated", "resolved", "canceled"),
    "mitigated": ("fixing", "resolved"),
    "resolved": ("fixing",),
    "canceled": ("triage",),
    "duplicate": ("triage",),
}


@dataclass(frozen=True)
class StageInfo:
    number: int
    name: str
    state_number: int
    state_name: str
    is_final: bool
    ordinal: int = 0


@dataclass(frozen=True)
class StageDiagram:
    """One diagram, loaded whole: small (a handful of stages), so the rules run in memory."""

    number: int
    start: int
    stages: dict[int, StageInfo]
    transitions: dict[int, frozenset[int]] = field(default_factory=dict)

    def by_name(self, name: str) -> StageInfo | None:
        wanted = name.strip().lower()
        return next((stage for stage in self.stages.values() if stage.name.lower() == wanted), None)

    def allowed_from(self, number: int) -> list[StageInfo]:
        return [self.stages[n] for n in sorted(self.transitions.get(number, frozenset())) if n in self.stages]


async def create_default_incident_diagram(conn: AsyncConnection, org: OrgScope) -> None:
    """Create the org's states, stages and default incident stage diagram (called when an org is created)."""
    now = now_ms()
    audit = {"created_date": now, "modified_date": now}
    first_state = await counters.allocate(conn, org.dev_org_id, "custom_state", len(DEFAULT_STATES))
    states: dict[str, int] = {}
    for offset, (name, is_final) in enumerate(DEFAULT_STATES):
        states[name] = first_state + offset
        await repository.insert_state(
            conn,
            dev_org_id=org.dev_org_id,
            number=states[name],
            name=name,
            is_final=is_final,
            ordinal=offset + 1,
            **audit,
        )
    first_stage = await counters.allocate(conn, org.dev_org_id, "custom_stage", len(DEFAULT_STAGES))
    stages: dict[str, int] = {}
    for offset, (name, state) in enumerate(DEFAULT_STAGES):
        stages[name] = first_stage + offset
        await repository.insert_stage(
            conn,
            dev_org_id=org.dev_org_id,
            number=stages[name],
            name=name,
            ordinal=offset + 1,
            state_number=states[state],
            **audit,
        )
    await create_diagram(
        conn,
        org,
        leaf_type="incident",
        subtype=None,
        stage_numbers=list(stages.values()),
        start=stages[DEFAULT_START],
        transitions=[(stages[a], stages[b]) for a, targets in DEFAULT_TRANSITIONS.items() for b in targets],
    )


async def create_diagram(
    conn: AsyncConnection,
    org: OrgScope,
    *,
    leaf_type: str,
    subtype: str | None,
    stage_numbers: list[int],
    start: int,
    transitions: Iterable[tuple[int, int]],
) -> int:
    """Create a stage diagram over existing stages; returns its number. A diagram with a subtype is that
    subtype's (`load_diagram`); a custom type fragment may also name any diagram of its leaf type."""
    number = await counters.allocate(conn, org.dev_org_id, "stage_diagram")
    now = now_ms()
    await repository.insert_diagram(
        conn,
        values={
            "dev_org_id": org.dev_org_id,
            "number": number,
            "leaf_type": leaf_type,
            "subtype": subtype,
            "start_stage_number": start,
            "created_date": now,
            "modified_date": now,
        },
        stage_numbers=stage_numbers,
        transitions=transitions,
    )
    return number


async def load_diagram(
    conn: AsyncConnection, org: OrgScope, leaf_type: str, subtype: str | None, *, number: int | None = None
) -> StageDiagram:
    """The diagram `number` (the one a custom type fragment names), else the diagram of the leaf type's subtype,
    else the leaf type's default diagram."""
    if number is not None and (named := await _diagram(conn, org, number)) is not None:
        return named
    row = await repository.find_diagram(conn, org.dev_org_id, leaf_type, subtype) if subtype else None
    if row is not None:
        found = await _diagram(conn, org, row.number)
    else:
        defaults = await _default_diagrams.get(conn, org.dev_org_id, [leaf_type], _default_diagram_numbers)
        found = await _diagram(conn, org, defaults[leaf_type]) if leaf_type in defaults else None
    if found is None:
        raise NotFound(f"the org has no stage diagram for {leaf_type}")
    return found


async def _diagram(conn: AsyncConnection, org: OrgScope, number: int) -> StageDiagram | None:
    return (await _diagram_rows.get(conn, org.dev_org_id, [number], _diagrams_by_number)).get(number)


async def _default_diagram_numbers(conn: AsyncConnection, dev_org_id: int, leaf_types: list[str]) -> dict[str, int]:
    found = {}
    for leaf_type in leaf_types:
        if (row := await repository.find_diagram(conn, dev_org_id, leaf_type, None)) is not None:
            found[leaf_type] = row.number
    return found


async def _diagrams_by_number(conn: AsyncConnection, dev_org_id: int, numbers: list[int]) -> dict[int, StageDiagram]:
    found: dict[int, StageDiagram] = {}
    for row in (await repository.get_diagrams(conn, dev_org_id, numbers)).values():
        stage_rows = await repository.diagram_stages(conn, dev_org_id, row.number)
        moves: dict[int, set[int]] = {}
        for move in await repository.diagram_transitions(conn, dev_org_id, row.number):
            moves.setdefault(move.from_stage_number, set()).add(move.to_stage_number)
        found[row.number] = StageDiagram(
            number=row.number,
            start=row.start_stage_number,
            stages={
                stage.number: StageInfo(
                    stage.number, stage.name, stage.state_number, stage.state_name, stage.state_is_final
                )
                for stage in stage_rows
            },
            transitions={source: frozenset(targets) for source, targets in moves.items()},
        )
    return found


# A diagram's stages and transitions are written with it and never changed, and a leaf type's default diagram is
# made with its org and never replaced (see incidentd.memo): every create would otherwise look it up.
_diagram_rows = ImmutableRows[int, StageDiagram]()
_default_diagrams = ImmutableRows[str, int]()


async def stages(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, StageInfo]:
    """Stages by number with their states, in one query (for rendering incidents)."""
    rows = await _stage_rows.get(conn, org.dev_org_id, numbers, repository.stages_by_number)
    return {number: _stage_info(row) for number, row in rows.items()}


# Stages (with their states) and schema fragments are never updated or deleted (see incidentd.memo).
_stage_rows = ImmutableRows[int, Row[Any]]()
_fragment_rows = ImmutableRows[int, Row[Any]]()
# ... and so are the fragments built from them: a create built its tenant fragment's descriptors anew each time.
_built_fragments = ImmutableRows[int, "Fragment"]()
# Which fragment of a lineage is current changes only when a fragment is set, and every set takes its number from
# the org's fragments counter in its own transaction (`kit.counters.FRAGMENTS`): a write that read that counter
# first (`incidents.documents.versions`) takes the current fragments read under the same value from memory
# (`memo.VersionedRows`), a round trip fewer.
_current_fragments = VersionedRows[str, Row[Any]]()


def _stage_info(row: Any) -> StageInfo:
    """A custom_stages row joined with its state (`state_name`, `state_is_final`)."""
    return StageInfo(row.number, row.name, row.state_number, row.state_name, row.state_is_final, row.ordinal)


# endpoints ------------------------------------------------------------------------------------------


async def get_stage(db: Database, principal: Principal, reference: str) -> schemas.CustomStage:
    parsed = ids.parse(reference, "custom_stage", field_name="id")
    async with db.read() as conn:
        rows = await repository.stages_by_number(conn, principal.org.dev_org_id, [parsed.number])
    row = rows.get(parsed.number) if principal.org.owns(parsed) else None
    if row is None:
        raise NotFound(f"custom stage '{reference}' does not exist")
    return schemas.custom_stage(row, principal.org)


async def list_stages(
    db: Database, principal: Principal, request: schemas.CustomStagesListRequest
) -> tuple[list[schemas.CustomStage], str | None]:
    check_list_lengths(request)
    names, ordinals = sorted(request.name or []), sorted(request.ordinal or [])
    page = pages.window(request.cursor, "after", request.limit, "custom_stages", names, ordinals)
    async with db.read() as conn:
        rows = list(
            await repository.list_stages(conn, principal.org.dev_org_id, names=names, ordinals=ordinals, page=page)
        )
    return _result(rows, page, lambda row: schemas.custom_stage(row, principal.org))


async def get_state(db: Database, principal: Principal, reference: str) -> schemas.CustomState:
    parsed = ids.parse(reference, "custom_state", field_name="id")
    async with db.read() as conn:
        rows = await repository.states_by_number(conn, principal.org.dev_org_id, [parsed.number])
    row = rows.get(parsed.number) if principal.org.owns(parsed) else None
    if row is None:
        raise NotFound(f"custom state '{reference}' does not exist")
    return schemas.custom_state(row, principal.org)


async def list_states(
    db: Database, principal: Principal, request: schemas.CustomStatesListRequest
) -> tuple[list[schemas.CustomState], str | None]:
    check_list_lengths(request)
    names, ordinals = sorted(request.name or []), sorted(request.ordinal or [])
    page = pages.window(request.cursor, "after", request.limit, "custom_states", names, ordinals, request.is_final)
    async with db.read() as conn:
        rows = list(
            await repository.list_states(
                conn, principal.org.dev_org_id, names=names, ordinals=ordinals, is_final=request.is_final, page=page
            )
        )
    return _result(rows, page, lambda row: schemas.custom_state(row, principal.org))


def _result(rows: list[Any], page: pages.Window, render: Any) -> tuple[list[Any], str | None]:
    """DevRev's custom stage/state lists have one `cursor`: the position after this page, if more follow."""
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return [render(row) for row in rows], links.next_cursor


async def stage_numbers_named(conn: AsyncConnection, org: OrgScope, names: list[str], *, field_name: str) -> list[int]:
    """The numbers of the org's stages with these names; an unknown name is 400 naming its element."""
    found = await repository.stage_numbers_named(conn, org.dev_org_id, names)
    numbers: list[int] = []
    for index, name in enumerate(names):
        matches = found.get(name.strip().lower())
        if not matches:
            raise InvalidField(f"'{name}' is not the name of a stage", field_name=f"{field_name}[{index}]")
        numbers += matches
    return numbers


# schema fragments ------------------------------------------------------------------------------------

LEAF_TYPES = ("incident",)
TENANT, CUSTOM_TYPE, APP = "tenant_fragment", "custom_type_fragment", "app_fragment"
FRAGMENT_KINDS = (TENANT, CUSTOM_TYPE, APP)
NAMESPACES = {TENANT: "tnt", CUSTOM_TYPE: "ctype"}  # an app fragment's namespace is its app's name
SUBTYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
APP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
# Members of the set request that belong to one fragment type only.
TYPE_MEMBERS = {
    "subtype": CUSTOM_TYPE,
    "subtype_display_name": CUSTOM_TYPE,
    "stage_diagram": CUSTOM_TYPE,
    "path": CUSTOM_TYPE,
    "app": APP,
    "app_display_name": APP,
}


@dataclass(frozen=True)
class Fragment:
    """One version of a fragment, with its fields by key (`tnt__region`)."""

    number: int
    kind: str
    leaf_type: str
    subtype: str | None
    app: str | None
    is_deprecated: bool
    stage_diagram_number: int | None
    fields: dict[str, FieldDescriptor]

    @property
    def slot(self) -> str:
        """Where an object holds this fragment: one tenant fragment, one subtype, one fragment per app."""
        return slot_of(self.kind, self.app)


def slot_of(kind: str, app: str | None) -> str:
    return {TENANT: "tenant", CUSTOM_TYPE: "subtype"}.get(kind) or f"app:{app}"


def field_key(kind: str, app: str | None, name: str) -> str:
    """The key of a field in an object's custom_fields: `tnt__<name>`, `ctype__<name>` or `<app>__<name>`."""
    return f"{NAMESPACES.get(kind) or app}__{name}"


def slot_of_key(key: str) -> str | None:
    """The slot whose fragment declares the custom field `key` (None: not a custom field name)."""
    namespace, separator, name = key.partition("__")
    if not separator or not namespace or not name:
        return None
    return {"tnt": "tenant", "ctype": "subtype"}.get(namespace) or f"app:{namespace}"


def _lineage(kind: str, leaf_type: str, subtype: str | None, app: str | None) -> str:
    return f"{kind}:{leaf_type}:{subtype or app or ''}"


def _fragment(row: Any) -> Fragment:
    descriptors = [stored_descriptor(entry) for entry in row.fields]
    return Fragment(
        number=row.number,
        kind=row.fragment_type,
        leaf_type=row.leaf_type,
        subtype=row.subtype,
        app=row.app,
        is_deprecated=row.is_deprecated,
        stage_diagram_number=row.stage_diagram_number,
        fields={field_key(row.fragment_type, row.app, d.name): d for d in descriptors},
    )


async def set_fragment(db: Database, principal: Principal, request: schemas.CustomSchemaFragmentsSetRequest) -> str:
    """Create a fragment, or a new version of it when its content changed (an unchanged fragment keeps its id).
    Fields of the current version that the new one leaves out must be named in `deleted_fields`; a field keeps
    its type across versions. Only admins change the org's schemas."""
    require_admin(principal, "change custom schemas")
    org = principal.org
    _check_fragment_request(request)
    descriptors = [
        fields.check_descriptor(descriptor, path=f"fields[{index}]", org=org)
        for index, descriptor in enumerate(request.fields or [])
    ]
    names = [descriptor.name for descriptor in descriptors]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise InvalidField(f"the field '{name}' is declared twice", field_name=f"fields[{index}].name")
    for index, name in enumerate(request.deleted_fields or []):
        if name in names:
            raise InvalidField(f"'{name}' is both declared and deleted", field_name=f"deleted_fields[{index}]")
    lineage = _lineage(request.type, request.leaf_type, request.subtype, request.app)
    content = {
        "description": request.description,
        "is_deprecated": bool(request.is_deprecated or request.deprecated),
        "fields": [msgspec.to_builtins(descriptor) for descriptor in descriptors],
        "details": {
            name: value
            for name in ("subtype_display_name", "app_display_name", "path")
            if (value := getattr(request, name)) is not None
        },
    }
    async with db.write() as conn:
        content["stage_diagram_number"] = await _stage_diagram(conn, org, request.stage_diagram, request.leaf_type)
        if (
            unchanged := _unchanged(await repository.lineage_versions(conn, org.dev_org_id, lineage), content)
        ) is not None:
            return org.don(request.type, unchanged)
        # Allocating serialises the sets of one org (the counter row stays locked until commit), so the versions
        # read after it are the latest.
        number = await counters.allocate(conn, org.dev_org_id, request.type)
        versions = await repository.lineage_versions(conn, org.dev_org_id, lineage)
        if (unchanged := _unchanged(versions, content)) is not None:
            return org.don(request.type, unchanged)
        _check_evolution(versions, descriptors, request.deleted_fields or [])
        now = now_ms()
        await repository.insert_fragment(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            fragment_type=request.type,
            leaf_type=request.leaf_type,
            subtype=request.subtype,
            app=request.app,
            lineage=lineage,
            version=versions[-1].version + 1 if versions else 1,
            previous_number=versions[-1].number if versions else None,
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
            **content,
        )
    return org.don(request.type, number)


def _check_fragment_request(request: schemas.CustomSchemaFragmentsSetRequest) -> None:
    if request.leaf_type not in LEAF_TYPES:
        raise InvalidField(
            f"'{request.leaf_type}' is not a leaf type incidentd serves ({', '.join(LEAF_TYPES)})",
            field_name="leaf_type",
        )
    if request.is_custom_leaf_type:
        raise InvalidField("custom leaf types are not supported", field_name="is_custom_leaf_type")
    for member, kind in TYPE_MEMBERS.items():
        if getattr(request, member) is not None and request.type != kind:
            raise InvalidField(f"{member} applies to {kind} only", field_name=member)
    if request.type == CUSTOM_TYPE:
        if request.subtype is None:
            raise MissingRequiredField("a custom type fragment needs subtype", field_name="subtype")
        if not SUBTYPE_NAME.match(request.subtype):
            raise InvalidField(
                "a subtype is 1 to 64 letters, digits, '_' or '-', starting with a letter or digit",
                field_name="subtype",
            )
    if request.type == APP:
        if request.app is None:
            raise MissingRequiredField("an app fragment needs app", field_name="app")
        if not APP_NAME.match(request.app) or "__" in request.app or request.app in NAMESPACES.values():
            raise InvalidField(
                "an app name is 1 to 48 lower-case letters, digits and single underscores, starting with a letter "
                "(not 'tnt' or 'ctype': its fields are named <app>__<name>)",
                field_name="app",
            )


async def _stage_diagram(conn: AsyncConnection, org: OrgScope, reference: str | None, leaf_type: str) -> int | None:
    if reference is None:
        return None
    parsed = ids.parse(reference, "stage_diagram", field_name="stage_diagram")
    row = await repository.get_diagram(conn, org.dev_org_id, parsed.number) if org.owns(parsed) else None
    if row is None or row.leaf_type != leaf_type:
        raise InvalidId(f"'{reference}' is not a stage diagram of {leaf_type}", field_name="stage_diagram")
    return int(row.number)


def _unchanged(versions: Sequence[Any], content: dict[str, Any]) -> int | None:
    """The number of the current version when it has this content (setting it again changes nothing)."""
    if not versions:
        return None
    current = versions[-1]
    stored = {name: getattr(current, name) for name in content}
    return int(current.number) if stored == content else None


def _check_evolution(versions: Sequence[Any], descriptors: list[FieldDescriptor], deleted: list[str]) -> None:
    if not versions:
        return
    names = {descriptor.name for descriptor in descriptors}
    for entry in versions[-1].fields:
        if entry["name"] not in names and entry["name"] not in deleted:
            raise InvalidField(
                f"the field '{entry['name']}' of the current version is missing; name it in deleted_fields to drop it",
                field_name="fields",
            )
    earlier = [stored_descriptor(entry) for version in versions for entry in version.fields]
    for index, descriptor in enumerate(descriptors):
        for before in earlier:
            if before.name == descriptor.name and not fields.same_type(before, descriptor):
                raise InvalidField(
                    f"the field '{descriptor.name}' was {fields.element_type(before)}"
                    f"{' array' if before.field_type == 'array' else ''}; a field keeps its type across versions "
                    "(use another name)",
                    field_name=f"fields[{index}].field_type",
                )


async def get_fragment(db: Database, principal: Principal, reference: str) -> schemas.CustomSchemaFragment:
    parsed = ids.parse(reference, FRAGMENT_KINDS, field_name="id")
    async with db.read() as conn:
        rows = await repository.fragments_by_number(conn, principal.org.dev_org_id, [parsed.number])
        row = rows.get(parsed.number) if principal.org.owns(parsed) else None
        if row is None or row.fragment_type != parsed.kind.name:
            raise NotFound(f"schema fragment '{reference}' does not exist")
        return (await _render_fragments(conn, principal.org, [row], prune_fields=False))[0]


async def list_fragments(
    db: Database, principal: Principal, request: schemas.CustomSchemaFragmentsListRequest
) -> tuple[list[schemas.CustomSchemaFragment], str | None, str | None]:
    """A page of the current version of each fragment that matches the filters, in id order."""
    check_list_lengths(request)
    deprecated = request.is_deprecated if request.is_deprecated is not None else request.deprecated
    filters = [sorted(set(values or [])) for values in (request.types, request.leaf_type, request.subtype, request.app)]
    if request.is_custom_leaf_type:
        return [], None, None  # incidentd has no custom leaf types
    page = pages.window(request.cursor, request.mode, request.limit, "schema_fragments", *filters, deprecated)
    async with db.read() as conn:
        rows = list(
            await repository.list_fragments(
                conn,
                principal.org.dev_org_id,
                types=filters[0],
                leaf_types=filters[1],
                subtypes=filters[2],
                apps=filters[3],
                is_deprecated=deprecated,
                page=page,
            )
        )
        more = len(rows) > page.limit
        rows = sorted(rows[: page.limit], key=lambda row: row.number)
        rendered = await _render_fragments(conn, principal.org, rows, prune_fields="fields" in (request.prune or []))
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return rendered, links.next_cursor, links.prev_cursor


async def _render_fragments(
    conn: AsyncConnection, org: OrgScope, rows: list[Any], *, prune_fields: bool
) -> list[schemas.CustomSchemaFragment]:
    users = await identity.users_by_number(
        conn, org, {n for row in rows for n in (row.created_by, row.modified_by) if n is not None}
    )
    later = await repository.later_versions(conn, org.dev_org_id, [row.number for row in rows])
    return [
        schemas.custom_schema_fragment(row, org, users, newer=later.get(row.number), prune_fields=prune_fields)
        for row in rows
    ]


async def list_subtypes(
    db: Database, principal: Principal, request: schemas.SubtypesListRequest
) -> list[schemas.Subtype]:
    """The subtypes of the leaf types asked for (all when none): the current, not deprecated custom type
    fragments."""
    check_list_lengths(request)
    wanted = set(request.leaf_types or []) | ({request.leaf_type} if request.leaf_type else set())
    subtypes: list[schemas.Subtype] = []
    async with db.read() as conn:
        for leaf_type in sorted(wanted & set(LEAF_TYPES)) if wanted else LEAF_TYPES:
            for row in await repository.current_fragments(conn, principal.org.dev_org_id, leaf_type=leaf_type):
                if row.fragment_type == CUSTOM_TYPE and not row.is_deprecated:
                    subtypes.append(schemas.subtype(row, principal.org))
    return sorted(subtypes, key=lambda subtype: (subtype.leaf_type, subtype.value))


async def fragment_kinds(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, str]:
    """{number: fragment type} of fragments (to render the DONs objects point at), in one query."""
    rows = await _fragment_rows.get(conn, org.dev_org_id, numbers, repository.fragments_by_number)
    return {number: row.fragment_type for number, row in rows.items()}


async def declared_fields(conn: AsyncConnection, org: OrgScope, leaf_type: str) -> dict[str, list[FieldDescriptor]]:
    """Every field any version of any fragment of the leaf type declares, by key, each distinct type once:
    what filters and group_by may name."""
    declared: dict[str, list[FieldDescriptor]] = {}
    for row in await repository.declared_fields(conn, org.dev_org_id, leaf_type):
        for entry in row.fields:
            descriptor = stored_descriptor(entry)
            known = declared.setdefault(field_key(row.fragment_type, row.app, descriptor.name), [])
            if not any(fields.same_type(descriptor, other) for other in known):
                known.append(descriptor)
    return declared


# custom fields of an object --------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedSchema:
    """An object's custom fields after a create or update, and what its fragments in force make of it."""

    custom_fields: dict[str, Any]
    fragments: list[int]  # numbers: the tenant fragment, the subtype's, then the apps' (by app name)
    subtype: str | None
    stage_diagram_number: int | None


async def apply_schema(
    conn: AsyncConnection,
    org: OrgScope,
    leaf_type: str,
    *,
    spec: schemas.CustomSchemaSpec | None,
    given: dict[str, Any] | None,
    clear: bool = False,
    stored_fields: dict[str, Any] | None = None,
    stored_fragments: list[int] | None = None,
    creating: bool,
    fragments_version: int | None = None,
) -> AppliedSchema:
    """Apply DevRev's custom_schema_spec and custom_fields to an object.

    The spec names the fragments this request applies (each at its current version) and `drop` removes some;
    other fragments in force stay. Every field in `given` must belong to a fragment the spec names (DevRev:
    "omission results in a Bad Request error"); `None` clears a value; `clear` (update with `custom_fields:
    null`) clears them all. Values kept from before are checked again against the fragments the spec names,
    values of fields no fragment in force declares are dropped, absent fields of the named fragments take their
    defaults, and `validate_required_fields` requires every required field of the fragments in force.
    `fragments_version`: the org's fragments counter (`kit.counters.FRAGMENTS`), read by the unit of work before
    anything else (current fragments read under it are remembered)."""
    in_force = {fragment.slot: fragment for fragment in await _fragments(conn, org, stored_fragments or [])}
    named: dict[str, Fragment | None] = {}
    if spec is not None:
        named = await _named_fragments(conn, org, leaf_type, spec, fragments_version)
        for slot in _dropped_slots(spec) if not creating else []:
            in_force.pop(slot, None)
        in_force.update({slot: fragment for slot, fragment in named.items() if fragment is not None})
    declared = {key: fragment for fragment in in_force.values() for key in fragment.fields}
    values = {key: value for key, value in (stored_fields or {}).items() if key in declared and not clear}
    if clear and not creating:
        for key in stored_fields or {}:
            if key in declared and declared[key].fields[key].is_immutable:
                raise _immutable(key)
    given = given or {}
    for key, value in given.items():
        descriptor = _descriptor_in_spec(named, key)
        field_name = f"custom_fields.{key}"
        new = fields.normalise(descriptor, value, field_name=field_name, org=org) if value is not None else None
        if descriptor.is_immutable and not creating and key in values and values[key] != new:
            raise _immutable(key)
        if new is None:
            values.pop(key, None)
        else:
            values[key] = new
    for fragment in (fragment for fragment in named.values() if fragment is not None):
        for key, descriptor in fragment.fields.items():
            if key in given:
                continue
            if key in values:
                values[key] = fields.normalise(descriptor, values[key], field_name=f"custom_fields.{key}", org=org)
            elif descriptor.default_value is not None:
                values[key] = descriptor.default_value
    if spec is not None and spec.validate_required_fields:
        for fragment in in_force.values():
            for key, descriptor in fragment.fields.items():
                if descriptor.is_required and key not in values:
                    raise CustomizationValidationError(
                        f"custom_fields.{key} is required", subtype="field_required", field_name=f"custom_fields.{key}"
                    )
    subtype_fragment = in_force.get("subtype")
    return AppliedSchema(
        custom_fields=values,
        fragments=[
            in_force[slot].number for slot in sorted(in_force, key=lambda slot: (_SLOT_ORDER.get(slot, 2), slot))
        ],
        subtype=subtype_fragment.subtype if subtype_fragment else None,
        stage_diagram_number=subtype_fragment.stage_diagram_number if subtype_fragment else None,
    )


_SLOT_ORDER = {"tenant": 0, "subtype": 1}


def _immutable(key: str) -> CustomizationValidationError:
    return CustomizationValidationError(
        f"custom_fields.{key} cannot change once set", subtype="field_immutable", field_name=f"custom_fields.{key}"
    )


async def _fragments(conn: AsyncConnection, org: OrgScope, numbers: list[int]) -> list[Fragment]:
    async def build(conn: AsyncConnection, dev_org_id: int, missing: list[int]) -> dict[int, Fragment]:
        rows = await _fragment_rows.get(conn, dev_org_id, missing, repository.fragments_by_number)
        return {number: _fragment(row) for number, row in rows.items()}

    built = await _built_fragments.get(conn, org.dev_org_id, numbers, build)
    return [built[number] for number in numbers if number in built]


async def _named_fragments(
    conn: AsyncConnection, org: OrgScope, leaf_type: str, spec: schemas.CustomSchemaSpec, fragments_version: int | None
) -> dict[str, Fragment | None]:
    """{slot: its current fragment} of the fragments the spec names; a subtype or app without one is 400
    fragment_not_found (an org without a tenant fragment simply has no tenant fields). `fragments_version`: the
    org's fragments counter (`kit.counters.FRAGMENTS`) as the unit of work read it before anything else, if it did."""
    wanted: dict[str, tuple[str, str]] = {}
    if spec.tenant_fragment:
        wanted["tenant"] = (_lineage(TENANT, leaf_type, None, None), "custom_schema_spec.tenant_fragment")
    if spec.subtype is not None:
        wanted["subtype"] = (_lineage(CUSTOM_TYPE, leaf_type, spec.subtype, None), "custom_schema_spec.subtype")
    for index, app in enumerate(spec.apps or []):
        wanted[slot_of(APP, app)] = (_lineage(APP, leaf_type, None, app), f"custom_schema_spec.apps[{index}]")
    lineages = [lineage for lineage, _ in wanted.values()]

    async def current_of(missing: list[str]) -> dict[str, Row[Any]]:
        rows = await repository.current_fragments(conn, org.dev_org_id, leaf_type=leaf_type, lineages=missing)
        return {row.lineage: row for row in rows}

    if fragments_version is None:
        current_rows = await current_of(lineages)
    else:
        current_rows = await _current_fragments.get(conn, org.dev_org_id, fragments_version, lineages, current_of)
    rows = list(current_rows.values())
    by_number = {row.number: row for row in rows}

    async def build(conn: AsyncConnection, dev_org_id: int, missing: list[int]) -> dict[int, Fragment]:
        return {number: _fragment(by_number[number]) for number in missing}

    built = await _built_fragments.get(conn, org.dev_org_id, by_number, build)
    current = {row.lineage: built[row.number] for row in rows}
    named: dict[str, Fragment | None] = {}
    for slot, (lineage, field_name) in wanted.items():
        fragment = current.get(lineage)
        if fragment is None and slot != "tenant":
            raise CustomizationValidationError(
                f"{field_name}: no schema fragment is set for it", subtype="fragment_not_found", field_name=field_name
            )
        if fragment is not None and fragment.is_deprecated:
            raise CustomizationValidationError(
                f"{field_name}: the schema fragment is deprecated", subtype="invalid_argument", field_name=field_name
            )
        named[slot] = fragment
    return named


def _dropped_slots(spec: schemas.CustomSchemaSpec) -> list[str]:
    if spec.drop is None:
        return []
    dropped: list[str] = []
    if spec.drop.subtype:
        if spec.subtype is not None:
            raise InvalidField(
                "a request cannot both set and drop the subtype", field_name="custom_schema_spec.drop.subtype"
            )
        dropped.append("subtype")
    for index, app in enumerate(spec.drop.apps or []):
        if app in (spec.apps or []):
            raise InvalidField(
                f"a request cannot both apply and drop the app '{app}'",
                field_name=f"custom_schema_spec.drop.apps[{index}]",
            )
        dropped.append(slot_of(APP, app))
    return dropped


def _descriptor_in_spec(named: dict[str, Fragment | None], key: str) -> FieldDescriptor:
    """The descriptor of a custom field the request gives: its fragment must be one the spec names."""
    field_name = f"custom_fields.{key}"
    slot = slot_of_key(key)
    if slot is None or slot not in named:
        raise CustomizationValidationError(
            f"{field_name}: custom_schema_spec must name the fragment of every custom field given (tenant_fragment: "
            "true for tnt__ fields, subtype for ctype__ fields, apps for <app>__ fields)",
            subtype="field_not_in_schema",
            field_name=field_name,
        )
    fragment = named[slot]
    descriptor = fragment.fields.get(key) if fragment is not None else None
    if descriptor is None:
        raise CustomizationValidationError(
            f"{field_name}: the schema fragment declares no such field",
            subtype="field_not_in_schema",
            field_name=field_name,
        )
    return descriptor
