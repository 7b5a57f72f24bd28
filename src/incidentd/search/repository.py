"""SQL of the search index: one document per incident (title, body, comments, tag names), kept beside the
incident rows and written in the writer's transaction.

SQLite: `incident_search`, an FTS5 table (unicode61 tokens, diacritics folded, prefix indexes of 2 and 3
characters). Its rowid is `dev_org_id * 2**40 + number`, so that a document is found by its incident, and an
org's documents are one rowid range (every match is scoped by it).
PostgreSQL: `incident_search`, a table of (dev_org_id, incident_number, comments, tags, document tsvector) with a
GIN index on the document; the document is built with the configured text search language, the title weighted
A, tag names B, the body C and comments D. ASCII punctuation is turned into spaces first, as FTS5's tokenizer does,
so that both databases cut the same words.

Neither table is SQLAlchemy metadata (an FTS5 table is virtual); `INDEX_TABLES` names what the schema
comparison leaves aside."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.plain_statements import PlainStatement

TABLE = "incident_search"
Texts = tuple[str | None, str | None]  # an incident's indexed comments and tag names
# The FTS5 table and the shadow tables SQLite keeps for it.
INDEX_TABLES = frozenset({TABLE, *(f"{TABLE}_{suffix}" for suffix in ("data", "idx", "content", "docsize", "config"))})
ORG_SPAN = 2**40  # incident numbers of one org stay below this (numbers are dense counters)
MAX_COMMENTS = 1_000  # an incident's oldest comments indexed
MAX_COMMENT_CHARS = 100_000  # of their text, joined
# Comments every member may read: not private, and not expiring (an expired comment vanishes from reads at once
# but from the table only at the next sweep).
_COMMENT_FILTER = (
    "t.dev_org_id = i.dev_org_id AND t.object_kind = 'incident' AND t.object_number = i.number "
    "AND t.entry_type = 'timeline_comment' AND t.visibility <> 'private' AND t.expires_at IS NULL "
    "AND t.body IS NOT NULL"
)
_TAG_NAMES = (
    "SELECT {aggregate} FROM incident_tags AS it JOIN tags AS tg "
    "ON tg.dev_org_id = it.dev_org_id AND tg.number = it.tag_number "
    "WHERE it.dev_org_id = i.dev_org_id AND it.incident_number = i.number"
)
# In position order: also what keeps SQLite on the primary key (without it, it plans the covering by-tag index
# on dev_org_id alone, which reads every tag link of the org for each incident).
_SQLITE_TAG_NAMES = (
    "SELECT group_concat(name, ' ') FROM (" + _TAG_NAMES.format(aggregate="tg.name") + " ORDER BY it.position)"
)
_POSTGRESQL_TAG_NAMES = _TAG_NAMES.format(aggregate="string_agg(tg.name, ' ' ORDER BY it.position)")
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

_SQLITE_DOCUMENTS = (
    f"INSERT INTO {TABLE} (rowid, dev_org_id, incident_number, title, body, comments, tags) "
    f"SELECT i.dev_org_id * {ORG_SPAN} + i.number, i.dev_org_id, i.number, i.title, i.body, "
    f"(SELECT substr(group_concat(body, char(10)), 1, {MAX_COMMENT_CHARS}) FROM "
    f"(SELECT t.body FROM timeline_entries AS t WHERE {_COMMENT_FILTER} ORDER BY t.number LIMIT {MAX_COMMENTS})), "
    f"({_SQLITE_TAG_NAMES}) "
    "FROM incidents AS i WHERE {scope}"
)


def _ts(expression: str) -> str:
    return f"to_tsvector(CAST(:language AS regconfig), translate(coalesce({expression}, ''), :punctuation, :spaces))"


# An incident's indexed parts: title, body, comments, tag names ({scope} picks the incidents).
_POSTGRESQL_PARTS = (
    "SELECT i.dev_org_id, i.number, i.title, i.body, "
    f"(SELECT left(string_agg(c.body, E'\\n' ORDER BY c.number), {MAX_COMMENT_CHARS}) FROM "
    f"(SELECT t.body, t.number FROM timeline_entries AS t WHERE {_COMMENT_FILTER} "
    f"ORDER BY t.number LIMIT {MAX_COMMENTS}) AS c) AS comments, "
    f"({_POSTGRESQL_TAG_NAMES}) AS tags "
    "FROM incidents AS i WHERE {scope}"
)
_ON_CONFLICT = (
    "ON CONFLICT (dev_org_id, incident_number) DO UPDATE SET comments = excluded.comments, tags = excluded.tags, "
    "document = excluded.document"
)
_POSTGRESQL_DOCUMENTS = (
    f"INSERT INTO {TABLE} (dev_org_id, incident_number, comments, tags, document) "
    "SELECT d.dev_org_id, d.number, d.comments, d.tags, "
    f"setweight({_ts('d.title')}, 'A') || setweight({_ts('d.tags')}, 'B') || "
    f"setweight({_ts('d.body')}, 'C') || setweight({_ts('d.comments')}, 'D') "
    "FROM (" + _POSTGRESQL_PARTS + f") AS d {_ON_CONFLICT}"
)
# Citus: the parts read by one statement, the documents written by another (see `write`). The parts' subqueries
# name the org themselves: correlated through `i.dev_org_id` only, Citus plans the SELECT on every shard.
_CITUS_PARTS = _POSTGRESQL_PARTS.replace("= i.dev_org_id", "= :org")
_CITUS_DOCUMENT = (
    f"INSERT INTO {TABLE} (dev_org_id, incident_number, comments, tags, document) "
    "VALUES (:org, :number, CAST(:comments AS text), CAST(:tags AS text), "
    f"setweight({_ts('CAST(:title AS text)')}, 'A') || setweight({_ts('CAST(:tags AS text)')}, 'B') || "
    f"setweight({_ts('CAST(:body AS text)')}, 'C') || setweight({_ts('CAST(:comments AS text)')}, 'D')) "
    f"{_ON_CONFLICT}"
)

_ONE = "i.dev_org_id = :org AND i.number = :number"
_SQLITE_MANY = "i.dev_org_id = :org AND i.number IN (SELECT value FROM json_each(:numbers))"
_POSTGRESQL_MANY = "i.dev_org_id = :org AND i.number = ANY(CAST(:numbers AS bigint[]))"
_STATEMENTS = {
    "sqlite": {
        "one": sa.text(_SQLITE_DOCUMENTS.format(scope=_ONE)),
        "many": sa.text(_SQLITE_DOCUMENTS.format(scope=_SQLITE_MANY)),
        "remove": sa.text(
            f"DELETE FROM {TABLE} WHERE rowid IN (SELECT :org * {ORG_SPAN} + value FROM json_each(:numbers))"
        ),
        "texts": sa.text(
            f"SELECT incident_number, comments, tags FROM {TABLE} "
            f"WHERE rowid IN (SELECT :org * {ORG_SPAN} + value FROM json_each(:numbers))"
        ),
    },
    "postgresql": {
        "one": sa.text(_POSTGRESQL_DOCUMENTS.format(scope=_ONE)),
        "parts_one": sa.text(_CITUS_PARTS.format(scope=_ONE)),
        "parts_many": sa.text(_CITUS_PARTS.format(scope=_POSTGRESQL_MANY)),
        "document": sa.text(_CITUS_DOCUMENT),
        "many": sa.text(_POSTGRESQL_DOCUMENTS.format(scope=_POSTGRESQL_MANY)),
        "remove": sa.text(
            f"DELETE FROM {TABLE} WHERE dev_org_id = :org AND incident_number = ANY(CAST(:numbers AS bigint[]))"
        ),
        "texts": sa.text(
            f"SELECT incident_number, comments, tags FROM {TABLE} "
            "WHERE dev_org_id = :org AND incident_number = ANY(CAST(:numbers AS bigint[]))"
        ),
    },
}


# Every create's document, below SQLAlchemy's async layer (`PlainStatement`) where the unit of work allows.
_ONE_NOW = {dialect: PlainStatement(statements["one"]) for dialect, statements in _STATEMENTS.items()}


def _statement(conn: AsyncConnection | Any, name: str) -> Any:
    return _STATEMENTS[conn.dialect.name][name]


def _numbers(conn: AsyncConnection | Any, numbers: Sequence[int]) -> Any:
    if conn.dialect.name == "sqlite":
        return "[" + ",".join(str(int(number)) for number in numbers) + "]"
    return [int(number) for number in numbers]


def _language_parameters(conn: AsyncConnection | Any, language: str) -> dict[str, Any]:
    if conn.dialect.name != "postgresql":
        return {}
    return {"language": language, "punctuation": PUNCTUATION, "spaces": " " * len(PUNCTUATION)}


async def write(conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int], language: str, *, new: bool) -> None:
    """(Re)build the documents of these incidents from what the transaction sees; `new`: none has one yet.
    An incident that does not exist (any more) is left without a document."""
    if not numbers:
        return
    if not new and conn.dialect.name == "sqlite":  # PostgreSQL's insert replaces a document (ON CONFLICT)
        await remove(conn, dev_org_id, numbers)
    parameters = {"org": dev_org_id, **_language_parameters(conn, language)}
    if await citus.in_use(conn):
        await _write_routed(conn, parameters, numbers)
        return
    if len(numbers) == 1:
        await _ONE_NOW[conn.dialect.name].fetch(conn, {**parameters, "number": numbers[0]})
    else:
        await conn.execute(_statement(conn, "many"), {**parameters, "numbers": _numbers(conn, numbers)})


async def _write_routed(conn: AsyncConnection, parameters: dict[str, Any], numbers: Sequence[int]) -> None:
    """Citus: the documents' parts read by one SELECT, then written with INSERT ... VALUES, each a router query
    (one shard). Citus plans the single INSERT ... SELECT of other PostgreSQLs on every co-located shard pair, org
    filter or not: the other shards' tasks find nothing, but every write paid for them."""
    if len(numbers) == 1:
        read = conn.execute(_statement(conn, "parts_one"), {"org": parameters["org"], "number": numbers[0]})
    else:
        read = conn.execute(_statement(conn, "parts_many"), {"org": parameters["org"], "numbers": list(numbers)})
    documents = [
        {
            **parameters,
            "number": row.number,
            "title": row.title,
            "body": row.body,
            "comments": row.comments,
            "tags": row.tags,
        }
        for row in (await read).all()
    ]
    if documents:
        await conn.execute(_statement(conn, "document"), documents)


