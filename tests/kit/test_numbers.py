"""Integers from text: ASCII digits with an optional sign, within 64 bits; nothing else `int()` would take."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentd.errors import InvalidEnumValue
from incidentd.kit.enums import SEVERITY
from incidentd.kit.numbers import INT64_MAX, INT64_MIN, integer_from_text, quoted


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("+7", 7), ("-7", -7), ("007", 7), (str(INT64_MAX), INT64_MAX), (str(INT64_MIN), INT64_MIN)],
)
def test_ascii_digits_are_integers(text: str, value: int) -> None:
    assert integer_from_text(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "²",  # str.isdigit() says yes, int() says no
        "٣",  # Arabic-Indic three: int() says 3
        "\uff13",  # fullwidth three
        "1_000",
        " 1",
        "1 ",
        "1.5",
        "1e3",
        "0x10",
        "",
        "-",
        "+-1",
        str(INT64_MAX + 1),
        str(INT64_MIN - 1),
        "9" * 5_000,  # int() raises ValueError past 4,300 digits
    ],
)
def test_anything_else_is_not(text: str) -> None:
    assert integer_from_text(text) is None


@given(st.integers(min_value=INT64_MIN, max_value=INT64_MAX))
def test_every_64_bit_integer_round_trips(value: int) -> None:
    assert integer_from_text(str(value)) == value


@given(st.text(max_size=30))
def test_never_raises_and_agrees_with_int_on_ascii(text: str) -> None:
    value = integer_from_text(text)
    if value is not None:
        assert text.isascii() and int(text) == value


@pytest.mark.parametrize("text", ["²", "٣", "9" * 5_000, "1.0"])
def test_enum_ids_in_other_digits_are_invalid_enum_values(text: str) -> None:
    with pytest.raises(InvalidEnumValue) as raised:
        SEVERITY.parse(text, field_name="severity")
    assert raised.value.fields["field_name"] == "severity"
    assert len(raised.value.fields["value"]) < 100


def test_enum_ids_as_ascii_text_and_labels_still_parse() -> None:
    assert [SEVERITY.parse(text, field_name="severity") for text in ("2", " 3 ", "sev-0", "SEV 3")] == [2, 3, 1, 4]


def test_quoted_cuts_long_values() -> None:
    assert quoted("abc") == "abc"
    assert quoted("9" * 5_000) == "9" * 64 + "... (5000 characters)"
