"""SQL of incidents: rows, their links, and (for list and group) the filtered, keyset-paged queries."""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.customization.fields import index_entries
from incidentd.incidents.filters import FilterSpec, SortKey
from incidentd.incidents.tables import (
    incident_articles,
    incident_custom_values,
    incident_customers,
    incident_owners,
    incident_parts,
    incident_tags,
    incidents,
)
from incidentd.kit.rows import ORG, RowsByNumber, among, one_of
from incidentd.plain_statements import PlainStatement
from incidentd.sqlite_inline import off_loop

ARTICLE_ROLES = ("pia", "playbooks", "related_docs")


@dataclass
class Links:
    """The references of one incident, each list in position order."""

    owned_by: list[int] = field(default_factory=list)
    applies_to_parts: list[int] = field(default_factory=list)
    pia: list[int] = field(default_factory=list)
    playbooks: list[int] = field(default_factory=list)
    related_docs: list[int] = field(default_factory=list)
    tags: list[tuple[int, str | None]] = field(default_factory=list)
    customer_ids: list[int] = field(default_factory=list)


LINK_COLLECTIONS = tuple(collection.name for collection in fields(Links))


async def insert(
    conn: AsyncConnection, values: dict[str, Any], links: dict[str, Any], custom_fields: dict[str, Any]
) -> Row[Any]:
    """Insert a new incident (`values` with its `number`) with its links (keys as in `Links`) and its custom
    values' index rows; the incident's row as stored.

    On PostgreSQL it is one statement, the child rows inserted by data-modifying CTEs: a round trip each would
    cost the worker an asyncio turn and asyncpg's encoding, for work the database does in microseconds. SQLite
    runs statements in process, where a round trip costs nothing."""
    dev_org_id = values["dev_org_id"]
    children = _children(dev_org_id, values["number"], links, custom_fields)
    # Citus runs modifying CTEs before the statement around them, so the children would precede their incident:
    # there, one statement per table (each still routed to the org's shard).
    if conn.dialect.name == "postgresql" and not await citus.in_use(conn):
        # The CTEs take the parent columns from the statement itself: the rows' own are not bound.
        parameters = {f"incident__{column}": value for column, value in values.items()}
        parameters |= _child_arrays(children)
        return await _the_row(conn, _insert_with_children_now(frozenset(values)), parameters)
    row = await _the_row(conn, _INSERT_INCIDENT_NOW, values)
    for table, rows in children:
        await _insert_into(conn, table, rows)
    return row


def _children(
    dev_org_id: int, number: int, links: dict[str, Any], custom_fields: dict[str, Any]
) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    """A new incident's rows in its child tables, by table (tables without rows left out)."""
    children = _link_rows(dev_org_id, number, links)
    if index_rows := custom_value_rows(dev_org_id, number, custom_fields):
        children.append((incident_custom_values, index_rows))
    return children


