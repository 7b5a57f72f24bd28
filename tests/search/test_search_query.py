"""The search query language: what a query parses into, its FTS5 and tsquery forms, and (hypothesis) that any
text is either a 400 naming `query` or an expression both databases accept, through the parser and over HTTP."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Actor
from incidentd.errors import InvalidField
from incidentd.search.query import ALL_IN_TITLE, ELSEWHERE, MAX_PARTS, SOME_IN_TITLE_OR_TAGS, TIERS, Clause, parse
from incidentd.search.snippets import snippet


def test_words_are_prefixes_quotes_make_phrases_and_minus_excludes():
    query = parse('Paym* "Gateway down" -staging us-east-1 a')
    assert query.clauses == (
        Clause(("paym",), prefix=True, excluded=False),
        Clause(("gateway", "down"), prefix=False, excluded=False),
        Clause(("staging",), prefix=True, excluded=True),
        Clause(("us", "east", "1"), prefix=False, excluded=False),
        Clause(("a",), prefix=False, excluded=False),
    )
    assert query.fts5() == '("paym"* AND "gateway down" AND "us east 1" AND "a") NOT ("staging"*)'
    assert query.tsquery() == "'paym':* & ('gateway' <-> 'down') & ('us' <-> 'east' <-> '1') & 'a' & !'staging':*"


def test_tiers_are_column_filters_on_sqlite_and_weights_on_postgresql():
    query = parse('paym "gateway down" -staging')
    assert query.fts5(ALL_IN_TITLE) == '({title} : ("paym"* AND "gateway down")) NOT ("staging"*)'
    assert query.fts5(SOME_IN_TITLE_OR_TAGS) == (
        '(("paym"* AND "gateway down") AND ({title tags} : ("paym"* OR "gateway down"))) '
        'NOT (({title} : ("paym"* AND "gateway down")) OR "staging"*)'
    )
    assert query.fts5(ELSEWHERE) == (
        '("paym"* AND "gateway down") NOT (({title tags} : ("paym"* OR "gateway down")) OR "staging"*)'
    )
    assert query.tsquery(ALL_IN_TITLE) == "('paym':*A & ('gateway':A <-> 'down':A)) & !'staging':*"
    assert query.tsquery(ELSEWHERE) == (
        "'paym':* & ('gateway' <-> 'down') & !('paym':*AB | ('gateway':AB <-> 'down':AB)) & !'staging':*"
    )


def test_expanded_prefixes_are_searched_as_their_words():
    query = dataclasses.replace(parse("paym gate -stag"), expansions=(("paym", ("payment", "payments")), ("stag", ())))
    assert query.long_prefixes == ["gate", "paym", "stag"]
    assert query.fts5() == '(("payment" OR "payments") AND "gate"*) NOT (("stag"))'


def test_an_open_quote_runs_to_the_end_and_punctuation_only_separates():
    assert parse('"payment gateway').clauses == (Clause(("payment", "gateway"), prefix=False, excluded=False),)
    assert parse("(payment) OR NOT: gateway*").fts5() == '("payment"* AND "or"* AND "not"* AND "gateway"*)'


@pytest.mark.parametrize("text", ["", "  ", "-a -b", '"" ()', "x" * 513, " ".join(["w"] * 20 + ["v"] * 20)])
def test_queries_without_anything_to_find_or_too_big_are_invalid_field_query(text):
    with pytest.raises(InvalidField) as raised:
        parse(text)
    assert raised.value.fields["field_name"] == "query"


def test_the_number_of_parts_is_bounded():
    parse(" ".join(f"word{index}" for index in range(MAX_PARTS)))
    with pytest.raises(InvalidField):
        parse(" ".join(f"word{index}" for index in range(MAX_PARTS + 1)))


def test_snippets_mark_prefixes_and_phrases_and_cut_long_text():
    text = " ".join(f"filler{index}" for index in range(40)) + " the payment gateway failed " + "tail " * 40
    marked = snippet(parse('paym "gateway failed"'), [text])
    assert marked.startswith("…") and marked.endswith("…")
    assert "<mark>payment</mark> <mark>gateway</mark> <mark>failed</mark>" in marked
    assert snippet(parse("zzz"), ["", None, "A title"]) == "A title"


FTS5 = sqlite3.connect(":memory:")
FTS5.execute(
    "CREATE VIRTUAL TABLE t USING fts5(a UNINDEXED, title, tags, tokenize = 'unicode61 remove_diacritics 2', "
    "prefix = '2 3')"
)
FTS5.execute("INSERT INTO t (a, title, tags) VALUES (1, 'payment gateway timeouts in eu-west-1', 'networking')")
QUERY_TEXT = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(['"', "-", "*", "(", ")", "AND", "OR", "NOT", "NEAR", ":", "^", "pay", " ", "é"])).map(
        "".join
    ),
)


@settings(max_examples=400, deadline=None)
@given(QUERY_TEXT)
def test_any_text_is_invalid_field_or_an_expression_fts5_accepts(text):
    try:
        query = parse(text)
    except InvalidField as error:
        assert error.fields["field_name"] == "query"
        return
    for tier in (None, *TIERS):
        FTS5.execute("SELECT rowid FROM t WHERE t MATCH ?", (query.fts5(tier),)).fetchall()
    snippet(query, [text, "payment gateway"])


@pytest.fixture
async def indexed(client: Any, admin: Actor) -> Actor:
    corpus = [("Payment gateway timeouts", 'eu-west-1 pay*ment (NEAR) "quoted"'), ("Café déjà vu", "ü ß 😀")]
    for title, body in corpus:
        response = await client.post("/incidents.create", json={"title": title, "body": body}, headers=admin.headers)
        assert response.status_code == 201, response.text
    return admin


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=QUERY_TEXT)
async def test_any_query_is_answered_without_a_server_error_on_this_database(client: Any, indexed: Actor, text: str):
    response = await client.post("/incidents.search", json={"query": text}, headers=indexed.headers)
    assert response.status_code in (200, 400), (text, response.text)
    if response.status_code == 400:
        assert response.json()["type"] in ("invalid_field", "bad_request")
