"""structlog configuration: console lines for people, JSON lines for machines; no secret in either.

Every log line, ours (structlog) or a library's (stdlib logging: uvicorn, SQLAlchemy, alembic, litestar), passes
through `redact`: values under secret-sounding keys become "[redacted]", and text that looks like a secret (our
tokens, `Bearer ...`, a signed link's `signature=`, a URL's password, the configured secrets) is masked. Tracebacks
are rendered without local variables, which held the request's headers.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import structlog

from incidentd.config import Settings

REDACTED = "[redacted]"

# A key naming a secret anywhere in an event (request headers, settings, ...): its whole value goes.
_SECRET_KEY = re.compile(r"authorization|cookie|token|secret|password|passwd|signature|api[-_]?key|credential", re.I)
# Secrets by their shape in free text (messages, exception values, tracebacks, SQL parameters).
_SECRET_TEXT: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"idt_[A-Za-z0-9_\-]+"), REDACTED),  # identity.service.TOKEN_PREFIX
    # logins.service: web session secrets and one-time login links (whose secret is in the link's path).
    (re.compile(r"\b(?:ids|idl)_[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"\b(bearer|basic)(\s+)[^\s'\",;)\]}]+", re.I), rf"\1\2{REDACTED}"),
    (re.compile(r"(signature=)[^&\s'\",;)\]}]+", re.I), rf"\1{REDACTED}"),
    (
        re.compile(
            r"((?:proxy-)?authorization|(?:set-)?cookie|x-api-key)(['\"]?\s*[:=,]\s*(?:b?['\"])?)[^'\"\n]+", re.I
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(://[^:/@\s]*:)[^@/\s]+@"), rf"\1{REDACTED}@"),  # scheme://user:password@host
]
# Text without any of these (lowercased) cannot match a pattern above: most lines skip the regular expressions.
_SECRET_TEXT_MARKERS = (
    "idt_",
    "ids_",
    "idl_",
    "bearer",
    "basic",
    "signature=",
    "authorization",
    "cookie",
    "x-api-key",
    "@",
)

_configured_secrets: tuple[str, ...] = ()


def configured_secrets(settings: Settings) -> list[str]:
    """The secrets the settings hold, masked wherever they appear in a log line."""
    found = [settings.artifacts_secret, settings.metrics_token, settings.webhook_secrets_key]
    for url in (settings.database_url, settings.rate_limit_storage):
        password = urlsplit(url).password
        found.append(password)
    return [secret for secret in found if secret]


def mask_secret(secret: str) -> None:
    """Mask `secret` in every later log line too: a secret the process comes to hold after logging was configured
    (the artifacts signing secret derived into a file when INCIDENTD_ARTIFACTS_SECRET is unset)."""
    global _configured_secrets
    if secret and secret not in _configured_secrets:
        _configured_secrets = tuple(sorted({*_configured_secrets, secret}, key=len, reverse=True))


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    """`text` with every secret it shows masked."""
    for secret in _configured_secrets:
        text = text.replace(secret, REDACTED)
    lowered = text.lower()
    for marker in _SECRET_TEXT_MARKERS:  # a plain loop: a generator expression costs several times more here
        if marker in lowered:
            break
    else:
        return text
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """`value` (a log event's value, nested or not) with its secrets masked; `key` is the name it is logged under."""
    if key is not None and value is not None and _is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, dict):
        return {name: redact(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        # A (name, value) pair, as headers come: the name decides for the value.
        if len(value) == 2 and isinstance(value[0], str | bytes):
            name = value[0].decode("latin-1") if isinstance(value[0], bytes) else value[0]
            return [redact(value[0]), redact(value[1], name)]
        return [redact(item) for item in value]
    return value


def _redact_event(logger: Any, method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    return {name: redact(value, None if name == "event" else name) for name, value in event.items()}


def _redact_arg(value: Any) -> Any:
    if isinstance(value, int | float) or value is None:
        return value
    text = str(value)
    masked = redact_text(text)
    return value if masked == text else masked


_default_record_factory = logging.getLogRecordFactory()


def _redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every stdlib log record, masked where it is made, whichever handler later formats it."""
    record = _default_record_factory(*args, **kwargs)
    if isinstance(record.msg, str):
        record.msg = redact_text(record.msg)
    if isinstance(record.args, dict):
        record.args = {name: _redact_arg(value) for name, value in record.args.items()}
    elif isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(value) for value in record.args)
    if record.exc_info and record.exc_info[0] is not None:
        # Formatted once here; handlers reuse exc_text instead of formatting the exception again.
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    return record


def configure_logging(log_format: str = "console", level: str = "info", secrets: Iterable[str] = ()) -> None:
    """Configure structlog and stdlib logging; `secrets` (see `configured_secrets`) never appear in a line."""
    global _configured_secrets
    # Longest first, so a secret that contains another is masked whole.
    _configured_secrets = tuple(sorted({secret for secret in secrets if secret}, key=len, reverse=True))
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    # Tracebacks become data before the redaction sees them; never with local variables (they held headers).
    exceptions: structlog.typing.Processor = (
        structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False))
        if log_format == "json"
        else structlog.processors.format_exc_info
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exceptions,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.setLogRecordFactory(_redacted_record)
    # alembic and uvicorn speak through stdlib logging; keep them to warnings.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
