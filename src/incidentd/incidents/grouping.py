"""Grouping incidents by a field: pages of groups in key order, each with its first incidents and its total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import fields as custom_fields
from incidentd.customization import service as customization
from incidentd.customization.schemas import FieldDescriptor
from incidentd.db import Database
from incidentd.errors import BadRequestError, InvalidField
from incidentd.identity import service as identity
from incidentd.incidents import filters, reading, repository, schemas
from incidentd.incidents.reading import LEAF_TYPE
from incidentd.kit import cursors, pages
from incidentd.kit.time import now_ms
from incidentd.parts import service as parts
from incidentd.principal import OrgScope, Principal

CUSTOM_GROUP = "custom_fields."  # group_by custom_fields.<name>

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


# group -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupsPage:
    groups: list[schemas.IncidentsGroup]
    next_cursor: str | None
    prev_cursor: str | None


async def group_incidents(
    db: Database, principal: Principal, request: schemas.IncidentsGroupRequest, *, encoded: bool = False
) -> GroupsPage:
    """Incidents grouped by a field: groups in key order (no-value group last), each with its first incidents in
    the requested order and its total. A group's `next_cursor` continues that group; the response's
    `next_cursor` / `prev_cursor` page through the groups. Incidents come from their stored documents where
    current (`encoded` as in `reading.get`)."""
    org = principal.org
    field = group_column(request.group_by)
    sort = filters.parse_sort(request.sort_by)
    group_limit = pages.page_limit(request.limit, default=10)
    per_group = pages.page_limit(request.limit_per_group, field_name="limit_per_group")
    fingerprint = reading.request_fingerprint(request, "incidents.group")
    position = cursors.decode(request.cursor, fingerprint) if request.cursor else None
    async with db.read() as conn:
        descriptors = await group_descriptors(conn, org, field)
        spec = await reading.filter_spec(conn, org, request, now_ms())
        clauses = repository.where(org.dev_org_id, spec)
        counts = await repository.group_counts(
            conn,
            repository.where(org.dev_org_id, spec, counting=True),
            org.dev_org_id,
            field,
            filtered=spec != filters.FilterSpec(),
        )
        keyed = await group_keys(conn, org, field, counts, descriptors)
        few = await reading.few_matches(conn, org) if descriptors else 0
        if position is not None and position.values and position.values[0] == "items":
            # Continue one group: the cursor holds its key and the boundary inside it.
            if len(position.values) < 2 or not isinstance(position.values[1], int | str | None):
                raise BadRequestError("the cursor is not valid")
            key = position.values[1]
            selected = [entry for entry in keyed if entry.key == key]
            boundary: list[Any] | None = reading.checked_boundary(position.values[2:], sort)
            backwards = (request.mode or position.direction) == "before"
            groups_before = groups_after = False
        else:
            selected, groups_before, groups_after = _select_groups(keyed, position, request.mode, group_limit)
            boundary, backwards = None, False
        windows = []
        for entry in selected:
            group = repository.group_clause(org.dev_org_id, field, entry.key, few=entry.total <= few)
            group_clauses = [*clauses, group]
            window = await reading.walk(
                conn, group_clauses, sort, boundary=boundary, backwards=backwards, limit=per_group
            )
            windows.append((entry, window))
        every = [row for _, window in windows for row in window.rows]
        rendered = iter(await reading.from_documents(conn, org, every, encoded=encoded))
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


def group_column(group_by: str) -> str:
    """The repository's name of what `group_by` groups by (a column, a link, or custom_fields.<name>); a field
    that cannot be grouped by is invalid_field naming `group_by`."""
    field = GROUP_FIELDS.get(group_by) or (group_by if group_by.startswith(CUSTOM_GROUP) else None)
    if field is None:
        raise InvalidField(
            f"'{group_by}' cannot be grouped by; use one of {', '.join(GROUP_FIELDS)} or {CUSTOM_GROUP}<name>",
            field_name="group_by",
        )
    return field


async def group_descriptors(conn: AsyncConnection, org: OrgScope, field: str) -> list[FieldDescriptor]:
    """The declarations of a custom field grouped by (none for other fields); a custom field no schema fragment
    of incidents declares is invalid_field naming `group_by`."""
    if not field.startswith(CUSTOM_GROUP):
        return []
    declared = await customization.declared_fields(conn, org, LEAF_TYPE)
    descriptors = declared.get(field.removeprefix(CUSTOM_GROUP), [])
    if not descriptors:
        raise InvalidField(
            f"'{field.removeprefix(CUSTOM_GROUP)}' is not a field of any schema fragment of incidents",
            field_name="group_by",
        )
    return descriptors


@dataclass(frozen=True)
class GroupKey:
    key: Any  # the stored value (None: incidents without a value)
    rank: list[Any]  # sort position among groups: no-value last
    total: int
    field_value: schemas.FieldValue


async def group_keys(
    conn: AsyncConnection,
    org: OrgScope,
    field: str,
    counts: list[tuple[Any, int]],
    descriptors: list[FieldDescriptor],
) -> list[GroupKey]:
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
        kinds = await identity.user_kinds(conn, org.dev_org_id, present)

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
            keyed.append(GroupKey(None, [1, None], total, schemas.FieldValue(type=empty_type)))
        else:
            order, value = describe(key)
            keyed.append(GroupKey(key, [0, order], total, value))
    return sorted(keyed, key=lambda entry: (entry.rank[0], entry.rank[1] if entry.rank[1] is not None else 0))


def _select_groups(
    keyed: list[GroupKey], position: cursors.Position | None, mode: str | None, limit: int
) -> tuple[list[GroupKey], bool, bool]:
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
