"""Prometheus metrics of one process, rendered in the text exposition format (version 0.0.4).

Counting is a few dict operations per request, with no locks: each worker is one event loop. With several
workers each one counts and reports its own requests; Prometheus sums them over the scraped targets.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict

from sqlalchemy.pool import QueuePool

from incidentd.db import Database

# Request latency buckets, in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Prometheus 0.0.4 text format; Litestar appends "; charset=utf-8" to text media types.
MEDIA_TYPE = "text/plain; version=0.0.4"
# The operation label of requests that matched no route (their paths would make the label set unbounded).
UNMATCHED = "unmatched"


class _Histogram:
    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.count += 1
        self.sum += seconds


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: defaultdict[tuple[str, str], _Histogram] = defaultdict(_Histogram)
        self.rate_limit_rejections = 0
        self.rate_limit_storage_errors = 0
        self.idempotent_replays = 0

    def observe_request(self, method: str, operation: str, status: int, seconds: float) -> None:
        self.requests[(method, operation, status)] += 1
        self.latency[(method, operation)].observe(seconds)

    def render(self, db: Database | None) -> str:
        lines: list[str] = []
        _family(lines, "incidentd_http_requests_total", "counter", "HTTP requests by method, operation and status.")
        for (method, operation, status), count in sorted(self.requests.items()):
            lines.append(
                f"incidentd_http_requests_total{_labels(method=method, operation=operation, status=str(status))} "
                f"{count}"
            )
        name = "incidentd_http_request_duration_seconds"
        _family(lines, name, "histogram", "Time from the request's arrival to its last response byte.")
        for (method, operation), histogram in sorted(self.latency.items()):
            cumulative = 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), histogram.buckets, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"{name}_bucket{_labels(method=method, operation=operation, le=le)} {cumulative}")
            labels = _labels(method=method, operation=operation)
            lines.append(f"{name}_sum{labels} {histogram.sum!r}")
            lines.append(f"{name}_count{labels} {histogram.count}")
        _single(
            lines,
            "incidentd_rate_limit_rejections_total",
            "counter",
            "Requests answered 429.",
            self.rate_limit_rejections,
        )
        _single(
            lines,
            "incidentd_rate_limit_storage_errors_total",
            "counter",
            "Requests served without a rate limit because its storage failed (fail open).",
            self.rate_limit_storage_errors,
        )
        _single(
            lines,
            "incidentd_idempotent_replays_total",
            "counter",
            "Requests answered with the stored answer of their Idempotency-Key.",
            self.idempotent_replays,
        )
        if db is not None:
            pool = db.engine.pool
            in_use = pool.checkedout() if isinstance(pool, QueuePool) else 0
            size = pool.size() if isinstance(pool, QueuePool) else 0
            limit = size + (db.settings.db_pool_overflow if not db.is_sqlite else 0)
            _single(lines, "incidentd_db_pool_connections_in_use", "gauge", "Connections checked out now.", in_use)
            _single(lines, "incidentd_db_pool_size", "gauge", "Connections the pool keeps open.", size)
            _single(lines, "incidentd_db_pool_max_connections", "gauge", "Connections the pool may open.", limit)
        _single(
            lines, "incidentd_process_start_time_seconds", "gauge", "When this process started (epoch s).", self.started
        )
        return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _single(lines: list[str], name: str, kind: str, help_text: str, value: float) -> None:
    _family(lines, name, kind, help_text)
    lines.append(f"{name} {value!r}")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
