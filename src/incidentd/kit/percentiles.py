"""Exact discrete percentiles for SQLite, whose 3.40 (Debian 12's) has no percentile function: an aggregate
registered on every connection, answering what PostgreSQL's `percentile_disc` does.

`incidentd_percentiles(value, percents)` takes integer values (NULLs are skipped) and a constant text of whole
percents ("50,90,99"), and answers the value at rank ceil(p * n / 100) of the n values in ascending order for
each p, as text in the same order ("v50,v90,v99"), or NULL without values. Ranking the rows with window
functions instead cost a sort of every value per percentile column (500,000 matches: about 2 s of a metrics
request; docs/performance.md, "Metrics"). In a GROUP BY, SQLite sorts the rows by group first and runs the
aggregate group after group, so it holds one group's values at a time.
"""

from __future__ import annotations

import sqlite3

NAME = "incidentd_percentiles"


def rank(percent: int, count: int) -> int:
    """The 1-based rank of the discrete `percent` percentile of `count` values: ceil(percent * count / 100)."""
    return (percent * count + 99) // 100


class DiscretePercentiles:
    """The aggregate's state: the group's values, sorted once at the end."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self.percents = ""

    def step(self, value: int | None, percents: str) -> None:
        if value is not None:
            self.values.append(value)
        self.percents = percents

    def finalize(self) -> str | None:
        values = self.values
        if not values:
            return None
        values.sort()
        count = len(values)
        return ",".join(str(values[rank(int(percent), count) - 1]) for percent in self.percents.split(","))


def register(connection: sqlite3.Connection) -> None:
    """Make `incidentd_percentiles` available on a new SQLite connection."""
    connection.create_aggregate(NAME, 2, DiscretePercentiles)  # type: ignore[arg-type]
