"""Database unreachable or locked: 503 service_unavailable with Retry-After, and recovery without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from conftest import ON_POSTGRES, TEST_DATABASE, running
from contract import assert_conforms
from incidentd.app import create_app
from incidentd.config import Settings, normalize_database_url
from incidentd.identity import service as identity


def assert_unavailable(response: httpx.Response, settings: Settings) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["type"] == "service_unavailable"
    assert int(response.headers["retry-after"]) >= 1
    assert_conforms("/dev-users.self", "get", 503, response.json())


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite file outage")
async def test_sqlite_file_unreachable_then_back(database_template: str, tmp_path: Path):
    home = tmp_path / "not-yet"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{home}/incidentd.db", auto_migrate=False, db_wait_seconds=1)
    async with running(create_app(settings)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            started = time.monotonic()
            response = await client.get("/dev-users.self", headers={"Authorization": "Bearer idt_whatever"})
            assert_unavailable(response, settings)
            assert time.monotonic() - started < 5
            assert (await client.get("/ready")).status_code == 503
            assert (await client.get("/health")).status_code == 200

            home.mkdir()
            shutil.copyfile(database_template, home / "incidentd.db")
            created = await identity.bootstrap(app.state.db, admin_email="a@b.c")
            assert created is not None
            response = await client.get("/dev-users.self", headers={"Authorization": created.token.secret})
            assert response.status_code == 200
            assert (await client.get("/ready")).status_code == 200


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite writer lock")
async def test_sqlite_locked_by_another_process_is_503_then_recovers(database_url: str, tmp_path: Path):
    settings = Settings(database_url=database_url, auto_migrate=False, db_wait_seconds=0.5)
    async with running(create_app(settings)) as app:
        created = await identity.bootstrap(app.state.db, admin_email="a@b.c")
        headers = {"Authorization": created.token.secret}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            path = database_url.split("///", 1)[1]
            blocker = sqlite3.connect(path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                started = time.monotonic()
                response = await client.post(
                    "/dev-users.create", json={"email": "x@y.z", "state": "shadow"}, headers=headers
                )
                assert_unavailable(response, settings)
                assert time.monotonic() - started < 3
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            response = await client.post(
                "/dev-users.create", json={"email": "x@y.z", "state": "shadow"}, headers=headers
            )
            assert response.status_code == 201


class TcpProxy:
    """A loopback TCP forwarder to PostgreSQL that the test can cut and restore."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.base_events.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.links |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(Exception):
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL outage")
async def test_postgres_unreachable_then_back(database_url: str):
    url = sa.engine.make_url(normalize_database_url(TEST_DATABASE))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = sa.engine.make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    settings = Settings(
        database_url=proxied.render_as_string(hide_password=False), auto_migrate=False, db_wait_seconds=1
    )
    async with running(create_app(settings)) as app:
        created = await identity.bootstrap(app.state.db, admin_email="a@b.c")
        headers = {"Authorization": created.token.secret}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            assert (await client.get("/dev-users.self", headers=headers)).status_code == 200
            await proxy.cut()
            for _ in range(3):
                started = time.monotonic()
                response = await client.get("/dev-users.self", headers=headers)
                assert_unavailable(response, settings)
                assert time.monotonic() - started < 5
            assert (await client.get("/ready")).status_code == 503
            await proxy.start()  # same port: the database "comes back"
            response = await client.get("/dev-users.self", headers=headers)
            assert response.status_code == 200, response.text
            assert (await client.get("/ready")).status_code == 200
    await proxy.cut()
