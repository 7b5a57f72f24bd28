"""Pages of objects ordered by their number, with DevRev's `limit`, `cursor` and `mode`.

(Incidents sort on many keys and have their own keyset code; the supporting objects list in number order.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from incidentd.errors import InvalidField
from incidentd.kit import cursors
from incidentd.kit.numbers import INT64_MAX

MAX_PAGE = 100

# A request's `limit`: below 1 is invalid while decoding (invalid_field), and /openapi.json says so.
PageLimit = Annotated[
    int, msgspec.Meta(ge=1, le=INT64_MAX, description=f"At least 1; a value over {MAX_PAGE} is served as {MAX_PAGE}.")
]


def page_limit(limit: int | None, default: int = 50, maximum: int = MAX_PAGE, *, field_name: str = "limit") -> int:
    """DevRev's `limit`: default 50, larger values clamped to 100, below 1 is invalid."""
    if limit is None:
        return default
    if limit < 1:
        raise InvalidField(f"{field_name} must be at least 1", field_name=field_name)
    return min(limit, maximum)


@dataclass(frozen=True)
class Window:
    """Where a page starts: after or before the boundary number (None: from the start or the end)."""

    direction: cursors.Direction
    boundary: int | None
    limit: int
    fingerprint: str

    @property
    def after(self) -> int | None:
        return self.boundary if self.direction == "after" else None

    @property
    def before(self) -> int | None:
        return self.boundary if self.direction == "before" else None


def window(cursor: str | None, mode: str | None, limit: int | None, *filters: Any) -> Window:
    """Decode the request's paging fields; `filters` are whatever a cursor must not be reused across."""
    fingerprint = cursors.fingerprint(*filters)
    direction: cursors.Direction = "before" if mode == "before" else "after"
    boundary: int | None = None
    if cursor:
        position = cursors.decode(cursor, fingerprint)
        if not position.values or type(position.values[0]) is not int:
            raise InvalidField("the cursor is not valid", field_name="cursor")
        boundary = position.values[0]
        direction = "before" if mode == "before" else ("after" if mode == "after" else position.direction)
    return Window(direction, boundary, page_limit(limit), fingerprint)


@dataclass(frozen=True)
class Cursors:
    next_cursor: str | None
    prev_cursor: str | None


def page_cursors(numbers: list[int], *, more: bool, page: Window) -> Cursors:
    """next/prev cursors of a page whose (ascending) numbers are `numbers`; `more` says the query found a row
    beyond the page in its own direction. A cursor is omitted where nothing lies beyond."""
    if not numbers:
        return Cursors(None, None)
    has_next = more if page.direction == "after" else page.boundary is not None
    has_prev = page.boundary is not None if page.direction == "after" else more
    return Cursors(
        cursors.encode([numbers[-1]], "after", page.fingerprint) if has_next else None,
        cursors.encode([numbers[0]], "before", page.fingerprint) if has_prev else None,
    )


def number_page(query: Any, number: Any, page: Window, *, extra: int = 1) -> Any:
    """Constrain a SELECT to the page `page` describes, in number order (descending when walking backwards,
    from the end when there is no boundary: the repository's caller re-sorts ascending). Fetches `extra` more
    rows to tell whether more lie beyond."""
    if page.direction == "before":
        if page.boundary is not None:
            query = query.where(number < page.boundary)
        return query.order_by(number.desc()).limit(page.limit + extra)
    if page.boundary is not None:
        query = query.where(number > page.boundary)
    return query.order_by(number).limit(page.limit + extra)
