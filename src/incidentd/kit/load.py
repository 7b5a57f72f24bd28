"""How busy this process is with API requests: background work that shares the event loop with them (webhook
delivery) asks `saturated()` and, while requests queue, does its work in fewer, larger passes, catching up when
they thin out. Framework-free: the web layer counts requests, services read the count."""

from __future__ import annotations

# Requests in flight at once from which the process counts as saturated. Below capacity requests rarely overlap
# (Little's law: 150 requests a second of 4 ms each keep 0.6 in flight on average; 4 or more at once happen about
# a tenth of the time at 60 % load), so background work keeps its pace; a load the process cannot keep up with
# queues requests (64 connections keep about 64 in flight), and that work then yields.
SATURATED_AT = 4


class RequestLoad:
    """Requests in flight in this process (long-lived streams are not counted: they wait, they do not work)."""

    def __init__(self) -> None:
        self.in_flight = 0

    def began(self) -> None:
        self.in_flight += 1

    def ended(self) -> None:
        self.in_flight -= 1

    def saturated(self) -> bool:
        return self.in_flight >= SATURATED_AT


IDLE = RequestLoad()  # the load of a process that serves no requests (`incidentd worker`): never saturated
