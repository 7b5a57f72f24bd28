"""List / group requests -> a filter and sort specification (pure: no SQL; the repository turns it into SQL).

Ids in filters are parsed (bad ids are 400s naming the element); an id of another org, or one that names
nothing, simply matches nothing. Stage filters may name stages; the service resolves names to numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from incidentd.errors import InvalidField
from incidentd.incidents import schemas
from incidentd.incidents.tables import SORTABLE
from incidentd.kit import ids
from incidentd.kit.enums import REPORTED_BY, SEVERITY, SOURCE
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.time import parse_rfc3339
from incidentd.principal import OrgScope

DAY_MS = 86_400_000
MAX_PRESET_DAYS = schemas.MAX_PRESET_DAYS
DATE_FILTERS = (
    "acknowledged_date",
    "actual_close_date",
    "created_date",
    "identified_date",
    "mitigated_date",
    "modified_date",
    "target_close_date",
)
# Link filters: the request field -> (link name in the repository, id kinds it takes).
LINK_FILTERS = {
    "owned_by": ids.USER_KINDS,
    "applies_to_parts": ids.PART_KINDS,
    "pia": ("article",),
    "playbooks": ("article",),
    "related_docs": ("article",),
    "tags": ("tag",),
}


@dataclass(frozen=True)
class DateRange:
    after: int | None  # inclusive, epoch ms
    before: int | None  # inclusive, epoch ms


@dataclass
class FilterSpec:
    """What list and group match: every present entry must hold (AND); lists match any of their values."""

    links: dict[str, list[int]] = field(default_factory=dict)  # owned_by, applies_to_parts, pia, ... -> numbers
    created_by: list[int] | None = None
    stage_numbers: list[int] | None = None
    stage_names: list[str] = field(default_factory=list)  # resolved by the service into stage_numbers
    ints: dict[str, list[int]] = field(default_factory=dict)  # column -> ids (severity, reported_by, source)
    strings: dict[str, list[str]] = field(default_factory=dict)  # column -> values
    dates: dict[str, DateRange] = field(default_factory=dict)  # column -> range
    is_staged: bool | None = None
    title_contains: str | None = None  # case-insensitive
    custom_fields: dict[str, list[Any]] = field(default_factory=dict)  # field key -> values (None: no value)
    custom_field_keys: dict[str, list[str | None]] = field(default_factory=dict)  # resolved by the service
    sparse_custom_fields: set[str] = field(default_factory=set)  # custom filters with few matches


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool


DEFAULT_SORT = (SortKey("created_date", True),)


def parse_sort(sort_by: list[str] | None) -> tuple[SortKey, ...]:
    """`["<field>:asc|desc", ...]` over the sortable fields; default `created_date:desc`."""
    if not sort_by:
        return DEFAULT_SORT
    keys: list[SortKey] = []
    for index, entry in enumerate(sort_by):
        name, _, direction = entry.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if name not in SORTABLE or direction not in ("asc", "desc"):
            raise InvalidField(
                f"'{entry}' is not a sort order; use <field>:asc|desc with a field of {', '.join(SORTABLE)}",
                field_name=f"sort_by[{index}]",
            )
        if name not in {key.column for key in keys}:
            keys.append(SortKey(name, direction == "desc"))
    return tuple(keys)


def parse_filters(request: schemas.IncidentFilters, org: OrgScope, now: int) -> FilterSpec:
    check_list_lengths(request)
    spec = FilterSpec()
    for name, kinds in LINK_FILTERS.items():
        values = getattr(request, name)
        if values is not None:
            spec.links[name] = _numbers(values, kinds, name, org)
    if request.created_by is not None:
        spec.created_by = _numbers(request.created_by, ids.USER_KINDS, "created_by", org)
    if request.stage is not None:
        spec.stage_numbers, spec.stage_names = [], []
        for index, value in enumerate(request.stage):
            parsed = ids.try_parse(value)
            if parsed is None:
                spec.stage_names.append(value)
            else:
                spec.stage_numbers += _numbers([value], ("custom_stage",), f"stage[{index}]", org, indexed=False)
    for name, enum in (("severity", SEVERITY), ("reported_by", REPORTED_BY), ("source", SOURCE)):
        values = getattr(request, name)
        if values is not None:
            spec.ints[name] = [enum.parse(value, field_name=f"{name}[{i}]") for i, value in enumerate(values)]
    for name in ("subtype", "title"):
        if getattr(request, name) is not None:
            spec.strings[name] = list(getattr(request, name))
    for name in DATE_FILTERS:
        date_filter = getattr(request, name)
        if date_filter is not None:
            spec.dates[name] = parse_date_filter(date_filter, name, now)
    if request.title_contains is not None:
        spec.title_contains = request.title_contains
    if request.staged_info is not None:
        spec.is_staged = request.staged_info.is_staged
    if request.sync_metadata is not None:
        _sync_filters(request.sync_metadata, spec, now)
    if request.custom_fields is not None:
        spec.custom_fields = _custom_field_filters(request.custom_fields)
    return spec


def _numbers(values: list[str], kinds: tuple[str, ...], name: str, org: OrgScope, *, indexed: bool = True) -> list[int]:
    numbers: list[int] = []
    for index, value in enumerate(values):
        parsed = ids.parse(value, kinds, field_name=f"{name}[{index}]" if indexed else name)
        if org.owns(parsed):
            numbers.append(parsed.number)
    return numbers


def parse_date_filter(date_filter: schemas.DateFilter, name: str, now: int) -> DateRange:
    if date_filter.type == "range":
        after = parse_rfc3339(date_filter.after, field_name=f"{name}.after") if date_filter.after else None
        before = parse_rfc3339(date_filter.before, field_name=f"{name}.before") if date_filter.before else None
        return DateRange(after, before)
    if date_filter.preset_type is None:
        raise InvalidField("a preset date filter needs preset_type", field_name=f"{name}.preset_type")
    days = date_filter.days
    if days is None or not 0 <= days <= MAX_PRESET_DAYS:
        raise InvalidField(f"days must be between 0 and {MAX_PRESET_DAYS}", field_name=f"{name}.days")
    if date_filter.preset_type == "last_n_days":
        return DateRange(now - days * DAY_MS, now)
    return DateRange(now, now + days * DAY_MS)


def _sync_filters(sync: schemas.SyncMetadataFilter, spec: FilterSpec, now: int) -> None:
    if sync.external_reference is not None:
        spec.strings["sync_external_reference"] = list(sync.external_reference)
    if sync.origin_system is not None:
        spec.strings["sync_origin_system"] = list(sync.origin_system)
    for direction, state in (("in", sync.last_sync_in), ("out", sync.last_sync_out)):
        if state is None:
            continue
        for name in ("status", "sync_unit", "sync_history"):
            values = getattr(state, name)
            if values is not None:
                column = f"sync_{direction}_{name.removeprefix('sync_')}"
                spec.strings[column] = list(values)
        if state.sync_date is not None:
            spec.dates[f"sync_{direction}_date"] = parse_date_filter(
                state.sync_date, f"sync_metadata.last_sync_{direction}.sync_date", now
            )


def _custom_field_filters(filters: dict[str, Any]) -> dict[str, list[Any]]:
    """{field key: values}: `{"tnt__region": "eu"}` or `{"custom_fields.tnt__tier": [1, 3]}` (any of a list).
    Whether the field exists, and what its values mean, the service asks the org's schema fragments."""
    parsed: dict[str, list[Any]] = {}
    for key, value in filters.items():
        name = key.removeprefix("custom_fields.")
        namespace, separator, rest = name.partition("__")
        if not (namespace and separator and rest):
            raise InvalidField(
                f"'{key}' is not a custom field (tnt__<name>, ctype__<name> or <app>__<name>)",
                field_name=f"custom_fields.{name}",
            )
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, dict | list):
                raise InvalidField("custom field filters compare scalar values", field_name=f"custom_fields.{name}")
        parsed[name] = values
    return parsed
