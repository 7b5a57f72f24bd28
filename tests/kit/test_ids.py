from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.errors import InvalidId, UnexpectedIdType
from incidentd.kit import ids

kinds = st.sampled_from(sorted(ids.KINDS))
numbers = st.integers(min_value=1, max_value=ids.MAX_NUMBER)
slugs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
partitions = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)


@given(kinds, numbers, slugs, partitions)
def test_don_round_trips(kind, number, slug, partition):
    don = ids.to_don(kind, number, org_slug=slug, partition=partition)
    parsed = ids.parse(don, kind, field_name="id")
    assert (parsed.kind.name, parsed.number, parsed.org_slug, parsed.partition) == (kind, number, slug, partition)
    assert parsed.belongs_to(slug, partition)
    assert not parsed.belongs_to(slug + "x", partition)


displayable = st.sampled_from(sorted(name for name, kind in ids.KINDS.items() if kind.display_prefix))


@given(displayable, numbers)
def test_display_id_round_trips(kind, number):
    display = ids.to_display(kind, number)
    parsed = ids.parse(display, kind, field_name="id")
    # Principals share a display prefix per kind, so the kind comes back exactly.
    assert (parsed.kind.name, parsed.number, parsed.org_slug) == (kind, number, None)
    assert ids.parse(display.lower(), kind, field_name="id").number == number


@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_parser(text):
    parsed = ids.try_parse(text)
    assert parsed is None or parsed.number >= 1


def test_examples_of_the_contract():
    assert ids.to_don("incident", 7, org_slug="acme", partition="dvrv-us-1") == (
        "don:core:dvrv-us-1:devo/acme:incident/7"
    )
    assert ids.to_display("incident", 7) == "INC-7"
    assert ids.to_don("dev_user", 3, org_slug="acme", partition="dvrv-us-1") == (
        "don:identity:dvrv-us-1:devo/acme:devu/3"
    )
    assert ids.to_display("capability", 2) == "CAPL-2"
    assert ids.org_don("dvrv-us-1", "acme") == "don:identity:dvrv-us-1:devo/acme"


def test_wrong_kind_is_unexpected_id_type_and_garbage_is_invalid_id():
    with pytest.raises(UnexpectedIdType) as wrong:
        ids.parse("TAG-4", ("dev_user",), field_name="owned_by[1]")
    assert wrong.value.fields["field_name"] == "owned_by[1]"
    for value in ("INC-0", "INC-", "don:core:p:devo/x:incident/abc", "don:identity:p:devo/x:incident/1", "ZZZ-1"):
        with pytest.raises(InvalidId):
            ids.parse(value, ("incident",), field_name="id")
    with pytest.raises(InvalidId):
        ids.parse(f"INC-{ids.MAX_NUMBER + 1}", ("incident",), field_name="id")
