"""DevRev object ids: DONs (`don:core:dvrv-us-1:devo/<org>:incident/7`) and display ids (`INC-7`), both ways.

Numbers are allocated per org and per kind by `incidentd.kit.counters`; this module is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from incidentd.errors import InvalidId, UnexpectedIdType

MAX_NUMBER = 2**63 - 1


@dataclass(frozen=True, slots=True)
class IdKind:
    name: str  # the domain name, e.g. "dev_user"
    service: str  # the DON service, e.g. "identity"
    segment: str  # the DON type segment, e.g. "devu"
    display_prefix: str | None  # e.g. "DEVU"; None where DevRev has no display id form
    counter: str  # the per-org counter this kind draws its numbers from


def _kind(name: str, service: str, segment: str, prefix: str | None, counter: str | None = None) -> IdKind:
    return IdKind(name, service, segment, prefix, counter or name)


# All principals share one counter so that a user number identifies a principal whatever its kind.
KINDS: dict[str, IdKind] = {
    kind.name: kind
    for kind in (
        _kind("incident", "core", "incident", "INC"),
        _kind("dev_user", "identity", "devu", "DEVU", "user"),
        _kind("service_account", "identity", "svcacc", "SVCACC", "user"),
        _kind("sys_user", "identity", "sysu", "SYSU", "user"),
        _kind("auth_token", "identity", "token", "TOKEN"),
        _kind("account", "identity", "account", "ACC"),
        _kind("tag", "core", "tag", "TAG"),
        _kind("article", "core", "article", "ART"),
        _kind("artifact", "core", "artifact", "ARTIFACT"),
        _kind("link", "core", "link", None),  # DevRev shows links by DON only
        _kind("product", "core", "product", "PROD", "part"),
        _kind("capability", "core", "capability", "CAPL", "part"),
        _kind("feature", "core", "feature", "FEAT", "part"),
        _kind("enhancement", "core", "enhancement", "ENH", "part"),
        _kind("custom_stage", "core", "custom_stage", "STAGE"),
        _kind("custom_state", "core", "custom_state", "STATE"),
        _kind("stage_diagram", "core", "stage_diagram", None),
        _kind("stock_schema_fragment", "core", "stock_sf", None),
        _kind("tenant_fragment", "core", "tenant_fragment", "TFRAG", "schema_fragment"),
        _kind("custom_type_fragment", "core", "custom_type_fragment", "CTFRAG", "schema_fragment"),
        _kind("app_fragment", "core", "app_fragment", "AFRAG", "schema_fragment"),
        # A comment's own id nests under its object's (`...:incident/7:comment/3`, see incidentd.timeline); this
        # flat form names it where a parent kind and number are all there is (an artifact's existing_parent).
        _kind("timeline_comment", "core", "comment", None, "timeline_entry"),
        _kind("webhook", "integration", "webhook", None),
    )
}
_BY_SEGMENT = {kind.segment: kind for kind in KINDS.values()}
_BY_PREFIX = {kind.display_prefix: kind for kind in KINDS.values() if kind.display_prefix}

USER_KINDS = ("dev_user", "service_account", "sys_user")
PART_KINDS = ("product", "capability", "feature", "enhancement")

_ORG_SLUG = r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}"
_DON = re.compile(rf"^don:([a-z]+):([A-Za-z0-9_-]+):devo/({_ORG_SLUG}):([a-z_]+)/([0-9]{{1,19}})$")
_ORG_DON = re.compile(rf"^don:identity:([A-Za-z0-9_-]+):devo/({_ORG_SLUG})$")
_DISPLAY = re.compile(r"^([A-Za-z]+)-([0-9]{1,19})$")


@dataclass(frozen=True, slots=True)
class ObjectId:
    """A parsed reference. `org_slug` is None for a display id, which is relative to the caller's org."""

    kind: IdKind
    number: int
    org_slug: str | None = None
    partition: str | None = None

    def belongs_to(self, org_slug: str, partition: str) -> bool:
        if self.org_slug is None:
            return True
        return self.org_slug == org_slug and self.partition == partition


def org_don(partition: str, org_slug: str) -> str:
    return f"don:identity:{partition}:devo/{org_slug}"


def to_don(kind: str | IdKind, number: int, *, org_slug: str, partition: str) -> str:
    spec = KINDS[kind] if isinstance(kind, str) else kind
    return f"don:{spec.service}:{partition}:devo/{org_slug}:{spec.segment}/{number}"


def to_display(kind: str | IdKind, number: int) -> str:
    spec = KINDS[kind] if isinstance(kind, str) else kind
    if spec.display_prefix is None:
        raise ValueError(f"{spec.name} has no display id")
    return f"{spec.display_prefix}-{number}"


def try_parse(value: str) -> ObjectId | None:
    """Parse a DON or a display id; None when it is neither."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if match := _DON.match(value):
        service, partition, org_slug, segment, digits = match.groups()
        kind = _BY_SEGMENT.get(segment)
        number = int(digits)
        if kind is None or kind.service != service or not 0 < number <= MAX_NUMBER:
            return None
        return ObjectId(kind, number, org_slug, partition)
    if match := _DISPLAY.match(value):
        prefix, digits = match.groups()
        kind = _BY_PREFIX.get(prefix.upper())
        number = int(digits)
        if kind is None or not 0 < number <= MAX_NUMBER:
            return None
        return ObjectId(kind, number)
    return None


def parse_org(value: str) -> tuple[str, str] | None:
    """Parse a dev org DON into (partition, slug)."""
    match = _ORG_DON.match(value.strip()) if isinstance(value, str) else None
    return (match.group(1), match.group(2)) if match else None


def parse(value: str, expected: tuple[str, ...] | str, *, field_name: str) -> ObjectId:
    """Parse `value` as an id of one of the `expected` kinds, or raise the DevRev error that names the field.

    Unparseable -> invalid_id; a well-formed id of another kind -> unexpected_id_type.
    """
    expected = (expected,) if isinstance(expected, str) else expected
    parsed = try_parse(value)
    if parsed is None:
        raise InvalidId(f"'{value}' is not a valid id", field_name=field_name)
    if parsed.kind.name not in expected:
        raise UnexpectedIdType(
            f"'{value}' is a {parsed.kind.name} id; expected {' or '.join(expected)}", field_name=field_name
        )
    return parsed
