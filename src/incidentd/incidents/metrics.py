"""incidents.metrics: lifecycle durations and target breaches of the incidents matching the list filters, per
group (as incidents.group) and time bucket. The database computes every number (`metrics_repository`)."""

from __future__ import annotations

from incidentd.db import Database
from incidentd.errors import InvalidField
from incidentd.incidents import grouping, metrics_repository, reading, repository
from incidentd.incidents.metrics_schemas import (
    DurationStats,
    IncidentsMetricsGroup,
    IncidentsMetricsRequest,
    TargetStats,
)
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.principal import Principal

MAX_GROUPS = 10_000  # (group, bucket) pairs in one answer


async def incident_metrics(
    db: Database, principal: Principal, request: IncidentsMetricsRequest
) -> list[IncidentsMetricsGroup]:
    """One entry per (group, bucket) that holds incidents: groups in incidents.group's key order (no-value group
    last), buckets ascending. Without group_by and bucket, one entry over every matching incident."""
    org = principal.org
    field = grouping.group_column(request.group_by) if request.group_by is not None else None
    if request.bucket_date is not None and request.bucket is None:
        raise InvalidField("bucket_date needs a bucket (day, week or month)", field_name="bucket_date")
    now = now_ms()
    async with db.read() as conn:
        descriptors = await grouping.group_descriptors(conn, org, field) if field else []
        spec = await reading.filter_spec(conn, org, request, now)
        found = await metrics_repository.aggregates(
            conn,
            repository.where(org.dev_org_id, spec, counting=True),
            group_by=field,
            bucket=request.bucket,
            bucket_date=request.bucket_date or "created_date",
            now=now,
        )
        if len(found) > MAX_GROUPS:
            raise InvalidField(
                f"the answer would hold {len(found)} groups and buckets, more than {MAX_GROUPS}: narrow the filters "
                "(created_date) or use a coarser bucket",
                field_name="bucket" if request.bucket else "group_by",
            )
        order: dict[object, int] = {None: 0}
        keys = {}
        if field:
            totals: dict[object, int] = {}
            for entry in found:
                totals[entry.key] = totals.get(entry.key, 0) + entry.count
            ranked = await grouping.group_keys(conn, org, field, list(totals.items()), descriptors)
            order = {entry.key: index for index, entry in enumerate(ranked)}
            keys = {entry.key: entry.field_value for entry in ranked}
    found.sort(key=lambda entry: (order[entry.key], entry.bucket or 0))
    return [
        IncidentsMetricsGroup(
            key=keys.get(entry.key),
            bucket=to_rfc3339(entry.bucket) if entry.bucket is not None else None,
            count=entry.count,
            open_count=entry.open_count,
            time_to_acknowledge=_stats(entry.durations["time_to_acknowledge"]),
            time_to_mitigate=_stats(entry.durations["time_to_mitigate"]),
            time_to_resolve=_stats(entry.durations["time_to_resolve"]),
            target_close=TargetStats(
                count=entry.with_target,
                breached=entry.breached,
                breach_rate=entry.breached / entry.with_target if entry.with_target else None,
            ),
        )
        for entry in found
    ]


def _stats(duration: metrics_repository.Duration) -> DurationStats:
    if not duration.count:
        return DurationStats(count=0)
    return DurationStats(
        count=duration.count,
        mean=duration.total / duration.count,
        p50=duration.percentiles[50],
        p90=duration.percentiles[90],
        p99=duration.percentiles[99],
        max=duration.maximum,
    )