async def _insert_into(conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Rows of one of an incident's child tables, below SQLAlchemy's async layer (`PlainStatement`): a create
    writes up to six of these (on Citus too)."""
    await _INSERT_INTO_NOW[table].run_many(conn, rows)


# Write statements built once, their values bound at execution: building one per call (coercing every value,
# computing its cache key from scratch) was a tenth of a create's CPU (py-spy).
_INSERT_INCIDENT = sa.insert(incidents).returning(*incidents.c)
_WHERE_ORG = sa.bindparam("where_dev_org_id", type_=sa.Integer)
_WHERE_NUMBER = sa.bindparam("where_number", type_=sa.BigInteger)
_UPDATE_INCIDENT = (
    sa.update(incidents)
    .where(incidents.c.dev_org_id == _WHERE_ORG, incidents.c.number == _WHERE_NUMBER)
    .returning(*incidents.c)
)
_SELECT_INCIDENT = sa.select(incidents).where(incidents.c.dev_org_id == _WHERE_ORG, incidents.c.number == _WHERE_NUMBER)
_LOCK_INCIDENT = _SELECT_INCIDENT.with_for_update()
_INSERT_INCIDENT_NOW = PlainStatement(_INSERT_INCIDENT)
_UPDATE_INCIDENT_NOW = PlainStatement(_UPDATE_INCIDENT)
_SELECT_INCIDENT_NOW = PlainStatement(_SELECT_INCIDENT)  # SQLite's writer holds the database's write lock
_LOCK_INCIDENT_NOW = PlainStatement(_LOCK_INCIDENT)


# The tables a new incident's rows go to, besides `incidents`, in the order their CTEs are written.
_CHILD_TABLES = (
    incident_owners,
    incident_parts,
    incident_articles,
    incident_tags,
    incident_customers,
    incident_custom_values,
)
_PARENT_COLUMNS = ("dev_org_id", "incident_number")
_INSERT_INTO = {table: sa.insert(table) for table in _CHILD_TABLES}
_INSERT_INTO_NOW = {table: PlainStatement(statement) for table, statement in _INSERT_INTO.items()}


def _child_columns(table: sa.Table) -> list[sa.Column[Any]]:
    return [column for column in table.c if column.name not in _PARENT_COLUMNS]


def _child_arrays(children: list[tuple[sa.Table, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The parameters of `_insert_with_children`'s CTEs: one array per child column (empty: no rows)."""
    rows_of = dict(children)
    return {
        f"{table.name}__{column.name}": [row[column.name] for row in rows_of.get(table, [])]
        for table in _CHILD_TABLES
        for column in _child_columns(table)
    }


@functools.cache
def _insert_with_children(columns: frozenset[str]) -> sa.Insert:
    """PostgreSQL: INSERT INTO incidents (...) with a CTE per child table, `INSERT INTO child SELECT :org,
    :number, * FROM unnest(:column_a, :column_b, ...)`. Built once per set of incident columns: a statement built
    anew is compiled anew, and a multi-row VALUES is never cached at all."""
    statement = sa.insert(incidents).values(
        {column: sa.bindparam(f"incident__{column}", type_=incidents.c[column].type) for column in sorted(columns)}
    )
    ctes = []
    for table in _CHILD_TABLES:
        child = _child_columns(table)
        arrays = [sa.bindparam(f"{table.name}__{c.name}", type_=postgresql.ARRAY(c.type)) for c in child]
        source = sa.func.unnest(*arrays).table_valued(*(c.name for c in child)).render_derived()
        rows = sa.select(
            sa.bindparam("incident__dev_org_id", type_=sa.Integer),
            sa.bindparam("incident__number", type_=sa.BigInteger),
            *(source.c[c.name] for c in child),
        )
        insert = sa.insert(table).from_select([*_PARENT_COLUMNS, *(c.name for c in child)], rows)
        ctes.append(insert.cte(f"new_{table.name}"))
    return statement.returning(*incidents.c).add_cte(*ctes)


@functools.cache
def _insert_with_children_now(columns: frozenset[str]) -> PlainStatement:
    return PlainStatement(_insert_with_children(columns))


async def update(conn: AsyncConnection, dev_org_id: int, number: int, values: dict[str, Any]) -> Row[Any]:
    """Update one (existing, locked) incident; the row as stored."""
    where = {"where_dev_org_id": dev_org_id, "where_number": number}
    return await _the_row(conn, _UPDATE_INCIDENT_NOW, {**values, **where})


async def _one(conn: AsyncConnection, statement: PlainStatement, values: dict[str, Any]) -> Row[Any] | None:
    """The first row of one of an incident's own statements (None without one), below SQLAlchemy's async layer
    (`plain_statements.PlainStatement`): every create inserts, every update locks and updates its incident."""
    rows = await statement.all(conn, values)
    return rows[0] if rows else None


async def _the_row(conn: AsyncConnection, statement: PlainStatement, values: dict[str, Any]) -> Row[Any]:
    """`_one`'s row, which must be there (SQLAlchemy's `NoResultFound` otherwise, as its `.one()` raises)."""
    row = await _one(conn, statement, values)
    if row is None:
        raise sa.exc.NoResultFound("No row was found when one was required")
    return row


async def delete(conn: AsyncConnection, dev_org_id: int, number: int) -> bool:
    result = await conn.execute(
        sa.delete(incidents).where(incidents.c.dev_org_id == dev_org_id, incidents.c.number == number)
    )
    return bool(result.rowcount)


# Incidents by number.
get_many = RowsByNumber(incidents)


async def lock(conn: AsyncConnection, dev_org_id: int, number: int) -> Row[Any] | None:
    """The row, locked against concurrent writers until the transaction ends (PostgreSQL: FOR UPDATE;
    SQLite: the write transaction already holds the database's write lock)."""
    query = _LOCK_INCIDENT_NOW if conn.dialect.name == "postgresql" else _SELECT_INCIDENT_NOW
    return await _one(conn, query, {"where_dev_org_id": dev_org_id, "where_number": number})


_LOCK_MANY = (
    sa.select(incidents).where(incidents.c.dev_org_id == ORG, among(incidents.c.number)).order_by(incidents.c.number)
)
_LOCK_MANY_FOR_UPDATE = _LOCK_MANY.with_for_update()


async def lock_many(conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]) -> dict[int, Row[Any]]:
    """`lock` for several incidents in one statement, in number order (two such locks cannot deadlock)."""
    query = _LOCK_MANY_FOR_UPDATE if conn.dialect.name == "postgresql" else _LOCK_MANY
    rows = await conn.execute(query, {"dev_org_id": dev_org_id, "numbers": sorted(set(numbers))})
    return {row.number: row for row in rows}


