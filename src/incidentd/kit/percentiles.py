"""Exact statistics of integer columns for SQLite, whose 3.40 (Debian 12's) has no percentile function: an
aggregate registered on every connection that answers, per group, what PostgreSQL answers with count, sum, max
and `percentile_disc`.

`incidentd_stats(value1, value2, ...)` takes one or more columns of non-negative integers, where a negative value
(`coalesce(x, -1)` in SQL) means "no value", and answers for each column "count,sum,max,p50,p90,p99" over its
values (the percentiles of PERCENTS, each the value at rank ceil(p * n / 100) of the n values in ascending order),
columns separated by ";", a column without values as "0".

Why an aggregate in Python: ranking rows with window functions cost a sort of every value per column (500,000
matches: about 2 s of a metrics request), and one call per row that keeps the row's values costs SQLite less than
one call per column or SQL's own count/sum/max beside it (docs/performance.md, "Metrics"). Values are kept as
machine integers (8 bytes each: 24 MB for three columns of 1,000,000 rows, against 160 MB as Python tuples, at
the same speed). In a GROUP BY, SQLite sorts the rows by group first and runs the aggregate group after group,
so it holds one group's values at a time; no row of the table reaches the caller.
"""

from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left

NAME = "incidentd_stats"
PERCENTS = (50, 90, 99)


def rank(percent: int, count: int) -> int:
    """The 1-based rank of the discrete `percent` percentile of `count` values: ceil(percent * count / 100)."""
    return (percent * count + 99) // 100


class ColumnStats:
    """The aggregate's state: the group's rows of values, one after the other, measured column by column at the
    end."""

    __slots__ = ("values", "width")

    def __init__(self) -> None:
        self.values = array("q")
        self.width = 0

    def step(self, *values: int) -> None:
        self.values.extend(values)
        self.width = len(values)

    def finalize(self) -> str | None:
        width = self.width
        if not width:
            return None
        parts = []
        for index in range(width):
            column = sorted(self.values[index::width])
            absent = bisect_left(column, 0)  # the negative values, first once sorted
            count = len(column) - absent
            if not count:
                parts.append("0")
                continue
            picked = [column[absent + rank(percent, count) - 1] for percent in PERCENTS]
            numbers = (count, sum(column) + absent, column[-1], *picked)  # each absent value is -1
            parts.append(",".join(str(number) for number in numbers))
        return ";".join(parts)


Stats = tuple[int, int, int | None, tuple[int | None, ...]]  # count, sum, max, percentiles


def parse(answer: str | None, columns: int) -> list[Stats]:
    """`incidentd_stats`'s answer as (count, sum, max, percentiles) per column."""
    empty: Stats = (0, 0, None, (None,) * len(PERCENTS))
    if answer is None:
        return [empty] * columns
    found: list[Stats] = []
    for part in answer.split(";"):
        numbers = [int(value) for value in part.split(",")]
        found.append((numbers[0], numbers[1], numbers[2], tuple(numbers[3:])) if numbers[0] else empty)
    return found


def register(connection: sqlite3.Connection) -> None:
    """Make `incidentd_stats` available on a new SQLite connection."""
    connection.create_aggregate(NAME, -1, ColumnStats)  # type: ignore[arg-type]
