"""Wire types of incidents.metrics (an extension: DevRev stores the dates but computes nothing from them)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from incidentd.incidents.schemas import FieldValue, IncidentFilters
from incidentd.kit.wire import Response


class IncidentsMetricsRequest(IncidentFilters, kw_only=True):
    """The list filters, plus what to aggregate by: a field (as incidents.group) and/or a time bucket."""

    group_by: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    bucket: Literal["day", "week", "month"] | None = None
    bucket_date: Literal["created_date", "actual_close_date"] | None = None


class DurationStats(Response, kw_only=True):
    """One duration over a group's incidents that have it, in milliseconds; percentiles are exact (the value at
    rank ceil(p * count) in ascending order). Only `count` when no incident has it."""

    count: int
    mean: float | None = None
    p50: int | None = None
    p90: int | None = None
    p99: int | None = None
    max: int | None = None


class TargetStats(Response, kw_only=True):
    """Incidents with a target_close_date, how many breached it (closed after it, or still open past it), and
    the share that did (absent when none has a target)."""

    count: int
    breached: int
    breach_rate: float | None = None


class IncidentsMetricsGroup(Response, kw_only=True):
    key: FieldValue | None = None  # with group_by: the group's key, as incidents.group writes it
    bucket: str | None = None  # with bucket: the start of the bucket (RFC 3339, UTC)
    count: int
    open_count: int
    time_to_acknowledge: DurationStats
    time_to_mitigate: DurationStats
    time_to_resolve: DurationStats
    target_close: TargetStats


class IncidentsMetricsResponse(Response):
    groups: list[IncidentsMetricsGroup]