def rebuild_statements(dialect: str, language: str) -> list[tuple[str, dict[str, Any]]]:
    """The statements that build every incident's document (the migration's backfill, `incidentd search
    reindex`), on an empty index: (SQL, parameters)."""
    if dialect == "sqlite":
        return [(_SQLITE_DOCUMENTS.format(scope="true"), {})]
    parameters = {"language": language, "punctuation": PUNCTUATION, "spaces": " " * len(PUNCTUATION)}
    return [(_POSTGRESQL_DOCUMENTS.format(scope="true"), parameters)]


async def rebuild(conn: AsyncConnection, language: str) -> None:
    """Write every org's documents again (the index cleared first by the caller)."""
    for statement, parameters in rebuild_statements(conn.dialect.name, language):
        await conn.execute(sa.text(statement), parameters)


async def clear(conn: AsyncConnection) -> None:
    """Empty the index (of every org), before a rebuild."""
    await conn.execute(sa.text(f"DELETE FROM {TABLE}"))


async def remove(conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]) -> None:
    if numbers:
        await conn.execute(_statement(conn, "remove"), {"org": dev_org_id, "numbers": _numbers(conn, numbers)})


async def tagged(conn: AsyncConnection, dev_org_id: int, tag_number: int) -> list[int]:
    """The incidents carrying a tag (whose documents hold its name)."""
    query = sa.text("SELECT incident_number FROM incident_tags WHERE dev_org_id = :org AND tag_number = :tag")
    return [row[0] for row in (await conn.execute(query, {"org": dev_org_id, "tag": tag_number})).all()]


