"""The SQLite aggregate behind incidents.metrics' duration statistics (kit/percentiles.py): count, sum, max and
PostgreSQL's percentile_disc rule (the value at rank ceil(p n / 100) in ascending order), negative values ("no
value") skipped column by column, per group, on a real connection."""

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
    connection.execute("CREATE TABLE t (g INTEGER, v INTEGER, w INTEGER)")
    return connection


def _expected(values: list[int]) -> tuple[int, int, int | None, tuple[int | None, ...]]:
    ordered = sorted(values)
    picked = tuple(ordered[math.ceil(p * len(ordered) / 100) - 1] for p in (50, 90, 99))
    return (len(ordered), sum(ordered), ordered[-1], picked)


@pytest.mark.parametrize("count", [1, 2, 9, 10, 11, 99, 100, 101, 1000, 1001])
def test_each_percentile_is_the_value_at_rank_ceil_p_n(conn, count):
    values = random.Random(count).sample(range(20_000), count)
    conn.executemany("INSERT INTO t VALUES (1, ?, ?)", [(v, 20_000 - v) for v in values])
    (answer,) = conn.execute("SELECT incidentd_stats(v, w) FROM t").fetchone()
    assert percentiles.parse(answer, 2) == [_expected(values), _expected([20_000 - v for v in values])]
    assert percentiles.parse(answer, 2)[0][3][0] == sorted(values)[(count + 1) // 2 - 1]  # the lower median


def test_absent_values_are_skipped_column_by_column_and_a_column_without_values_counts_zero(conn):
    rows = [(1, None, 7), (1, 5, None), (1, None, None), (1, 3, 1), (2, None, None), (1, 0, None)]
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    answers = dict(
        conn.execute("SELECT g, incidentd_stats(coalesce(v, -1), coalesce(w, -1)) FROM t GROUP BY g").fetchall()
    )
    assert answers == {1: "3,8,5,3,5,5;2,8,7,1,7,7", 2: "0;0"}
    assert percentiles.parse(answers[2], 2) == [(0, 0, None, (None, None, None))] * 2
    assert conn.execute("SELECT incidentd_stats(v) FROM t WHERE g = 3").fetchone() == (None,)  # no rows
    assert percentiles.parse(None, 2) == [(0, 0, None, (None, None, None))] * 2


def test_groups_are_measured_apart(conn):
    rng = random.Random(7)
    groups = {g: [rng.randrange(1_000_000) for _ in range(rng.randrange(1, 300))] for g in range(20)}
    conn.executemany("INSERT INTO t VALUES (?, ?, 0)", [(g, v) for g, values in groups.items() for v in values])
    rows = conn.execute("SELECT g, incidentd_stats(v) FROM t GROUP BY g").fetchall()
    assert {g: percentiles.parse(answer, 1)[0] for g, answer in rows} == {
        g: _expected(values) for g, values in groups.items()
    }
