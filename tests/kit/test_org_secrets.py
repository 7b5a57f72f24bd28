"""Secrets that say their org (tokens, web sessions, login links): the form, and what says no org."""

from __future__ import annotations

import re

import pytest

from incidentd.kit import org_secrets


def test_a_new_secret_says_its_org_then_43_url_safe_characters():
    secrets = {org_secrets.new("ids_", 42) for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert re.fullmatch(r"ids_42_[A-Za-z0-9_-]{43}", secret)
        assert org_secrets.org_of("ids_", secret) == 42
        assert org_secrets.org_of("idt_", secret) is None  # another kind of secret's prefix


@pytest.mark.parametrize(
    "secret",
    [
        "ids_" + "a" * 43,  # the older form: no org
        "ids_1_" + "a" * 41,  # the older form's 47 characters, shaped like an org: too short to be one
        "ids_0_" + "a" * 43,  # no org is number 0
        "ids_01_" + "a" * 43,  # nor written with a leading zero
        "ids_1_" + "a" * 44,
        "ids_1_" + "a" * 42 + "!",
        "ids_" + "9" * 19 + "_" + "a" * 43,  # past a bigint's digits
        "IDS_1_" + "a" * 43,
        "",
    ],
)
def test_older_and_malformed_secrets_say_no_org(secret: str):
    assert org_secrets.org_of("ids_", secret) is None
