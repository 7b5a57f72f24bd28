"""An incident's history: the change events its writes append to its timeline, built from what each write
already holds (the row before and after, the links it resolved), never from a read-back of the incident.

Field values are DevRev's `field-value` objects: text as `string`, enum fields (severity, reported_by, source,
impact.count) as `int` ids, dates as `date_time`, the stage as `stage` (name, notes), references as `id_list`
of DONs, tags as `tag_summary_list`, custom fields by their JSON type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import service as customization
from incidentd.incidents import schemas
from incidentd.incidents.rendering import Summaries
from incidentd.incidents.repository import Links
from incidentd.kit.time import to_rfc3339
from incidentd.principal import OrgScope, Principal
from incidentd.timeline import changes
from incidentd.timeline.schemas import FieldDelta, FieldValue

OBJECT_TYPE = "incident"

# column -> (field name, field-value type) of the incident's scalar columns.
COLUMN_FIELDS: dict[str, tuple[str, str]] = {
    "title": ("title", "string"),
    "body": ("body", "string"),
    "severity": ("severity", "int"),
    "reported_by": ("reported_by", "int"),
    "source": ("source", "int"),
    "impact_count": ("impact.count", "int"),
    "subtype": ("subtype", "string"),
    "identified_date": ("identified_date", "date_time"),
    "acknowledged_date": ("acknowledged_date", "date_time"),
    "mitigated_date": ("mitigated_date", "date_time"),
    "target_close_date": ("target_close_date", "date_time"),
    "actual_close_date": ("actual_close_date", "date_time"),
    "is_staged": ("staged_info.is_staged", "bool"),
    "sync_external_reference": ("sync_metadata.external_reference", "string"),
    "sync_origin_system": ("sync_metadata.origin_system", "string"),
    "sync_in_status": ("sync_metadata.last_sync_in.status", "string"),
    "sync_in_date": ("sync_metadata.last_sync_in.sync_date", "date_time"),
    "sync_in_unit": ("sync_metadata.last_sync_in.sync_unit", "string"),
    "sync_in_history": ("sync_metadata.last_sync_in.sync_history", "string"),
    "sync_out_status": ("sync_metadata.last_sync_out.status", "string"),
    "sync_out_date": ("sync_metadata.last_sync_out.sync_date", "date_time"),
    "sync_out_unit": ("sync_metadata.last_sync_out.sync_unit", "string"),
    "sync_out_history": ("sync_metadata.last_sync_out.sync_history", "string"),
    "external_created_date": ("external_source_data.created_date", "date_time"),
    "external_modified_date": ("external_source_data.modified_date", "date_time"),
    "external_closed_date": ("external_source_data.closed_date", "date_time"),
}

# Link collection -> (field name, kind of its DONs; None: the user kinds, looked up).
LINK_FIELDS: dict[str, tuple[str, str | None]] = {
    "owned_by": ("owned_by", None),
    "applies_to_parts": ("applies_to_parts", None),
    "pia": ("pia", "article"),
    "playbooks": ("playbooks", "article"),
    "related_docs": ("related_docs", "article"),
    "customer_ids": ("impact.customer_ids", "account"),
}


async def record_created(
    conn: AsyncConnection, org: OrgScope, principal: Principal, incident: schemas.Incident
) -> None:
    """The `created` event, carrying the incident-summary of the incident as created (rendered for the answer)."""
    summary: dict[str, Any] = {"type": OBJECT_TYPE, "id": incident.id, "display_id": incident.display_id}
    summary["title"] = incident.title
    if incident.owned_by:
        summary["owned_by"] = incident.owned_by
    if incident.severity is not None:
        summary["severity"] = incident.severity
    if incident.stage is not None and incident.stage.stage is not None:
        summary["stage"] = {"stage": incident.stage.stage}
    await changes.record_change(conn, org, principal, incident.id, changes.created(summary))


async def record_deleted(conn: AsyncConnection, org: OrgScope, principal: Principal, number: int) -> None:
    incident_id = org.don(OBJECT_TYPE, number)
    await changes.record_change(conn, org, principal, incident_id, changes.deleted(incident_id))


async def record_updated(
    conn: AsyncConnection,
    org: OrgScope,
    principal: Principal,
    before: Row[Any],
    after: Row[Any],
    links_before: Links,
    links_after: dict[str, Any],
    known: Summaries,
) -> None:
    """The `updated` event of one update: a delta per field whose value changed (none at all: no event).
    `links_after` holds the collections the update set (keys as in `Links`)."""
    deltas = [*_column_deltas(before, after)]
    if before.stage_number != after.stage_number or before.stage_notes != after.stage_notes:
        deltas.append(await _stage_delta(conn, org, before, after))
    deltas += await _link_deltas(conn, org, links_before, links_after, known)
    deltas += _custom_deltas(before.custom_fields or {}, after.custom_fields or {})
    if deltas:
        incident_id = org.don(OBJECT_TYPE, after.number)
        await changes.record_change(conn, org, principal, incident_id, changes.updated(OBJECT_TYPE, deltas))


def _column_deltas(before: Row[Any], after: Row[Any]) -> Iterable[FieldDelta]:
    for column, (name, kind) in COLUMN_FIELDS.items():
        old, new = getattr(before, column), getattr(after, column)
        if old != new:
            yield FieldDelta(name=name, old_value=_scalar(kind, old), new_value=_scalar(kind, new))


def _scalar(kind: str, value: Any) -> FieldValue | None:
    if value is None:
        return None
    return FieldValue(type=kind, value=to_rfc3339(value) if kind == "date_time" else value)


async def _stage_delta(conn: AsyncConnection, org: OrgScope, before: Row[Any], after: Row[Any]) -> FieldDelta:
    names = await customization.stages(conn, org, [before.stage_number, after.stage_number])  # remembered rows

    def value(row: Row[Any]) -> FieldValue:
        stage = FieldValue(type="stage", name=names[row.stage_number].name)
        if row.stage_notes is not None:
            stage.notes = row.stage_notes
        return stage

    return FieldDelta(name="stage", old_value=value(before), new_value=value(after))


async def _link_deltas(
    conn: AsyncConnection, org: OrgScope, before: Links, after: dict[str, Any], known: Summaries
) -> list[FieldDelta]:
    changed = {name: numbers for name, numbers in after.items() if getattr(before, name) != numbers}
    if not changed:
        return []
    # DONs need each user's and part's kind, tags need their names: the write looked up the new ones already.
    users = {*before.owned_by, *changed.get("owned_by", [])} if "owned_by" in changed else set()
    part_numbers = (
        {*before.applies_to_parts, *changed.get("applies_to_parts", [])} if "applies_to_parts" in changed else set()
    )
    tag_numbers = {n for n, _ in [*before.tags, *changed.get("tags", [])]} if "tags" in changed else set()
    await known.lookup_users(org)(conn, org.dev_org_id, users - known.users.keys())
    await known.lookup_parts(org)(conn, org.dev_org_id, part_numbers - known.parts.keys())
    await known.lookup_tags(org)(conn, org.dev_org_id, tag_numbers - known.tags.keys())
    deltas = []
    for collection, numbers in changed.items():
        old = getattr(before, collection)
        if collection == "tags":
            deltas.append(FieldDelta(name="tags", old_value=_tags(old, known), new_value=_tags(numbers, known)))
            continue
        name, kind = LINK_FIELDS[collection]

        def don(number: int, collection: str = collection, kind: str | None = kind) -> str:
            if kind is not None:
                return org.don(kind, number)
            if collection == "owned_by":
                return org.don(known.users[number].user_type, number)
            return str(known.parts[number].id)

        deltas.append(
            FieldDelta(
                name=name,
                old_value=FieldValue(type="id_list", values=[don(n) for n in old]) if old else None,
                new_value=FieldValue(type="id_list", values=[don(n) for n in numbers]) if numbers else None,
            )
        )
    return deltas


def _tags(tags: list[tuple[int, str | None]], known: Summaries) -> FieldValue | None:
    if not tags:
        return None
    values = [{"tag_id": known.tags[number].id, "name": known.tags[number].name} for number, _ in tags]
    return FieldValue(type="tag_summary_list", values=values)


def _custom_deltas(before: dict[str, Any], after: dict[str, Any]) -> list[FieldDelta]:
    deltas = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key), after.get(key)
        if old != new:
            deltas.append(FieldDelta(name=f"custom_fields.{key}", old_value=_json(old), new_value=_json(new)))
    return deltas


def _json(value: Any) -> FieldValue | None:
    """A custom field's value as a field-value of its JSON type."""
    if value is None:
        return None
    if isinstance(value, list):
        kinds = {_json_type(item) for item in value}
        kind = kinds.pop() if len(kinds) == 1 else "string"
        return FieldValue(type=f"{kind}_list", values=value)
    return FieldValue(type=_json_type(value), value=value)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    return "string"