async def texts(
    conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]
) -> dict[int, tuple[str | None, str | None]]:
    """{number: (comments, tag names)} as indexed, for snippets."""
    if not numbers:
        return {}
    parameters = {"org": dev_org_id, "numbers": _numbers(conn, numbers)}
    rows = (await conn.execute(_statement(conn, "texts"), parameters)).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def matches(
    dialect: str, dev_org_id: int, match: str, language: str, low: int, high: int, *, by_number: bool = False
) -> sa.Subquery:
    """(number, position) of the org's incidents numbered `low` to `high` whose documents match: `match` is an
    FTS5 expression on SQLite, a tsquery text on PostgreSQL. Ordering by `position` descending is newest first,
    read from the index in its order on SQLite (FTS5 walks its rowids backwards and stops at a LIMIT).
    `by_number` (PostgreSQL; for a short span): walk the span's documents newest first and test each, instead of
    gathering every match of the org from the GIN index and keeping those in the span (a common word's tens of
    thousands of rows read to keep a few hundred)."""
    if dialect == "sqlite":
        base = dev_org_id * ORG_SPAN
        statement = sa.text(
            f"SELECT rowid - :search_base AS number, rowid AS position FROM {TABLE} "
            f"WHERE {TABLE} MATCH :search_match AND rowid BETWEEN :search_low AND :search_high"
        ).bindparams(search_match=match, search_base=base, search_low=base + low, search_high=base + high)
    elif by_number:
        # The CASE hides the test from the planner's statistics (which put a prefix or weighted tsquery's matches
        # a hundred times too low, and then sort the whole span): it walks the span down the primary key, testing
        # each document, and stops at the LIMIT above.
        statement = sa.text(
            f"SELECT s.incident_number AS number, s.incident_number AS position FROM {TABLE} AS s "
            "WHERE s.dev_org_id = :search_org AND s.incident_number BETWEEN :search_low AND :search_high "
            "AND CASE WHEN s.document @@ to_tsquery(CAST(:search_language AS regconfig), :search_match) "
            "THEN true ELSE false END"
        ).bindparams(
            search_match=match, search_org=dev_org_id, search_language=language, search_low=low, search_high=high
        )
    else:
        statement = sa.text(
            f"SELECT s.incident_number AS number, s.incident_number AS position FROM {TABLE} AS s "
            "WHERE s.dev_org_id = :search_org AND s.incident_number BETWEEN :search_low AND :search_high "
            "AND s.document @@ to_tsquery(CAST(:search_language AS regconfig), :search_match)"
        ).bindparams(
            search_match=match, search_org=dev_org_id, search_language=language, search_low=low, search_high=high
        )
    return statement.columns(sa.column("number", sa.BigInteger), sa.column("position", sa.BigInteger)).subquery(
        "matches"
    )


