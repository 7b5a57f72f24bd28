"""The JSON depth bound, against a reference count over the decoded text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.errors import ParseError
from incidentd.kit.nesting import MAX_JSON_DEPTH, check_json_depth, json_depth_exceeds


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


def nested_text(depth: int) -> str:
    """`depth` levels, arrays and objects in turn, each with a string full of brackets beside the inner level."""
    text = "1"
    for level in range(depth):
        text = f'["]]{{", {text}]' if level % 2 else f'{{"s": "[[[{{{{", "k": {text}}}'
    return text


@pytest.mark.parametrize("depth", [0, 1, 63, 64, 65, 66, 1000])
def test_the_bound_is_64_levels_whatever_mixes_arrays_objects_and_strings(depth: int) -> None:
    text = nested_text(depth)
    if depth < 100:
        assert depth_of(json.loads(text)) == depth
    assert json_depth_exceeds(text) is (depth > MAX_JSON_DEPTH)
    assert json_depth_exceeds(text.encode()) is (depth > MAX_JSON_DEPTH)


def test_brackets_inside_strings_do_not_count() -> None:
    assert not json_depth_exceeds(json.dumps(["[" * 1000, "{" * 1000, '\\"[[[' * 300]))


def test_many_shallow_structures_are_not_deep() -> None:
    assert not json_depth_exceeds(json.dumps([[{"a": [1, {"b": []}]}] for _ in range(20_000)]))


def test_unbalanced_deep_text_counts_as_deep() -> None:
    assert json_depth_exceeds("[" * 100)
    assert json_depth_exceeds('{"a":' * 100)


def test_too_deep_text_is_a_parse_error_naming_where() -> None:
    with pytest.raises(ParseError, match=r"the request body nests .* deeper than 64 levels"):
        check_json_depth("[" * 65 + "]" * 65, what="the request body")
    check_json_depth("[" * 64 + "]" * 64, what="the request body")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=60,
)


@given(json_values, st.integers(min_value=0, max_value=8))
def test_agrees_with_the_decoded_depth(value: Any, limit: int) -> None:
    assert json_depth_exceeds(json.dumps(value), limit) is (depth_of(value) > limit)
