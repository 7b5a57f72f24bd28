"""Delivery metrics of one process, added to /metrics (Prometheus text format)."""

from __future__ import annotations

import bisect
from collections import defaultdict

# Attempt latency buckets, in seconds (an attempt times out after 3 s by default).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class DeliveryMetrics:
    def __init__(self) -> None:
        self.outcomes: defaultdict[str, int] = defaultdict(int)  # delivered | retry | dead
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.count += 1
        self.sum += seconds

    def render(self, backlog: int | None, oldest_age_seconds: float | None) -> str:
        lines = [
            "# HELP incidentd_webhook_attempts_total Delivery attempts by outcome (delivered, retry, dead).",
            "# TYPE incidentd_webhook_attempts_total counter",
        ]
        for outcome in ("delivered", "retry", "dead"):
            lines.append(f'incidentd_webhook_attempts_total{{outcome="{outcome}"}} {self.outcomes[outcome]}')
        name = "incidentd_webhook_attempt_duration_seconds"
        lines += [f"# HELP {name} Time from sending an event to the receiver's answer.", f"# TYPE {name} histogram"]
        cumulative = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.buckets, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
        lines += [f"{name}_sum {self.sum!r}", f"{name}_count {self.count}"]
        if backlog is not None:
            lines += [
                "# HELP incidentd_webhook_backlog Deliveries not yet delivered nor dead-lettered.",
                "# TYPE incidentd_webhook_backlog gauge",
                f"incidentd_webhook_backlog {backlog}",
                "# HELP incidentd_webhook_oldest_pending_age_seconds Age of the oldest pending delivery.",
                "# TYPE incidentd_webhook_oldest_pending_age_seconds gauge",
                f"incidentd_webhook_oldest_pending_age_seconds {oldest_age_seconds or 0.0!r}",
            ]
        return "\n".join(lines) + "\n"
