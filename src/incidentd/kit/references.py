"""Resolving references in requests: ids (DON or display id) -> numbers of existing objects of the caller's org.

Each reference is parsed (`invalid_id` / `unexpected_id_type` naming the element, `owned_by[1]`), checked to
belong to the caller's org, and all of one field are looked up with a single query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.errors import InvalidId
from incidentd.kit import ids


class Org(Protocol):
    """What resolving needs of the caller's org (`principal.OrgScope` is one): its row id, and whether a parsed id
    names one of its objects."""

    @property
    def dev_org_id(self) -> int: ...

    def owns(self, parsed: ids.ObjectId) -> bool: ...


# (conn, dev_org_id, numbers) -> {number: kind name} of the numbers that exist.
Lookup = Callable[[AsyncConnection, int, Iterable[int]], Awaitable[dict[int, str]]]


async def resolve_many(
    conn: AsyncConnection,
    org: Org,
    values: Sequence[str],
    *,
    kinds: tuple[str, ...],
    field_name: str,
    lookup: Lookup,
    suffix: str = "",
    keep_duplicates: bool = False,
) -> list[int]:
    """The numbers of the referenced objects, in request order (duplicates dropped unless `keep_duplicates`).
    Errors name the element: `owned_by[1]`, or with a suffix `tags[1].tag_id`."""
    parsed: list[tuple[int, ids.ObjectId]] = []
    for index, value in enumerate(values):
        element = f"{field_name}[{index}]{suffix}"
        reference = ids.parse(value, kinds, field_name=element)
        if not org.owns(reference):
            raise InvalidId(f"'{value}' does not exist", field_name=element)
        parsed.append((index, reference))
    found = await lookup(conn, org.dev_org_id, {reference.number for _, reference in parsed})
    numbers: list[int] = []
    for index, reference in parsed:
        if found.get(reference.number) != reference.kind.name:
            raise InvalidId(f"'{values[index]}' does not exist", field_name=f"{field_name}[{index}]{suffix}")
        if keep_duplicates or reference.number not in numbers:
            numbers.append(reference.number)
    return numbers


async def resolve_one(
    conn: AsyncConnection,
    org: Org,
    value: str,
    *,
    kinds: tuple[str, ...],
    field_name: str,
    lookup: Lookup,
) -> int:
    """The number of one referenced object (`field_name` is named as is, without an index)."""
    reference = ids.parse(value, kinds, field_name=field_name)
    if org.owns(reference):
        found = await lookup(conn, org.dev_org_id, [reference.number])
        if found.get(reference.number) == reference.kind.name:
            return reference.number
    raise InvalidId(f"'{value}' does not exist", field_name=field_name)
