"""Oversized request heads and URLs are refused from the first bytes past the limit, on the real server.

Before the bound, a 48 MiB header line on an unauthenticated `GET /health` was buffered whole by the HTTP parser
(+55-80 MB resident) and other clients stalled for seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path

import httpx
import pytest
from test_serving import served

MIB = 1024 * 1024


def _resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _send_endless_header(port: int, size: int) -> bytes:
    """Send a request whose one header line is `size` bytes long, reading the answer meanwhile."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /health HTTP/1.1\r\nHost: incidentd\r\nX-Padding: ")
    answer = asyncio.ensure_future(reader.read(4096))
    chunk = b"a" * (256 * 1024)
    with contextlib.suppress(ConnectionError):
        for _ in range(size // len(chunk)):
            if answer.done():
                break
            writer.write(chunk)
            await writer.drain()
    try:
        return await asyncio.wait_for(answer, 30)
    finally:
        writer.close()


@pytest.fixture
def default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INCIDENTD_MAX_HEADER_BYTES", raising=False)
    monkeypatch.delenv("INCIDENTD_MAX_URL_BYTES", raising=False)


async def test_a_48_mib_header_line_is_answered_431_without_growing_the_server(
    database_url: str, tmp_path: Path, default_limits: None
):
    async with served(database_url, tmp_path, workers=1) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(20):  # the server's memory settles after its first requests
                assert (await client.get("/health")).status_code == 200
            before = _resident_kib(server.process.pid)

            attack = asyncio.ensure_future(_send_endless_header(server.port, 48 * MIB))
            # Another client is served while the attack runs.
            served_meanwhile = 0
            while not attack.done():
                assert (await client.get("/health")).status_code == 200
                served_meanwhile += 1
            answer = await attack
            grown = _resident_kib(server.process.pid) - before

            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
            assert b"connection: close" in head
            assert json.loads(body) == {
                "type": "bad_request",
                "message": "the request's header block is larger than 65536 bytes",
            }
            assert served_meanwhile >= 1
            assert grown < 10 * 1024, f"resident set grew by {grown} KiB"

            # A head just under the limit, and ordinary requests, are served as before.
            response = await client.get("/health", headers={"X-Padding": "a" * 60_000})
            assert response.status_code == 200
            assert (await client.get("/health")).status_code == 200


async def test_a_url_past_the_limit_is_answered_414_and_one_under_it_is_served(
    database_url: str, tmp_path: Path, default_limits: None
):
    async with served(database_url, tmp_path, workers=1) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/health", params={"padding": "a" * 9000})
            assert response.status_code == 414
            assert response.json() == {"type": "bad_request", "message": "the request's URL is longer than 8192 bytes"}
            response = await client.get("/health", params={"padding": "a" * 7000})
            assert response.status_code == 200

            # Pipelined behind another request, an oversized head never lands inside the answer before it: that
            # one comes whole, then the 431 (or, if it was still being answered, the connection just closes).
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"GET /health HTTP/1.1\r\nHost: incidentd\r\n\r\n"
                + b"GET /health HTTP/1.1\r\nHost: incidentd\r\nX-Padding: "
                + b"a" * (200 * 1024)
            )
            answer = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            statuses = []
            while answer:
                head, _, rest = answer.partition(b"\r\n\r\n")
                length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
                statuses.append(int(head.split(b" ", 2)[1]))
                answer = rest[length:]
            assert statuses in ([200], [200, 431]), statuses
            assert (await client.get("/health")).status_code == 200


async def test_the_limits_are_settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INCIDENTD_MAX_HEADER_BYTES", "4096")
    monkeypatch.setenv("INCIDENTD_MAX_URL_BYTES", "1024")
    async with served(database_url, tmp_path, workers=1) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/health", headers={"X-Padding": "a" * 5000})).status_code == 431
            assert (await client.get("/health", params={"padding": "a" * 1100})).status_code == 414
            assert (await client.get("/health", headers={"X-Padding": "a" * 2000})).status_code == 200
