"""The process is shutting down: a signal for responses that would otherwise never end (`GET /events.stream`).

uvicorn's graceful shutdown stops accepting, asks every connection to finish (`shutdown()` on its protocol) and
waits up to `shutdown_timeout_seconds` for them before the lifespan shutdown runs. An open event stream never
finishes by itself, so the server's protocol (`serving.BoundedHttpToolsProtocol.shutdown`) calls `begin()`: the
streams end their response cleanly at once and the shutdown does not wait out its timeout. The lifespan's shutdown
calls it too, for servers that do not call our protocol.

One signal per event loop (a process runs one loop; tests run one per test).
"""

from __future__ import annotations

import asyncio
import weakref

_signals: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Event] = weakref.WeakKeyDictionary()


def signal() -> asyncio.Event:
    """Set once this loop's server began shutting down."""
    loop = asyncio.get_running_loop()
    found = _signals.get(loop)
    if found is None:
        found = _signals[loop] = asyncio.Event()
    return found


def begin() -> None:
    """The server is shutting down: open streams end now."""
    signal().set()
