"""Custom field `pattern`s run on RE2: a pattern that would backtrack cannot stall the server, syntax that needs
backtracking is rejected when the schema is set, and a match's cost is bounded."""

from __future__ import annotations

import pytest
from fragments import assert_rejected, create, fragment_body, set_fragment

from conftest import Actor
from incidentd.customization import patterns

SPEC = {"tenant_fragment": True}


async def _with_pattern(client, admin: Actor, pattern: str) -> None:
    await set_fragment(
        client, admin, fragment_body("tenant_fragment", [{"name": "code", "field_type": "text", "pattern": pattern}])
    )


async def test_a_catastrophic_backtracking_pattern_is_matched_by_re2(client, admin: Actor):
    # Python's re took 6 s to reject this value (2^27 ways to split the a's); RE2 answers in microseconds.
    await _with_pattern(client, admin, "^(a+)+$")
    rejected = await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__code": "a" * 27 + "!"})
    assert_rejected(rejected, "invalid_argument", "custom_fields.tnt__code")
    assert "must match the pattern" in rejected.json()["message"]
    accepted = await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__code": "a" * 27})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["incident"]["custom_fields"] == {"tnt__code": "a" * 27}


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(a)\1$",  # backreference
        r"^(?=a)a",  # lookahead
        r"(?<!x)y",  # lookbehind
        r"(?P<n>a)(?P=n)",  # named backreference
        r"a++",  # possessive quantifier
        r"\Aabc\Z",  # Python's \Z (RE2 spells it \z)
        "([",  # not a regular expression at all
    ],
)
async def test_patterns_re2_cannot_run_are_rejected_when_the_schema_is_set(client, admin: Actor, pattern: str):
    body = fragment_body("tenant_fragment", [{"name": "code", "field_type": "text", "pattern": pattern}])
    response = await client.post("/schemas.custom.set", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["type"], error["field_name"]) == ("invalid_field", "fields[0].pattern")
    assert "RE2" in error["message"]


async def test_patterns_that_compile_too_large_or_are_too_long_are_rejected(client, admin: Actor):
    for pattern, words in (("[^x]{900}y", "instructions"), ("a" * (patterns.MAX_LENGTH + 1), "at most")):
        body = fragment_body("tenant_fragment", [{"name": "code", "field_type": "text", "pattern": pattern}])
        response = await client.post("/schemas.custom.set", json=body, headers=admin.headers)
        assert response.status_code == 400, response.text
        assert response.json()["field_name"] == "fields[0].pattern"
        assert words in response.json()["message"]


async def test_the_value_a_pattern_matches_is_bounded_by_the_patterns_size(client, admin: Actor):
    await _with_pattern(client, admin, "^[a-z]+$")
    longest = patterns.compile_pattern("^[a-z]+$").max_value_bytes
    fits = await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__code": "a" * longest})
    assert fits.status_code == 201, fits.text
    too_long = await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__code": "a" * (longest + 1)})
    assert_rejected(too_long, "invalid_argument", "custom_fields.tnt__code")
    assert f"at most {longest} bytes" in too_long.json()["message"]


def test_re2_syntax_and_semantics():
    # What a user pattern means: RE2's reading, a search anywhere in the value.
    assert patterns.compile_pattern(r"\d{3}").search("ab123")
    assert not patterns.compile_pattern(r"^\d{3}$").search("123\n")  # RE2's $ is the end of text only
    assert patterns.compile_pattern(r"(?i)^EU-\pL+$").search("eu-Zürich")
    assert patterns.compile_pattern(r"^a\z").search("a")
    small, large = patterns.compile_pattern("^a$"), patterns.compile_pattern("(?:[a-m].{0,10}){5}")
    assert small.max_value_bytes > large.max_value_bytes >= patterns.MATCH_BUDGET // patterns.MAX_PROGRAM
    with pytest.raises(patterns.PatternError):
        large.search("é" * large.max_value_bytes)  # the bound counts bytes, not characters
