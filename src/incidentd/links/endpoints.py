"""The two ends of links: which objects a link may join, resolving request ids to them, and rendering them as
DevRev's link-endpoint summaries (one query per kind of object, however many links)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.accounts import service as accounts
from incidentd.articles import service as articles
from incidentd.errors import InvalidField, InvalidId
from incidentd.incidents import service as incidents
from incidentd.kit import ids
from incidentd.links import schemas
from incidentd.links.tables import ENDPOINT_KINDS
from incidentd.parts import service as parts
from incidentd.principal import OrgScope

LINKABLE = tuple(ENDPOINT_KINDS)  # incident, the four part types, article, account
INCIDENT_ONLY = ("incident",)
# (source types, target types) each link type joins; every link has an incident at one end at least.
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "is_related_to": (LINKABLE, LINKABLE),
    "is_duplicate_of": (INCIDENT_ONLY, INCIDENT_ONLY),
    "is_merged_into": (INCIDENT_ONLY, INCIDENT_ONLY),
    "is_parent_of": (INCIDENT_ONLY, INCIDENT_ONLY),
    # A follow-up of an incident: another incident, or an article (its post-incident review, say).
    "is_follow_up_of": (("incident", "article"), INCIDENT_ONLY),
}


@dataclass(frozen=True, slots=True)
class End:
    """One end of a link: its link-endpoint type and its number."""

    type: str
    number: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.type, self.number)

    @property
    def display(self) -> str:
        return ids.to_display(self.type, self.number)


async def resolve(
    conn: AsyncConnection, org: OrgScope, value: str, *, types: tuple[str, ...], field_name: str
) -> tuple[End, schemas.LinkEndpoint]:
    """The existing object of the caller's org that `value` names (DON or display id), with its summary. An id of
    a kind not in `types` is unexpected_id_type; one that names nothing, or another org's object, invalid_id."""
    parsed = ids.parse(value, types, field_name=field_name)
    end = End(parsed.kind.name, parsed.number)
    found = await summaries(conn, org, [end]) if org.owns(parsed) else {}
    if end not in found:
        raise InvalidId(f"'{value}' does not exist", field_name=field_name)
    return end, found[end]


async def resolve_pair(
    conn: AsyncConnection, org: OrgScope, link_type: str, source: str, target: str
) -> tuple[End, End, dict[End, schemas.LinkEndpoint]]:
    """Both ends of a new link of `link_type`, checked against what that type joins."""
    source_types, target_types = RULES[link_type]
    source_end, source_summary = await resolve(conn, org, source, types=source_types, field_name="source")
    target_end, target_summary = await resolve(conn, org, target, types=target_types, field_name="target")
    if source_end == target_end:
        raise InvalidField("a link joins two different objects; source and target are the same", field_name="target")
    if "incident" not in (source_end.type, target_end.type):
        raise InvalidField("a link has an incident at one end at least", field_name="target")
    return source_end, target_end, {source_end: source_summary, target_end: target_summary}


async def summaries(conn: AsyncConnection, org: OrgScope, ends: Iterable[End]) -> dict[End, schemas.LinkEndpoint]:
    """The link-endpoint summary of each of `ends` that exists: one lookup per kind of object among them."""
    by_kind: dict[str, set[int]] = {}
    for end in ends:
        by_kind.setdefault(ENDPOINT_KINDS[end.type], set()).add(end.number)
    found: dict[End, schemas.LinkEndpoint] = {}
    if numbers := by_kind.get("incident"):
        for number, incident in (await incidents.summaries(conn, org, numbers)).items():
            found[End("incident", number)] = incident
    if numbers := by_kind.get("part"):
        for number, part in (await parts.summaries(conn, org, numbers)).items():
            endpoint = schemas.PART_ENDPOINTS[part.type]
            found[End(part.type, number)] = endpoint(
                id=part.id, display_id=part.display_id, name=part.name, owned_by=part.owned_by
            )
    if numbers := by_kind.get("article"):
        for number, article in (await articles.summaries(conn, org, numbers)).items():
            found[End("article", number)] = schemas.ArticleEndpoint(
                id=article.id,
                display_id=article.display_id,
                title=article.title,
                article_type=article.article_type,
                resource=article.resource,
            )
    if numbers := by_kind.get("account"):
        for number, account in (await accounts.summaries(conn, org, numbers)).items():
            found[End("account", number)] = schemas.AccountEndpoint(
                id=account.id, display_id=account.display_id, display_name=account.display_name
            )
    return found
