from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.errors import ApiError, InvalidField
from incidentd.identity.schemas import DevUsersListRequest
from incidentd.kit.query import parse_query, split_values


def test_split_values_strips_one_pair_of_quotes_and_keeps_quoted_commas():
    assert split_values('"1","2"') == ["1", "2"]
    assert split_values("a,b") == ["a", "b"]
    assert split_values('"a,b",c') == ["a,b", "c"]
    assert split_values('""x""') == ['"x"']


def test_explode_false_arrays_and_quoted_integers():
    parsed = parse_query('email="a@x.io","b@x.io"&limit="5"&state=active,shadow', DevUsersListRequest)
    assert parsed.email == ["a@x.io", "b@x.io"]
    assert parsed.limit == 5
    assert parsed.state == ["active", "shadow"]


def test_repeated_array_parameters_accumulate():
    assert parse_query("email=a&email=b", DevUsersListRequest).email == ["a", "b"]


def test_unknown_parameter_is_invalid_field():
    with pytest.raises(InvalidField) as error:
        parse_query("colour=red", DevUsersListRequest)
    assert error.value.fields["field_name"] == "colour"


@given(st.text(max_size=200))
def test_arbitrary_query_strings_give_devrev_errors_or_a_request(text):
    try:
        parse_query(text, DevUsersListRequest)
    except ApiError as error:
        assert 400 <= error.status < 500
