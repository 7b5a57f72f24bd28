"""How `incidentd serve` takes connections and reads requests, beneath the web framework.

Two things uvicorn's defaults leave to the server:

- **Accepting every waiting connection.** libuv (and so uvloop) accepts one connection per turn of its loop
  (libuv 1.45, https://github.com/libuv/libuv/pull/3696), and a turn of incidentd's loop runs every request whose
  bytes arrived: its SQLite statements run on the loop's own thread (`sqlite_inline.py`), so with 64 busy
  connections one turn is about 64 requests' worth of CPU. The k-th of 64 connections opened together was accepted
  after k such turns: seconds on a saturated CPU, while the connections accepted first were served every turn
  (measured: docs/performance.md, "Round 5"). `AcceptingLoop` is uvloop with a server that accepts every waiting
  connection when the listening socket is readable, as asyncio's own loop does (up to `backlog` at a time).
- **Bounding the request head.** httptools gathers a header's value whole before it hands it over, so a client
  sending one endless header line made the server buffer all of it (48 MiB: +55-80 MB resident, other clients
  stalled for seconds, re-concatenating it on every read). `BoundedHttpToolsProtocol` feeds the parser at most
  `INCIDENTD_MAX_HEADER_BYTES` of a request's head (request line and headers) and `INCIDENTD_MAX_URL_BYTES` of
  its URL, and answers 431 / 414 past them.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httptools
import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from incidentd import draining
from incidentd.config import get_settings

# Errors of accept() that mean the process is out of descriptors or memory: asyncio stops accepting for a second.
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_RETRY_SECONDS = 1.0


def loop_factory(event_loop: str) -> str:
    """The `loop` uvicorn is configured with for the `event_loop` setting: an import path to a loop class, or
    uvicorn's asyncio."""
    if event_loop == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if event_loop == "uvloop":
            raise
        return "asyncio"
    return "incidentd.serving:AcceptingLoop"


class _AcceptingServer(asyncio.AbstractServer):
    """Listening sockets served by accepting every waiting connection per readiness, each connection handed to
    the loop's `connect_accepted_socket` (the same transports as uvloop's own server makes)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: list[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sockets = sockets
        self._protocol_factory = protocol_factory
        self._backlog = max(backlog, 1)
        self._serving = False
        self._connecting: set[asyncio.Task[Any]] = set()

    def _start(self) -> None:
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self._backlog):
            try:
                connection, _address = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                self._loop.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": exc, "socket": listener}
                )
                self._loop.remove_reader(listener.fileno())
                self._loop.call_later(_ACCEPT_RETRY_SECONDS, self._resume, listener)
                return
            connection.setblocking(False)
            task = self._loop.create_task(self._loop.connect_accepted_socket(self._protocol_factory, connection))
            self._connecting.add(task)
            task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._connecting.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._loop.call_exception_handler({"message": "accepting a connection failed", "exception": exc})

    def _resume(self, listener: socket.socket) -> None:
        if self._serving:
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    # asyncio.AbstractServer

    def close(self) -> None:
        if not self._sockets:
            return
        for sock in self._sockets:
            if self._serving:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._serving = False
        self._sockets = []

    async def wait_closed(self) -> None:
        return None

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    async def start_serving(self) -> None:
        self._start()

    async def serve_forever(self) -> None:
        self._start()
        await asyncio.Future()


def _listening_sockets(host: str | None, port: int | None, *, reuse_address: bool = True) -> list[socket.socket]:
    """Bound sockets for every address `host` resolves to, as asyncio's create_server binds them."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _accepting_loop_class() -> type[asyncio.AbstractEventLoop]:
    import uvloop

    class AcceptingLoop(uvloop.Loop):  # type: ignore[misc, name-defined]
        """uvloop, whose TCP servers accept every waiting connection per readiness of their socket."""

        async def create_server(  # type: ignore[override]
            self,
            protocol_factory: Callable[[], asyncio.BaseProtocol],
            host: str | Iterable[str] | None = None,
            port: int | None = None,
            *,
            sock: socket.socket | None = None,
            backlog: int = 100,
            ssl: Any = None,
            reuse_address: bool | None = None,
            start_serving: bool = True,
            **options: Any,
        ) -> asyncio.AbstractServer:
            if ssl is not None or options or not isinstance(host, str | None):
                # TLS and the rarer options keep uvloop's own server.
                uvloop_server: Any = super().create_server
                return await uvloop_server(
                    protocol_factory,
                    host,
                    port,
                    sock=sock,
                    backlog=backlog,
                    ssl=ssl,
                    reuse_address=reuse_address,
                    start_serving=start_serving,
                    **options,
                )
            if sock is not None:
                sockets = [sock]
            else:
                sockets = _listening_sockets(host, port, reuse_address=reuse_address is not False)
            server = _AcceptingServer(self, sockets, protocol_factory, backlog)
            if start_serving:
                server._start()
            return server

    return AcceptingLoop


def __getattr__(name: str) -> Any:
    # `AcceptingLoop` is made on first use, so that importing this module does not import uvloop.
    if name == "AcceptingLoop":
        loop_class = _accepting_loop_class()
        globals()["AcceptingLoop"] = loop_class
        return loop_class
    raise AttributeError(name)


# The request head --------------------------------------------------------------------------------------------


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a request whose head is over a limit."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# How long a rejected connection's further bytes are read and dropped before it is closed, so that the client
# (which may still be sending its oversized head) gets to read the answer instead of a reset.
_LINGER_SECONDS = 2.0


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, fed at most `max_header_bytes` of each request's head (request line and
    headers, the URL included) and `max_url_bytes` of its URL; past them it answers 431 or 414 and closes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_header_bytes = settings.max_header_bytes
        self.max_url_bytes = settings.max_url_bytes
        self._in_head = True
        self._head_bytes = 0
        self._rejected = False

    def shutdown(self) -> None:
        # The server's graceful shutdown: responses that never end by themselves (event streams) end now.
        draining.begin()
        super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return  # lingering: dropped
        self._unset_keepalive_if_required()
        while data:
            chunk = data
            if self._in_head:
                allowance = self.max_header_bytes - self._head_bytes
                if allowance <= 0:
                    self._reject(431)
                    return
                chunk = data[:allowance]
                self._head_bytes += len(chunk)
            data = data[len(chunk) :]
            if not self._feed(chunk):
                return

    def _feed(self, data: bytes) -> bool:
        """Parse `data` as uvicorn's protocol does; False once the connection is answered or handed over."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._reject(exc.__context__.status)
                return False
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        return not self.transport.is_closing()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            raise _HeadTooLarge(414)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _reject(self, status: int) -> None:
        self._rejected = True
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's head is too large while the one before it is still being answered: an answer
            # written now would land inside that one's.
            self.transport.close()
            return
        if status == 414:
            message = f"the request's URL is longer than {self.max_url_bytes} bytes"
        else:
            message = f"the request's header block is larger than {self.max_header_bytes} bytes"
        self.transport.write(rejection(status, message, self.server_state.default_headers))
        self.url = b""
        # Stop any further parsing and let the client read the answer; then close.
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


def rejection(status: int, message: str, default_headers: Iterable[tuple[bytes, bytes]] = ()) -> bytes:
    """A whole HTTP/1.1 response with a DevRev-shaped error body, for answers given below the web framework."""
    body = msgspec.json.encode({"type": "bad_request", "message": message})
    head = [STATUS_LINE[status]]
    for name, value in default_headers:
        head.extend([name, b": ", value, b"\r\n"])
    head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    return b"".join(head) + body
