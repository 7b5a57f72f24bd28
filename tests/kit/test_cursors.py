from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.errors import BadRequestError
from incidentd.kit import cursors


@given(
    st.lists(
        st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=20), st.none()), max_size=4
    ),
    st.sampled_from(["after", "before"]),
)
def test_cursor_round_trips(values, direction):
    digest = cursors.fingerprint("x", values)
    position = cursors.decode(cursors.encode(values, direction, digest), digest)
    assert (position.values, position.direction) == (values, direction)


def test_cursor_of_other_filters_is_rejected():
    cursor = cursors.encode([1], "after", cursors.fingerprint("a"))
    with pytest.raises(BadRequestError):
        cursors.decode(cursor, cursors.fingerprint("b"))


@given(st.text(max_size=100))
def test_arbitrary_text_is_a_bad_request_never_a_crash(text):
    try:
        cursors.decode(text, cursors.fingerprint("a"))
    except BadRequestError:
        pass
