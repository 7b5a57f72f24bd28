"""Secrets that say their org: `<prefix><org number>_<43 URL-safe characters>` (256 bits of entropy after the org).

Bearer tokens, web sessions and login links are looked up by the hash of their secret. A secret that names its org
lets that lookup name the org too, so on Citus it goes to the one shard that holds the org instead of every shard.
The org part is only a routing hint: a secret whose org part is changed is looked up in that other org and not
found there. Secrets issued before they said their org (`<prefix>` and 43 characters: too short to match) name
none and are looked up by their hash alone.
"""

from __future__ import annotations

import functools
import re
import secrets

ENTROPY_BYTES = 32  # 43 URL-safe characters


def new(prefix: str, dev_org_id: int) -> str:
    return f"{prefix}{dev_org_id}_{secrets.token_urlsafe(ENTROPY_BYTES)}"


def org_of(prefix: str, secret: str) -> int | None:
    """The org number `secret` says it belongs to; None for a secret of the older form, which says none."""
    match = _form(prefix).fullmatch(secret)
    return int(match[1]) if match else None


@functools.cache
def _form(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix) + r"([1-9][0-9]{0,17})_[A-Za-z0-9_-]{43}")
