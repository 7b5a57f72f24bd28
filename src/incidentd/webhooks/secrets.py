"""Webhook secrets at rest: AES-256-GCM with a key derived from the configured key (or the instance secret kept in
the artifacts directory). The secret must come back in clear for signing and in DevRev's `webhook` object, so it
is encrypted rather than hashed; a database dump alone does not reveal it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from incidentd.artifacts import service as artifacts
from incidentd.db import Database

_NONCE_BYTES = 12
_CONTEXT = b"incidentd webhook secrets v1"


def _key(db: Database) -> bytes:
    configured = db.settings.webhook_secrets_key
    root = configured.encode("utf-8") if configured else artifacts.store_of(db).signing_secret()
    return hmac.new(root, _CONTEXT, hashlib.sha256).digest()


def new_secret() -> str:
    """A generated secret: 32 URL-safe ASCII characters, so "the string" and "its bytes" are the same thing."""
    return random.token_urlsafe(24)


def seal(db: Database, secret: str, aad: bytes) -> str:
    """The stored form of `secret`, bound to `aad` (the webhook's org and number) so rows cannot swap secrets."""
    nonce = os.urandom(_NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(_key(db)).encrypt(nonce, secret.encode("utf-8"), aad)).decode("ascii")


def unseal(db: Database, stored: str, aad: bytes) -> str:
    raw = base64.b64decode(stored)
    return AESGCM(_key(db)).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad).decode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """DevRev's `X-DevRev-Signature`: lowercase hex HMAC-SHA256 of the exact body bytes, keyed with the secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
