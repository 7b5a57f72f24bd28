"""SQL of incidents.metrics: lifecycle durations, their exact percentiles and target breaches per group and time
bucket, computed by the database in one statement (no incident is loaded into Python).

Durations come from the dates (see `durations`); percentiles are exact and discrete (the value at rank
ceil(p * n) of the group's n values in ascending order): PostgreSQL's percentile_disc, and on SQLite (which has
none before 3.47) the aggregate `incidentd_stats` registered on every connection (`kit/percentiles.py`),
with the same rank, so both answer the same values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.incidents.repository import grouped_source
from incidentd.incidents.tables import incidents
from incidentd.kit import percentiles
from incidentd.sqlite_inline import off_loop

Bucket = Literal["day", "week", "month"]
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONDAY_MS = 4 * DAY_MS  # 1970-01-05, the first Monday after the epoch: weeks start on Mondays (ISO 8601)
PERCENTS = percentiles.PERCENTS
# The durations, each from the start of an incident (identified_date, else created_date) to one of its dates.
DURATIONS = {
    "time_to_acknowledge": "acknowledged_date",
    "time_to_mitigate": "mitigated_date",
    "time_to_resolve": "actual_close_date",
}


def durations(on_postgresql: bool) -> dict[str, Any]:
    """Each duration's SQL expression, in milliseconds: NULL while its date is unset (a skipped stage counts in
    no statistic of that duration), and 0 when its date lies before the start (dates set by hand out of order
    never make a negative duration)."""
    start = sa.func.coalesce(incidents.c.identified_date, incidents.c.created_date)
    found: dict[str, Any] = {}
    for name, column in DURATIONS.items():
        end = incidents.c[column]
        if on_postgresql:
            found[name] = sa.case((end.is_(None), sa.null()), (end < start, sa.literal(0)), else_=end - start)
        else:
            # SQLite's max() of several values is NULL when one is: the same rule in a third of the instructions
            # (the expression runs for every match).
            found[name] = sa.func.max(end - start, 0)
    return found


def _floor(value: Any, width: int, offset: int = 0) -> Any:
    """value rounded down to a multiple of width (+ offset), for negative values too (SQL's % keeps the sign of
    the dividend on both databases)."""
    return value - (((value - offset) % width) + width) % width


def bucket_start(conn: AsyncConnection, bucket: Bucket, column: Any) -> Any:
    """The start (epoch ms, UTC) of the day, week (Monday) or month holding `column`."""
    if bucket == "day":
        return _floor(column, DAY_MS)
    if bucket == "week":
        return _floor(column, WEEK_MS, MONDAY_MS)
    seconds = (column - ((column % 1000) + 1000) % 1000) // 1000
    if conn.dialect.name == "postgresql":
        month = sa.func.date_trunc("month", sa.func.timezone("UTC", sa.func.to_timestamp(seconds)))
        return sa.cast(sa.extract("epoch", month), sa.BigInteger) * 1000
    month_start = sa.func.strftime("%s", seconds, "unixepoch", "start of month")
    return sa.cast(month_start, sa.BigInteger) * 1000


@dataclass(frozen=True)
class Duration:
    count: int
    total: int  # sum of the durations, ms (the mean is total / count)
    maximum: int | None
    percentiles: dict[int, int | None]  # percent -> value


@dataclass(frozen=True)
class Aggregate:
    key: Any  # the group's key as the repository stores it (None: no value; always None without group_by)
    bucket: int | None  # start of the time bucket, epoch ms
    count: int
    open_count: int
    durations: dict[str, Duration]
    with_target: int
    breached: int


async def aggregates(
    conn: AsyncConnection,
    clauses: Sequence[Any],
    *,
    group_by: str | None,
    bucket: Bucket | None,
    bucket_date: str,
    now: int,
) -> list[Aggregate]:
    """Per (group key, bucket): counts, duration statistics and target breaches of the incidents matching
    `clauses`. A target is breached when the incident closed after it, or is still open and it has passed (at
    `now`). Scans every match, so SQLite runs it off the event loop."""
    source, key = grouped_source(group_by) if group_by else (incidents, sa.null())
    bucketed = bucket_start(conn, bucket, incidents.c[bucket_date]) if bucket else sa.null()
    target, closed = incidents.c.target_close_date, incidents.c.actual_close_date
    on_postgresql = conn.dialect.name == "postgresql"
    measured = durations(on_postgresql)
    columns: list[Any] = [key.label("g"), bucketed.label("b"), closed.label("closed"), target.label("target")]
    columns += [expression.label(f"d{index}") for index, expression in enumerate(measured.values())]
    where = [*clauses, incidents.c[bucket_date].is_not(None)] if bucket else list(clauses)
    base = sa.select(*columns).select_from(source).where(*where).subquery("base")
    # Breached: closed after the target, or still open with the target passed (NULL without a target: not counted).
    breached = sa.case((sa.func.coalesce(base.c.closed, now) > base.c.target, 1))
    totals: list[Any] = [base.c.g, base.c.b, sa.func.count(), sa.func.count(base.c.closed)]
    totals += [sa.func.count(base.c.target), sa.func.count(breached)]
    values = [base.c[f"d{index}"] for index in range(len(measured))]
    if on_postgresql:
        for value in values:
            totals += [sa.func.count(value), sa.func.sum(value), sa.func.max(value), _percentile_disc(value)]
    else:
        # SQLite: the aggregate kit/percentiles.py registers on every connection, with the same ranks (-1: no value).
        totals.append(sa.func.incidentd_stats(*(sa.func.coalesce(value, -1) for value in values)))
    with off_loop():
        # The bucket first: rows come in created_date order, so SQLite's grouping sort gets them nearly sorted.
        rows = (await conn.execute(sa.select(*totals).group_by(base.c.b, base.c.g))).all()
    found = []
    for row in rows:
        if on_postgresql:
            stored = [row[6 + index * 4 : 10 + index * 4] for index in range(len(measured))]
            columns_stats = [
                (int(count), int(total or 0), maximum, tuple(picked) if picked else (None,) * len(PERCENTS))
                for count, total, maximum, picked in stored
            ]
        else:
            columns_stats = percentiles.parse(row[6], len(measured))
        found.append(
            Aggregate(
                key=row[0],
                bucket=None if row[1] is None else int(row[1]),
                count=int(row[2]),
                open_count=int(row[2]) - int(row[3]),
                durations={
                    name: Duration(count, total, maximum, dict(zip(PERCENTS, picked, strict=True)))
                    for name, (count, total, maximum, picked) in zip(measured, columns_stats, strict=True)
                },
                with_target=int(row[4]),
                breached=int(row[5]),
            )
        )
    return found


def _percentile_disc(value: Any) -> Any:
    """PostgreSQL's ordered-set aggregate for `value`'s percentiles PERCENTS in the cell (rank ceil(p n), p a double:
    for these p and any n below 2^40 the product rounds to the exact rank), in the same scan as the counts; four
    times faster than ranking rows with window functions."""
    fractions = postgresql.array([sa.literal(percent / 100, sa.Float) for percent in PERCENTS])
    disc = sa.func.percentile_disc(fractions).within_group(value.asc())
    return sa.type_coerce(disc, postgresql.ARRAY(sa.BigInteger))