# links -----------------------------------------------------------------------------------------------


def _rows(dev_org_id: int, incident_number: int, column: str, targets: Sequence[int]) -> list[dict[str, Any]]:
    return [
        {"dev_org_id": dev_org_id, "incident_number": incident_number, "position": index, column: target}
        for index, target in enumerate(targets)
    ]


_SIMPLE_LINKS = {
    "owned_by": (incident_owners, "user_number"),
    "applies_to_parts": (incident_parts, "part_number"),
    "customer_ids": (incident_customers, "account_number"),
}


def _link_rows(dev_org_id: int, number: int, links: dict[str, Any]) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    """The rows of the given collections (keys as in `Links`), by table; tables without rows left out."""
    found: list[tuple[sa.Table, list[dict[str, Any]]]] = []
    for name, (table, column) in _SIMPLE_LINKS.items():
        if links.get(name):
            found.append((table, _rows(dev_org_id, number, column, links[name])))
    articles = [
        {**row, "role": role}
        for role in ARTICLE_ROLES
        for row in _rows(dev_org_id, number, "article_number", links.get(role) or [])
    ]
    if articles:
        found.append((incident_articles, articles))
    if links.get("tags"):
        tags = [
            {"dev_org_id": dev_org_id, "incident_number": number, "position": index, "tag_number": tag, "value": value}
            for index, (tag, value) in enumerate(links["tags"])
        ]
        found.append((incident_tags, tags))
    return found


async def replace_links(conn: AsyncConnection, dev_org_id: int, number: int, links: dict[str, Any]) -> None:
    """Set the given collections of one incident (keys as in `Links`), leaving the others as they are."""
    for name, (table, _) in _SIMPLE_LINKS.items():
        if name in links:
            await _clear(conn, table, dev_org_id, number)
    for role in ARTICLE_ROLES:
        if role in links:
            await _clear(conn, incident_articles, dev_org_id, number, role=role)
    if "tags" in links:
        await _clear(conn, incident_tags, dev_org_id, number)
    for table, rows in _link_rows(dev_org_id, number, links):
        await _insert_into(conn, table, rows)


async def replace_custom_values(
    conn: AsyncConnection, dev_org_id: int, number: int, custom_fields: dict[str, Any]
) -> None:
    """Rewrite the index rows of one incident's custom fields (call whenever its custom_fields change)."""
    await _clear(conn, incident_custom_values, dev_org_id, number)
    if rows := custom_value_rows(dev_org_id, number, custom_fields):
        await _insert_into(conn, incident_custom_values, rows)


