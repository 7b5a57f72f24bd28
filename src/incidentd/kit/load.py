"""How busy this process is with API requests: background work that shares the event loop with them (webhook
delivery) asks `busy()` and does its work in fewer, larger passes while requests wait, catching up when they
pause. Framework-free: the web layer counts requests, services read the count."""

from __future__ import annotations

import time

QUIET_SECONDS = 0.05  # after the last request ended, how long the process still counts as busy


class RequestLoad:
    """Requests in flight in this process (long-lived streams are not counted: they wait, they do not work)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self._last_ended = 0.0

    def began(self) -> None:
        self.in_flight += 1

    def ended(self) -> None:
        self.in_flight -= 1
        self._last_ended = time.monotonic()

    def busy(self) -> bool:
        return self.in_flight > 0 or time.monotonic() - self._last_ended < QUIET_SECONDS


IDLE = RequestLoad()  # the load of a process that serves no requests (`incidentd worker`): never busy
