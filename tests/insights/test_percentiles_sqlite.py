"""The SQLite aggregate behind incidents.metrics' percentiles (kit/percentiles.py): PostgreSQL's percentile_disc
rule (the value at rank ceil(p n / 100) in ascending order), NULLs skipped, per group, on a real connection."""

from __future__ import annotations

import math
import random
import sqlite3

import pytest

from incidentd.kit import percentiles


@pytest.fixture
def conn() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    percentiles.register(connection)
    connection.execute("CREATE TABLE t (g INTEGER, v INTEGER)")
    return connection


def _expected(values: list[int], wanted: tuple[int, ...]) -> str:
    ordered = sorted(values)
    return ",".join(str(ordered[math.ceil(p * len(ordered) / 100) - 1]) for p in wanted)


@pytest.mark.parametrize("count", [1, 2, 9, 10, 11, 99, 100, 101, 1000, 1001])
def test_each_percentile_is_the_value_at_rank_ceil_p_n(conn, count):
    values = random.Random(count).sample(range(-10_000, 10_000), count)
    conn.executemany("INSERT INTO t VALUES (1, ?)", [(v,) for v in values])
    (answer,) = conn.execute("SELECT incidentd_percentiles(v, '50,90,99') FROM t").fetchone()
    assert answer == _expected(values, (50, 90, 99))
    assert answer.split(",")[0] == str(sorted(values)[(count + 1) // 2 - 1])


def test_nulls_are_skipped_and_a_group_without_values_is_null(conn):
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, None), (1, 5), (1, None), (1, 3), (2, None)])
    rows = conn.execute("SELECT g, incidentd_percentiles(v, '50,100') FROM t GROUP BY g ORDER BY g").fetchall()
    assert rows == [(1, "3,5"), (2, None)]


def test_groups_are_measured_apart(conn):
    rng = random.Random(7)
    groups = {g: [rng.randrange(1_000_000) for _ in range(rng.randrange(1, 300))] for g in range(20)}
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(g, v) for g, values in groups.items() for v in values])
    rows = conn.execute("SELECT g, incidentd_percentiles(v, '50,90,99') FROM t GROUP BY g").fetchall()
    assert dict(rows) == {g: _expected(values, (50, 90, 99)) for g, values in groups.items()}