def custom_value_rows(dev_org_id: int, number: int, custom_fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The `incident_custom_values` rows of one incident's custom fields (for writers that insert in bulk too)."""
    return [
        {
            "dev_org_id": dev_org_id,
            "incident_number": number,
            "name": name,
            "position": position,
            "value_key": key,
            "long_value": long_value,
        }
        for name, value in custom_fields.items()
        for position, key, long_value in index_entries(value)
    ]


async def _clear(conn: AsyncConnection, table: sa.Table, dev_org_id: int, number: int, role: str | None = None) -> None:
    """Delete one incident's rows of a child table (of incident_articles: those of one role)."""
    where = {"where_dev_org_id": dev_org_id, "where_number": number}
    if role is None:
        await conn.execute(_CLEAR[table], where)
    else:
        await conn.execute(_CLEAR_ARTICLES_OF_ROLE, {**where, "where_role": role})


_CLEAR = {
    table: sa.delete(table).where(table.c.dev_org_id == _WHERE_ORG, table.c.incident_number == _WHERE_NUMBER)
    for table in _CHILD_TABLES
}
_CLEAR_ARTICLES_OF_ROLE = _CLEAR[incident_articles].where(incident_articles.c.role == sa.bindparam("where_role"))


def _links_statement() -> sa.CompoundSelect[Any]:
    """One UNION ALL over the five link tables: (kind, incident_number, position, target, value) rows."""

    def part(table: sa.Table, kind: Any, target: sa.Column[Any], value: Any) -> sa.Select[Any]:
        return sa.select(
            kind.label("kind"),
            table.c.incident_number,
            table.c.position,
            target.label("target"),
            value.label("value"),
        ).where(table.c.dev_org_id == ORG, among(table.c.incident_number))

    null_text = sa.cast(sa.null(), sa.Text)
    return sa.union_all(
        part(incident_owners, sa.literal("owned_by", sa.Text), incident_owners.c.user_number, null_text),
        part(incident_parts, sa.literal("applies_to_parts", sa.Text), incident_parts.c.part_number, null_text),
        part(
            incident_articles, sa.cast(incident_articles.c.role, sa.Text), incident_articles.c.article_number, null_text
        ),
        part(
            incident_tags,
            sa.literal("tags", sa.Text),
            incident_tags.c.tag_number,
            sa.cast(incident_tags.c.value, sa.Text),
        ),
        part(incident_customers, sa.literal("customer_ids", sa.Text), incident_customers.c.account_number, null_text),
    )


_LINKS_STATEMENT = _links_statement()
_LINKS_NOW = PlainStatement(_LINKS_STATEMENT)


async def links(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, Links]:
    """The links of many incidents in one round trip (one UNION ALL over the five link tables)."""
    wanted = sorted(set(numbers))
    found: dict[int, Links] = {number: Links() for number in wanted}
    if not wanted:
        return found
    # Every update reads its incident's links: below SQLAlchemy's async layer (PlainStatement).
    rows: Sequence[Any] = await _LINKS_NOW.all(conn, {"dev_org_id": dev_org_id, "numbers": wanted})
    # Each list is one (incident, kind): ordering by position alone orders every list. Rows unpack as tuples (a
    # page of 50 incidents has hundreds of links; attribute access by name costs more than SQLite's answer).
    for kind, incident_number, _, target, value in sorted(rows, key=_POSITION):
        entry = found[incident_number]
        if kind == "tags":
            entry.tags.append((target, value))
        else:
            getattr(entry, kind).append(target)
    return found


_POSITION = operator.itemgetter(2)


# list and group --------------------------------------------------------------------------------------

_LINKS: dict[str, tuple[sa.Table, str, str | None]] = {
    "owned_by": (incident_owners, "user_number", None),
    "applies_to_parts": (incident_parts, "part_number", None),
    "pia": (incident_articles, "article_number", "pia"),
    "playbooks": (incident_articles, "article_number", "playbooks"),
    "related_docs": (incident_articles, "article_number", "related_docs"),
    "tags": (incident_tags, "tag_number", None),
}
_NOT_NULL = {"created_date", "modified_date", "title", "number"}


def _linked(dev_org_id: int, name: str, numbers: list[int]) -> Any:
    table, column, role = _LINKS[name]
    query = sa.select(table.c.incident_number).where(table.c.dev_org_id == dev_org_id, one_of(table.c[column], numbers))
    if role is not None:
        query = query.where(table.c.role == role)
    return incidents.c.number.in_(query)


CUSTOM_GROUP = "custom_fields."  # a group_by of custom_fields.<name>


def _custom_value_join(name: str, values: Any = incident_custom_values) -> Any:
    """An incident's index rows of one custom field."""
    return sa.and_(
        values.c.dev_org_id == incidents.c.dev_org_id,
        values.c.incident_number == incidents.c.number,
        values.c.name == name,
    )


def _custom_field_matches(dev_org_id: int, name: str, keys: list[str | None], *, few: bool) -> Any:
    """Incidents whose field `name` has a value with one of these index keys (None: has no value). With `few`
    matches the query starts from them (a semi-join, then a sort of those few); otherwise it walks the sort
    order and looks each incident up in the index, stopping after a page (SQLite plans the two forms so;
    PostgreSQL plans both as a semi-join by its statistics)."""
    # An alias of its own: group_by on a custom field joins the same table in the enclosing query.
    values = incident_custom_values.alias()
    present = [key for key in keys if key is not None]
    alternatives: list[Any] = []
    if present and few and None not in keys:
        having = sa.select(values.c.incident_number).where(
            values.c.dev_org_id == dev_org_id, values.c.name == name, one_of(values.c.value_key, present)
        )
        alternatives.append(incidents.c.number.in_(having))
    elif present:
        having_one = sa.select(sa.literal(1)).where(
            _custom_value_join(name, values), one_of(values.c.value_key, present)
        )
        alternatives.append(having_one.exists())
    if None in keys:
        alternatives.append(~sa.select(sa.literal(1)).where(_custom_value_join(name, values)).exists())
    return sa.or_(*alternatives) if alternatives else sa.false()


async def count_custom_matches(
    conn: AsyncConnection, dev_org_id: int, name: str, keys: list[str], *, up_to: int
) -> int:
    """How many values of field `name` have one of these keys, counting no further than `up_to` + 1."""
    if not keys:
        return 0
    matching = (
        sa.select(sa.literal(1))
        .where(
            incident_custom_values.c.dev_org_id == dev_org_id,
            incident_custom_values.c.name == name,
            one_of(incident_custom_values.c.value_key, keys),
        )
        .limit(up_to + 1)
        .subquery()
    )
    return int((await conn.execute(sa.select(sa.func.count()).select_from(matching))).scalar_one())


async def incident_number_ceiling(conn: AsyncConnection, dev_org_id: int) -> int:
    """The org's highest incident number: about how many incidents it has (numbers are dense), in one seek."""
    query = sa.select(sa.func.max(incidents.c.number)).where(incidents.c.dev_org_id == dev_org_id)
    return int((await conn.execute(query)).scalar_one() or 0)


def where(dev_org_id: int, spec: FilterSpec, *, counting: bool = False) -> list[Any]:
    """The WHERE clauses of a filter specification (all must hold). `counting`: for a query that visits every
    match (group counts), so custom field filters start from their matches whatever their number."""
    clauses: list[Any] = [incidents.c.dev_org_id == dev_org_id]
    for name, numbers in spec.links.items():
        clauses.append(_linked(dev_org_id, name, numbers))
    if spec.created_by is not None:
        clauses.append(one_of(incidents.c.created_by, spec.created_by))
    if spec.stage_numbers is not None:
        clauses.append(one_of(incidents.c.stage_number, spec.stage_numbers))
    for column, ints in spec.ints.items():
        clauses.append(one_of(incidents.c[column], ints))
    for column, strings in spec.strings.items():
        clauses.append(one_of(incidents.c[column], strings))
    for column, window in spec.dates.items():
        if window.after is not None:
            clauses.append(incidents.c[column] >= window.after)
        if window.before is not None:
            clauses.append(incidents.c[column] <= window.before)
        if window.after is None and window.before is None:
            clauses.append(incidents.c[column].is_not(None))
    if spec.title_contains is not None:
        clauses.append(sa.func.lower(incidents.c.title).contains(spec.title_contains.lower(), autoescape=True))
    if spec.is_staged is not None:
        clauses.append(incidents.c.is_staged == spec.is_staged)
    for name, keys in spec.custom_field_keys.items():
        few = counting or name in spec.sparse_custom_fields
        clauses.append(_custom_field_matches(dev_org_id, name, keys, few=few))
    return clauses


def _keys(sort: Sequence[SortKey], backwards: bool) -> list[tuple[sa.Column[Any], bool]]:
    """(column, descending) of the effective order, the incident number last as the tie breaker."""
    keys = [(incidents.c[key.column], key.descending != backwards) for key in sort]
    keys.append((incidents.c.number, sort[0].descending != backwards))
    return keys


def _order(keys: list[tuple[sa.Column[Any], bool]]) -> list[Any]:
    # NULL sorts as the largest value on both databases (PostgreSQL's default; SQLite needs saying so).
    order = []
    for column, descending in keys:
        clause = column.desc() if descending else column.asc()
        if column.name not in _NOT_NULL:
            clause = clause.nulls_first() if descending else clause.nulls_last()
        order.append(clause)
    return order


def _beyond(keys: list[tuple[sa.Column[Any], bool]], values: list[Any]) -> Any:
    """Rows strictly after the boundary row `values` in the order `keys` (NULL largest)."""
    if all(column.name in _NOT_NULL for column, _ in keys) and len({d for _, d in keys}) == 1:
        columns = sa.tuple_(*(column for column, _ in keys))
        bound = sa.tuple_(*(sa.literal(value) for value in values))
        return columns < bound if keys[0][1] else columns > bound

    def after(column: sa.Column[Any], descending: bool, value: Any) -> Any:
        nullable = column.name not in _NOT_NULL
        if value is None:
            return column.is_not(None) if descending else sa.false()
        if descending:
            return column < value
        return sa.or_(column > value, column.is_(None)) if nullable else column > value

    def equal(column: sa.Column[Any], value: Any) -> Any:
        return column.is_(None) if value is None else column == value

    alternatives = []
    for index, (column, descending) in enumerate(keys):
        prefix = [equal(c, v) for (c, _), v in zip(keys[:index], values[:index], strict=True)]
        alternatives.append(sa.and_(*prefix, after(column, descending, values[index])))
    return sa.or_(*alternatives)


def sort_values(row: Row[Any], sort: Sequence[SortKey]) -> list[Any]:
    """The boundary values a cursor records for `row`: its sort keys, then its number."""
    return [getattr(row, key.column) for key in sort] + [row.number]


async def page(
    conn: AsyncConnection,
    clauses: list[Any],
    sort: Sequence[SortKey],
    *,
    boundary: list[Any] | None,
    backwards: bool,
    limit: int,
) -> Sequence[Row[Any]]:
    """Up to `limit` rows after (or, `backwards`, before) the boundary row, in the walking order.

    A filtered page may walk every incident of the org to find a few matches (a title no incident has: all of
    them), so SQLite runs it off the event loop; only the org's plain pages, read straight off an index, stay on."""
    keys = _keys(sort, backwards)
    query = sa.select(incidents).where(*clauses)
    if boundary is not None:
        query = query.where(_beyond(keys, boundary))
    with off_loop() if len(clauses) > 1 else contextlib.nullcontext():
        return (await conn.execute(query.order_by(*_order(keys)).limit(limit))).all()


async def group_counts(
    conn: AsyncConnection, clauses: list[Any], dev_org_id: int, group_by: str, *, filtered: bool = True
) -> list[tuple[Any, int]]:
    """(key, number of incidents) of every group; the key None collects incidents without a value. A link
    field puts an incident in the group of each object it links to, an array custom field in the group of each
    of its values (the keys of custom fields are index keys). `filtered`: `clauses` hold more than the org.

    Counting visits every matching incident (a million take 100+ ms), so SQLite runs it off the event loop."""
    with off_loop():
        return await _group_counts(conn, clauses, dev_org_id, group_by, filtered=filtered)


async def _group_counts(
    conn: AsyncConnection, clauses: list[Any], dev_org_id: int, group_by: str, *, filtered: bool
) -> list[tuple[Any, int]]:
    if group_by.startswith(CUSTOM_GROUP):
        return await _custom_value_counts(conn, clauses, dev_org_id, group_by.removeprefix(CUSTOM_GROUP), filtered)
    if group_by in _LINKS:
        table, column, role = _LINKS[group_by]
        joined = sa.and_(table.c.dev_org_id == incidents.c.dev_org_id, table.c.incident_number == incidents.c.number)
        if role is not None:
            joined = sa.and_(joined, table.c.role == role)
        linked = (
            sa.select(table.c[column], sa.func.count(sa.distinct(incidents.c.number)))
            .select_from(incidents.join(table, joined))
            .where(*clauses)
            .group_by(table.c[column])
        )
        unlinked = sa.select(sa.func.count()).select_from(incidents).where(*clauses, ~sa.exists().where(joined))
        groups = [(row[0], int(row[1])) for row in (await conn.execute(linked)).all()]
        without = int((await conn.execute(unlinked)).scalar_one())
        return groups + ([(None, without)] if without else [])
    key = incidents.c[group_by]
    query = sa.select(key, sa.func.count()).where(*clauses).group_by(key)
    return [(row[0], int(row[1])) for row in (await conn.execute(query)).all()]


async def _custom_value_counts(
    conn: AsyncConnection, clauses: list[Any], dev_org_id: int, name: str, filtered: bool
) -> list[tuple[Any, int]]:
    """Group counts of a custom field: each (incident, value) has one index row, and each incident with a value
    one row at position 0, so the groups and the no-value group are counts of index rows. Without filters the
    index alone answers; with filters its rows are joined to the matching incidents."""
    values = incident_custom_values
    total = sa.select(sa.func.count()).select_from(incidents).where(*clauses)
    if filtered:
        joined = _custom_value_join(name)
        grouped: Any = sa.select(values.c.value_key, sa.func.count()).select_from(incidents.join(values, joined))
        grouped = grouped.where(*clauses)
        valued: Any = sa.select(sa.func.count()).select_from(incidents.join(values, joined))
        valued = valued.where(*clauses, values.c.position == 0)
    else:
        field = (values.c.dev_org_id == dev_org_id, values.c.name == name)
        grouped = sa.select(values.c.value_key, sa.func.count()).where(*field)
        valued = sa.select(sa.func.count()).select_from(values).where(*field, values.c.position == 0)
    groups = [(row[0], int(row[1])) for row in (await conn.execute(grouped.group_by(values.c.value_key))).all()]
    without = int((await conn.execute(total)).scalar_one()) - int((await conn.execute(valued)).scalar_one())
    return groups + ([(None, without)] if without else [])


def group_clause(dev_org_id: int, group_by: str, key: Any, *, few: bool = False) -> Any:
    """The WHERE clause of one group (see `group_counts`); `few`: the group is small (see
    `_custom_field_matches`)."""
    if group_by.startswith(CUSTOM_GROUP):
        return _custom_field_matches(dev_org_id, group_by.removeprefix(CUSTOM_GROUP), [key], few=few)
    if group_by in _LINKS:
        if key is not None:
            return _linked(dev_org_id, group_by, [key])
        table, _, role = _LINKS[group_by]
        joined = sa.and_(table.c.dev_org_id == incidents.c.dev_org_id, table.c.incident_number == incidents.c.number)
        return ~sa.exists().where(joined, *([table.c.role == role] if role else []))
    column = incidents.c[group_by]
    return column.is_(None) if key is None else column == key


async def custom_long_values(conn: AsyncConnection, dev_org_id: int, name: str, keys: list[str]) -> dict[str, str]:
    """{index key: the value's JSON} of digest keys (values too long to be their own key)."""
    if not keys:
        return {}
    query = (
        sa.select(incident_custom_values.c.value_key, sa.func.min(incident_custom_values.c.long_value))
        .where(
            incident_custom_values.c.dev_org_id == dev_org_id,
            incident_custom_values.c.name == name,
            one_of(incident_custom_values.c.value_key, keys),
        )
        .group_by(incident_custom_values.c.value_key)
    )
    return {row[0]: row[1] for row in (await conn.execute(query)).all()}


def grouped_source(group_by: str) -> tuple[Any, Any]:
    """(FROM clause, key expression) for aggregating by `group_by` (as `group_counts` groups): incidents outer-joined
    to the link or custom field index rows, so an incident appears once per group it belongs to, and once with
    the key NULL when it has no value."""
    if group_by.startswith(CUSTOM_GROUP):
        values = incident_custom_values
        joined = _custom_value_join(group_by.removeprefix(CUSTOM_GROUP))
        return incidents.outerjoin(values, joined), values.c.value_key
    if group_by in _LINKS:
        table, column, role = _LINKS[group_by]
        link = sa.and_(table.c.dev_org_id == incidents.c.dev_org_id, table.c.incident_number == incidents.c.number)
        if role is not None:
            link = sa.and_(link, table.c.role == role)
        return incidents.outerjoin(table, link), table.c[column]
    return incidents, incidents.c[group_by]


async def count(conn: AsyncConnection, clauses: list[Any]) -> int:
    """How many incidents match `clauses` (visits every match: off the event loop on SQLite)."""
    with off_loop():
        return int((await conn.execute(sa.select(sa.func.count()).select_from(incidents).where(*clauses))).scalar_one())
