"""`incidentd serve --workers N` as an operator runs it: N worker processes on one port, and a graceful
shutdown that lets a request in flight finish (its transaction commits and its answer is sent)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity.tables import users


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> set[int]:
        """Processes whose parent is the server (uvicorn's workers; not multiprocessing's resource tracker)."""
        workers = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                command = (entry / "cmdline").read_bytes()
                if parent == self.process.pid and b"resource_tracker" not in command:
                    workers.add(int(entry.name))
        return workers


@contextlib.asynccontextmanager
async def served(database_url: str, tmp_path: Path, *, workers: int) -> AsyncIterator[Server]:
    port = free_port()
    env = {
        **os.environ,
        "INCIDENTD_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "INCIDENTD_LOG_LEVEL": "warning",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "incidentd",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--database-url",
        database_url,
        "--shutdown-timeout",
        "10",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        output = b""
        while (token := re.search(rb"idt_[A-Za-z0-9_-]+", output)) is None:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, output  # the first start of an empty database prints the admin's token
            output += line
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as client:
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the server did not become ready"
                await asyncio.sleep(0.2)
        yield Server(process, port, token.group().decode())
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serve_runs_n_workers_on_one_port_and_sigterm_lets_a_request_in_flight_finish(
    database_url: str, tmp_path: Path
):
    async with served(database_url, tmp_path, workers=2) as server:
        assert len(server.worker_pids()) == 2
        headers = {"Authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(6):
                response = await client.get("/dev-users.self", headers=headers)
                assert response.status_code == 200
                assert response.json()["dev_user"]["email"] == "admin@incidentd.local"
                assert "x-ratelimit-remaining" in response.headers

        body = json.dumps({"email": "late@incidentd.test", "state": "shadow"}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /dev-users.create HTTP/1.1\r\nHost: incidentd\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {server.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        await writer.drain()
        await asyncio.sleep(0.3)  # the request is in flight: its headers arrived, its body has not
        server.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)  # the workers are shutting down, waiting for this request
        assert server.process.returncode is None
        writer.write(body[10:])
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 201 Created", answer
        assert b'"email":"late@incidentd.test"' in rest
        assert await asyncio.wait_for(server.process.wait(), 20) == 0

    db = database.Database(Settings(database_url=database_url))
    try:
        async with db.read() as conn:
            emails = set((await conn.execute(sa.select(users.c.email))).scalars())
    finally:
        await db.dispose()
    assert "late@incidentd.test" in emails


def test_the_socket_workers_share_passes_tcp_nodelay_to_the_connections_it_accepts():
    import uvicorn

    from incidentd.cli import listening_socket

    config = uvicorn.Config("incidentd.app:create_app", factory=True, host="127.0.0.1", port=free_port(), workers=2)
    listener = listening_socket(config)
    try:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                # Without it, answers written in two parts wait 40 ms for the client's delayed ACK.
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        listener.close()


def test_serve_runs_on_the_event_loop_the_settings_name():
    from incidentd.cli import server_config

    assert server_config(Settings()).loop == "incidentd.serving:AcceptingLoop"  # uvloop, when installed
    assert server_config(Settings(event_loop="asyncio")).loop == "asyncio"
    config = server_config(Settings(event_loop="asyncio", workers=2, port=free_port()))
    assert (config.loop, config.workers) == ("asyncio", 2)
    # The bounded request head on either HTTP parser.
    config = server_config(Settings(max_header_bytes=4096))
    assert config.http.__name__ == "BoundedHttpToolsProtocol"
    assert config.h11_max_incomplete_event_size == 4096
