"""One POST to a receiver: the signed body, DevRev's headers, a bounded wait and a bounded read.

Redirects are not followed (a receiver answers for itself). With `webhook_deny_private`, the address a receiver's
name resolves to is checked when the connection is made (a name that resolved to a public address at create time
and to 127.0.0.1 later is refused then), and the connection goes to the address that was checked.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
import msgspec

from incidentd.kit import ids
from incidentd.webhooks import secrets

# httpx logs every request at INFO with its URL: a line per delivery costs CPU at delivery rates (the server's
# logging setup lets it through), and a receiver's URL may carry a token. Outcomes are in the deliveries log and
# /metrics.
logging.getLogger("httpx").setLevel(logging.WARNING)

SIGNATURE_HEADER = "X-DevRev-Signature"
EVENT_SEGMENT = "webhook_event/"
MAX_RESPONSE_BYTES = 64 * 1024  # more than a verify answer needs; the rest of a body is not read


class RefusedAddress(httpcore.ConnectError):
    """The receiver's address is private, loopback or link-local and such addresses are refused."""


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, refusing to connect to private, loopback and link-local addresses."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        found = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        addresses = [str(info[4][0]) for info in found]
        refused = [address for address in addresses if is_private(address)]
        if not addresses or refused:
            raise RefusedAddress(f"{host} resolves to a refused address ({', '.join(refused) or 'none'})")
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise RefusedAddress("unix sockets are refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(
    *, max_connections: int, timeout: float, deny_private: bool, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """A client with a bounded pool of keep-alive connections, no redirects, no proxy or netrc from the
    environment. `ssl_context` is shared by clients made together (building one loads the CA bundle)."""
    ssl_context = ssl_context or httpx.create_ssl_context()
    transport = httpx.AsyncHTTPTransport(
        verify=ssl_context,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
    )
    if deny_private:
        # httpx builds its httpcore pool itself; this one differs only by its network backend.
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=PublicOnlyBackend(),
        )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


class Clients:
    """A client per webhook, each with as many connections as the webhook may have sends in flight, kept alive
    between sends. httpcore scans every connection of a pool on each request and response, so one pool of
    `webhook_max_connections` shared by every webhook spent a third of a send's HTTP CPU scanning; a webhook's
    own pool of a few connections scans those only, and one webhook's slow receiver cannot hold another's
    connections. At most `keep` clients stay open: beyond it, the least recently used ones that nothing is
    being sent through are closed."""

    def __init__(self, *, per_client: int, timeout: float, deny_private: bool, keep: int = 256) -> None:
        self._make = functools.partial(
            client,
            max_connections=per_client,
            timeout=timeout,
            deny_private=deny_private,
            ssl_context=httpx.create_ssl_context(),
        )
        self._keep = keep
        self._open: collections.OrderedDict[Any, httpx.AsyncClient] = collections.OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, key: Any, busy: Callable[[Any], bool]) -> httpx.AsyncClient:
        """The client of `key`; `busy(key)` says whether a key has sends in flight (its client stays open)."""
        found = self._open.get(key)
        if found is not None:
            self._open.move_to_end(key)
            return found
        made = self._open[key] = self._make()
        for old in [k for k in self._open if k != key and not busy(k)][: max(0, len(self._open) - self._keep)]:
            task = asyncio.create_task(self._open.pop(old).aclose())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return made

    async def aclose(self) -> None:
        clients, self._open = list(self._open.values()), collections.OrderedDict()
        await asyncio.gather(*(c.aclose() for c in clients), *self._closing, return_exceptions=True)


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_id(partition: str, slug: str, webhook_number: int, seq: int) -> str:
    """The envelope id: the same for every attempt (and replay) of one event to one webhook."""
    return f"{ids.to_don('webhook', webhook_number, org_slug=slug, partition=partition)}:{EVENT_SEGMENT}{seq}"


def envelope(event_id: str, webhook_id: str, timestamp: str, type_: str, payload: str) -> bytes:
    """DevRev's `webhook-event-request`: `{id, webhook_id, timestamp, type, <type>: {...}}`, as exact bytes."""
    head = msgspec.json.encode({"id": event_id, "webhook_id": webhook_id, "timestamp": timestamp, "type": type_})
    return head[:-1] + b',"' + type_.encode() + b'":' + payload.encode("utf-8") + b"}"


async def post(
    http: httpx.AsyncClient, url: str, body: bytes, secret: str, headers: list[dict[str, str]], wait: float
) -> Outcome:
    """POST `body` signed with `secret`; never raises for the receiver's failures (they are the outcome)."""
    sent = {h["name"]: h["value"] for h in headers}
    sent["Content-Type"] = "application/json"
    sent[SIGNATURE_HEADER] = secrets.sign(secret, body)
    started = time.monotonic()
    try:
        async with asyncio.timeout(wait):
            async with http.stream("POST", url, content=body, headers=sent) as response:
                received = bytearray()
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) >= MAX_RESPONSE_BYTES:
                        break
                status: int | None = response.status_code
                error = None if 200 <= response.status_code < 300 else f"answered {response.status_code}"
    except TimeoutError:
        status, error, received = None, f"no answer within {wait:g} s", bytearray()
    except httpx.HTTPError as exc:
        status, error, received = None, _describe(exc), bytearray()
    except RefusedAddress as exc:
        status, error, received = None, str(exc), bytearray()
    latency = int((time.monotonic() - started) * 1000)
    return Outcome(status, error, latency, bytes(received[:MAX_RESPONSE_BYTES]))


def _describe(exc: Exception) -> str:
    """What went wrong, without the request (its headers hold the signature and the webhook's own headers)."""
    cause: BaseException = exc
    while cause.__cause__ is not None and isinstance(cause, httpx.HTTPError):
        cause = cause.__cause__
    text = str(cause) or type(cause).__name__
    return f"{type(exc).__name__}: {text}"[:500]
