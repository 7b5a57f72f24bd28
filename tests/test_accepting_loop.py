"""`serving.AcceptingLoop`: one readiness of the listening socket accepts every waiting connection.

libuv accepts one connection per turn of its loop; under a saturated CPU, where a turn of incidentd's loop runs
dozens of requests, the last of 64 connections opened together waited seconds for its accept (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from incidentd import serving

pytest.importorskip("uvloop")


def _turn(loop: asyncio.AbstractEventLoop) -> None:
    """Run one turn of the loop (its ready callbacks, then one poll for I/O)."""
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_one_turn_accepts_every_waiting_connection():
    loop = serving.AcceptingLoop()
    made: list[asyncio.BaseTransport] = []

    class Counting(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)

    clients: list[socket.socket] = []
    try:
        server = loop.run_until_complete(loop.create_server(Counting, "127.0.0.1", 0, backlog=128))
        port = server.sockets[0].getsockname()[1]
        # The kernel completes the handshakes; the connections wait in the listen queue for the loop.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
        _turn(loop)  # the listening socket is readable: accept
        _turn(loop)  # the accepted connections' transports are made
        _turn(loop)
        assert len(made) == 20  # uvloop's own server (libuv): one per turn of I/O, 5 here
        for client in clients:
            client.sendall(b"x")
        server.close()
        loop.run_until_complete(server.wait_closed())
        assert not server.is_serving()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
    finally:
        for client in clients:
            client.close()
        for transport in made:
            transport.close()
        _turn(loop)
        loop.close()


def test_the_event_loop_setting_chooses_the_loop_uvicorn_runs():
    assert serving.loop_factory("auto") == "incidentd.serving:AcceptingLoop"
    assert serving.loop_factory("uvloop") == "incidentd.serving:AcceptingLoop"
    assert serving.loop_factory("asyncio") == "asyncio"
