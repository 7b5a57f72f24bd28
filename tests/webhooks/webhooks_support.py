"""Shared pieces of the webhook tests: a receiver written from DevRev's webhook documentation, running on
loopback in a thread, and validation against the vendored `tests/spec/devrev-webhooks.yaml`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from contract import _document

DOCUMENT = "devrev-webhooks.yaml"


@cache
def _registry() -> Registry:
    return Registry().with_resource(f"urn:{DOCUMENT}", DRAFT202012.create_resource(_document(DOCUMENT)))


def _check(schema_ref: str, body: Any) -> None:
    validator = jsonschema.Draft202012Validator({"$ref": f"urn:{DOCUMENT}#{schema_ref}"}, registry=_registry())
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(f"  at {list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])
        raise AssertionError(f"{schema_ref} does not match DevRev's schema:\n{details}")


def assert_webhook_conforms(path: str, method: str, status: int, body: Any) -> None:
    """`body` is a valid `status` answer of `method path` in DevRev's spec."""
    response = _document(DOCUMENT)["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in response:
        response = _document(DOCUMENT)["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    _check(schema["$ref"][1:], body)


def assert_event_conforms(body: Any) -> None:
    """`body` is a valid `webhook-event-request` (what DevRev POSTs to a receiver)."""
    _check("/components/schemas/webhook-event-request", body)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers like a receiver following DevRev's guide: it checks `X-DevRev-Signature` (HMAC-SHA256 of the raw
    body keyed with the webhook's secret, hex) and echoes a verify event's challenge. `secrets` maps a path to the
    secret of the webhook posting there (unknown paths are accepted and checked later by the tests)."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    bad_signatures: list[Received] = field(default_factory=list)
    status: int = 200  # what non-verify events get (503: down)
    delay: float = 0.0  # seconds to wait before answering
    answer: Callable[[Received], tuple[int, bytes]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def handle(self, request: Received) -> tuple[int, bytes]:
        secret = self.secrets.get(request.path)
        if secret is not None:
            expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, request.headers.get("x-devrev-signature", "")):
                with self.lock:
                    self.bad_signatures.append(request)
                return 401, b"{}"
        with self.lock:
            self.received.append(request)
        if self.delay:
            time.sleep(self.delay)
        if self.answer is not None:
            return self.answer(request)
        event = request.json
        if event.get("type") == "verify":
            return 200, json.dumps({"challenge": event["verify"]["challenge"]}).encode()
        return self.status, b"{}"

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self, path: str | None = None, type_: str | None = None) -> list[Any]:
        with self.lock:
            found = [r.json for r in self.received if path is None or r.path == path]
        return [e for e in found if e.get("type") != "verify" and (type_ is None or e["type"] == type_)]


def serve(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (the crash test): nothing was delivered
                return
            request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
            status, answer = receiver.handle(request)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def receiving() -> Iterator[Receiver]:
    """A Receiver served on loopback for the block (a fixture's body: `with receiving() as found: yield found`)."""
    found = Receiver()
    server = serve(found)
    try:
        yield found
    finally:
        server.shutdown()


async def eventually(check: Callable[[], bool], seconds: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