async def newest_span(
    conn: AsyncConnection, dev_org_id: int, match: str, language: str, highest: int, size: int
) -> tuple[int, int] | None:
    """(how many, lowest number) of the org's newest `size` incidents numbered up to `highest` whose documents
    match; None when none does."""
    newest = matches(conn.dialect.name, dev_org_id, match, language, 0, highest)
    window = sa.select(newest.c.number).order_by(newest.c.position.desc()).limit(size).subquery("window")
    found, lowest = (await conn.execute(sa.select(sa.func.count(), sa.func.min(window.c.number)))).one()
    return None if not found else (int(found), int(lowest))


async def newest_number(conn: AsyncConnection, dev_org_id: int) -> int | None:
    """The number of the org's newest incident with a document."""
    if conn.dialect.name == "sqlite":
        query = sa.text(
            f"SELECT rowid - :base FROM {TABLE} WHERE rowid BETWEEN :base AND :top ORDER BY rowid DESC LIMIT 1"
        ).bindparams(base=dev_org_id * ORG_SPAN, top=(dev_org_id + 1) * ORG_SPAN - 1)
    else:
        query = sa.text(f"SELECT max(incident_number) FROM {TABLE} WHERE dev_org_id = :org").bindparams(org=dev_org_id)
    found = (await conn.execute(query)).scalar_one_or_none()
    return None if found is None else int(found)


VOCABULARY = "incident_search_vocabulary"
MAX_EXPANSION = 8  # words a prefix stands for at most to be searched as those words


async def words_starting_with(conn: AsyncConnection, prefixes: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """SQLite: {prefix: the index's words that start with it} for the ASCII prefixes that start at most
    MAX_EXPANSION words (of every org: a word of another org only makes the expression longer)."""
    # fts5vocab reads the index FTS5 keeps; in the temp schema, so that the database's schema stays as migrated.
    await conn.execute(
        sa.text(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{VOCABULARY} USING fts5vocab(main, {TABLE}, 'row')")
    )
    query = sa.text(f"SELECT term FROM temp.{VOCABULARY} WHERE term >= :first AND term < :after LIMIT :most")
    found: dict[str, tuple[str, ...]] = {}
    for prefix in prefixes:
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        result = await conn.execute(query, {"first": prefix, "after": after, "most": MAX_EXPANSION + 1})
        words = tuple(str(word) for word in result.scalars())
        if len(words) <= MAX_EXPANSION:
            found[prefix] = words
    return found


async def count(conn: AsyncConnection) -> int:
    """Documents in the index (of every org)."""
    return int((await conn.execute(sa.text(f"SELECT count(*) FROM {TABLE}"))).scalar_one())
