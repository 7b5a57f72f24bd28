from __future__ import annotations

import base64

import msgspec
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


def _forged(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize(
    "values",
    [
        b"\x91" * 100_000 + b"\x90",  # nested 100,000 arrays deep (a RecursionError in the decoder)
        b"\x91\x91\x91\x91\x90",  # deeper than anything the server writes (three levels)
        b"\x91\x81\xa1a\x01",  # a map
        b"\x91\xc7\x01\x05\x00",  # an extension type
    ],
)
def test_forged_structures_are_invalid_cursors(values: bytes) -> None:
    digest = cursors.fingerprint("a")
    cursor = _forged(b"\x93" + values + b"\xa5after" + msgspec.msgpack.encode(digest))
    with pytest.raises(BadRequestError, match="the cursor is not valid"):
        cursors.decode(cursor, digest)


def test_what_the_group_pages_write_decodes() -> None:
    digest = cursors.fingerprint("a")
    written = (["groups", [0, [1, 2.5]]], ["groups", [1, None]], ["items", "key", None, 3], ["groups", [0, [0, True]]])
    for values in written:
        assert cursors.decode(cursors.encode(values, "after", digest), digest).values == values
