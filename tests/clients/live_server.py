"""The real server as a separate process on a loopback port, for the tests that need one: real clients (SDKs,
curl) and the crash test; and `report_line` for the slow suites' numbers. Imported as `clients.live_server`
(the tests directory is on the path).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity import service as identity

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bootstrap_token(database_url: str) -> str:
    """Create the default org and its admin on a fresh migrated database, as the first `incidentd serve` would,
    and return the admin's token (the server then finds an org and prints nothing)."""

    async def run() -> str:
        db = database.Database(Settings(database_url=database_url, auto_migrate=False))
        try:
            created = await identity.bootstrap(db, admin_email="admin@incidentd.local")
        finally:
            await db.dispose()
        assert created is not None, "the database already had an org"
        return created.token.secret

    return asyncio.run(run())


@dataclass
class TLS:
    certfile: Path  # the server's certificate chain, PEM
    keyfile: Path


@dataclass
class LiveServer:
    """`incidentd serve` (or uvicorn with TLS, which the CLI does not terminate) as a child process."""

    database_url: str
    workdir: Path
    tls: TLS | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.tls is None:
            return [sys.executable, "-m", "incidentd", "serve", "--port", str(self.port)]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "incidentd.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ssl-certfile",
            str(self.tls.certfile),
            "--ssl-keyfile",
            str(self.tls.keyfile),
            "--log-level",
            "warning",
        ]

    def environment(self) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("INCIDENTD_")}
        environment |= {
            "INCIDENTD_DATABASE_URL": self.database_url,
            "INCIDENTD_HOST": "127.0.0.1",
            "INCIDENTD_PORT": str(self.port),
            "INCIDENTD_ARTIFACTS_DIR": str(self.workdir / "artifacts"),
            "INCIDENTD_LOG_FORMAT": "json",
            "INCIDENTD_LOG_LEVEL": "warning",
        }
        return environment

    def start(self) -> None:
        """Start the process and wait until `/ready` answers (bounded by START_TIMEOUT)."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        log = (self.workdir / f"server-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches every process it started
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ready", verify=False, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not become ready in {START_TIMEOUT} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / f"server-{self.starts}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextlib.contextmanager
def serving(database_url: str, workdir: Path, tls: TLS | None = None) -> Iterator[LiveServer]:
    server = LiveServer(database_url, workdir, tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def report_line(config: pytest.Config, line: str) -> None:
    """A line on the terminal, outside pytest's output capture, so the CI log shows the slow suites' numbers."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)
