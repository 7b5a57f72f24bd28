"""The benchmark's report: ratios to the ceilings measured in the same run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _bench_run():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scenario(rps: float) -> dict:
    return {"rps": rps, "p50_ms": 10.0, "p99_ms": 20.0, "errors": 0, "connections": 64}


def test_report_gives_each_ratio_to_f_and_to_the_combined_bound():
    run = {
        "results": [
            {
                "database": "sqlite",
                "workers": 1,
                "scenarios": {
                    "get": {**_scenario(1_000), "server_cpu_ms": 0.25, "database_cpu_ms": 0.4},
                    "create": _scenario(300),
                    "list": _scenario(50),
                },
                "ceilings": {
                    "F": {"create": {"rps": 10_000}, "get": {"rps": 20_000}},
                    "D": {"create_per_s": 500, "get_per_s": 4_000},
                },
                "peak_rss_mb_per_process": 100.0,
            }
        ]
    }
    lines = _bench_run().report(run).splitlines()
    get, create, listing, ceilings = lines[2:]
    # get: 1,000 / F 20,000; the bound 1 / (1/20,000 + 1/4,000) = 3,333.3
    assert get.split("|")[9:11] == [" 0.05 ", " 0.30 "]
    # create: 300 / F 10,000; the bound 1 / (1/10,000 + 1/500) = 476.2
    assert create.split("|")[9:11] == [" 0.03 ", " 0.63 "]
    assert listing.split("|")[9:11] == ["  ", "  "]  # no ceiling measures a list
    assert get.split("|")[11] == " 0.25 "  # the server's CPU per request, when measured
    assert get.split("|")[12] == " 0.4 "  # and PostgreSQL's, beside it
    assert create.split("|")[12] == "  "  # not measured (or 0: SQLite's work is the server's)
    assert "D get / F get = 0.20" in ceilings
    assert "peak RSS 100.0 MB" in ceilings
