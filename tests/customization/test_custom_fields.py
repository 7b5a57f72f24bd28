"""Typed custom fields on incidents: validation of every field type against the fragments the request names,
defaults, required fields, updates, and filters and group_by on custom fields against an independent model."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from fragments import assert_rejected, create, fragment_body, set_fragment, update

from conftest import Actor, make_org
from contract import assert_conforms
from incidentd.incidents import reading as incident_reading

SPEC = {"tenant_fragment": True}
UENUM = [{"id": 1, "label": "P1", "ordinal": 1}, {"id": 2, "label": "P2", "ordinal": 2}]

# field descriptor, valid values (given -> stored), invalid values (given -> error subtype, field name suffix)
FIELD_TYPES: dict[str, tuple[dict[str, Any], list[tuple[Any, Any]], list[tuple[Any, str, str]]]] = {
    "bool": (
        {"field_type": "bool"},
        [(True, True), (False, False)],
        [("yes", "wrong_type", ""), (1, "wrong_type", "")],
    ),
    "int": (
        {"field_type": "int", "gte": 0, "lt": 100},
        [(0, 0), (99, 99)],
        [
            ("5", "wrong_type", ""),
            (5.5, "wrong_type", ""),
            (True, "wrong_type", ""),
            (-1, "invalid_argument", ""),
            (100, "invalid_argument", ""),
            (2**63, "invalid_argument", ""),
        ],
    ),
    "double": (
        {"field_type": "double", "gt": 0},
        [(1, 1.0), (2.5, 2.5)],
        [("x", "wrong_type", ""), (False, "wrong_type", ""), (0, "invalid_argument", "")],
    ),
    "text": (
        {"field_type": "text", "min_len": 2, "max_len": 8, "pattern": "^[a-z-]+$", "prefix": "eu", "suffix": "t"},
        [("eu-west", "eu-west")],
        [
            (3, "wrong_type", ""),
            ("e", "invalid_argument", ""),
            ("eu-westest", "invalid_argument", ""),
            ("us-east", "invalid_argument", ""),
            ("eu-wes", "invalid_argument", ""),
            ("eu-w3st", "invalid_argument", ""),
        ],
    ),
    "rich_text": (
        {"field_type": "rich_text", "max_len": 12, "contains": "**"},
        [("**bold**", "**bold**")],
        [(["x"], "wrong_type", ""), ("**much too long**", "invalid_argument", ""), ("plain", "invalid_argument", "")],
    ),
    "tokens": (
        {"field_type": "tokens", "eq_len": 7},
        [("svc-api", "svc-api")],
        [("api", "invalid_argument", ""), (None, "", "")],
    ),
    "enum": (
        {"field_type": "enum", "allowed_values": ["low", "high"]},
        [("low", "low")],
        [("mid", "enum_out_of_range", ""), (1, "wrong_type", "")],
    ),
    "uenum": (
        {"field_type": "uenum", "allowed_values": UENUM},
        [(2, 2)],
        [(3, "enum_out_of_range", ""), ("P1", "wrong_type", "")],
    ),
    "date": (
        {"field_type": "date"},
        [("2026-11-27", "2026-11-27")],
        [
            ("2026-13-01", "date_parse_error", ""),
            ("27/11/2026", "date_parse_error", ""),
            ("20261127", "date_parse_error", ""),
            (20261127, "wrong_type", ""),
        ],
    ),
    "timestamp": (
        {"field_type": "timestamp"},
        [
            ("2026-11-27T12:00:00+02:00", "2026-11-27T10:00:00.000Z"),
            ("2026-11-27T10:00:00.5Z", "2026-11-27T10:00:00.500Z"),
        ],
        [("noon", "timestamp_parse_error", ""), (5, "wrong_type", "")],
    ),
    "id": (
        {"field_type": "id", "id_type": ["devu", "incident"]},
        [("DEVU-1", "{org}:devu/1"), ("{org}:incident/9", "{org}:incident/9")],
        [
            ("TAG-1", "id_type_not_allowed", ""),
            ("nonsense", "id_parse_error", ""),
            ("don:identity:dvrv-us-1:devo/elsewhere:devu/1", "invalid_argument", ""),
            (7, "wrong_type", ""),
        ],
    ),
    "text_array": (
        {"field_type": "array", "base_type": "text", "max_items": 2, "max_len": 3},
        [(["a", "b"], ["a", "b"]), ([], [])],
        [
            ("a", "wrong_type", ""),
            (["a", 1], "wrong_type", "[1]"),
            (["a", "b", "c"], "invalid_argument", ""),
            (["long"], "invalid_argument", "[0]"),
            ([None], "wrong_type", "[0]"),
        ],
    ),
    "int_array": (
        {"field_type": "array", "base_type": "int", "min_items": 1, "gt": 0},
        [([3, 1, 3], [3, 1, 3])],
        [([], "invalid_argument", ""), ([1, 0], "invalid_argument", "[1]"), ([1.5], "wrong_type", "[0]")],
    ),
    "enum_array": (
        {"field_type": "array", "base_type": "enum", "allowed_values": ["a", "b"], "eq_items": 2},
        [(["a", "b"], ["a", "b"])],
        [(["a", "c"], "enum_out_of_range", "[1]"), (["a"], "invalid_argument", "")],
    ),
    "date_array": (
        {"field_type": "array", "base_type": "date"},
        [(["2026-01-02"], ["2026-01-02"])],
        [(["2026-02-30"], "date_parse_error", "[0]")],
    ),
    "timestamp_array": (
        {"field_type": "array", "base_type": "timestamp"},
        [(["2026-01-02T00:00:00-01:00"], ["2026-01-02T01:00:00.000Z"])],
        [(["soon"], "timestamp_parse_error", "[0]")],
    ),
    "uenum_array": (
        {"field_type": "array", "base_type": "uenum", "allowed_values": UENUM},
        [([1, 2], [1, 2])],
        [([0], "enum_out_of_range", "[0]")],
    ),
    "bool_array": ({"field_type": "array", "base_type": "bool"}, [([True], [True])], [([1], "wrong_type", "[0]")]),
    "double_array": (
        {"field_type": "array", "base_type": "double"},
        [([1, 0.5], [1.0, 0.5])],
        [(["1"], "wrong_type", "[0]")],
    ),
    "id_array": (
        {"field_type": "array", "base_type": "id", "id_type": ["tag"]},
        [(["TAG-4"], ["{org}:tag/4"])],
        [(["DEVU-1"], "id_type_not_allowed", "[0]")],
    ),
    "rich_text_array": (
        {"field_type": "array", "base_type": "rich_text"},
        [(["*a*"], ["*a*"])],
        [([{}], "wrong_type", "[0]")],
    ),
    "tokens_array": (
        {"field_type": "array", "base_type": "tokens"},
        [(["x y"], ["x y"])],
        [(["x", 2], "wrong_type", "[1]")],
    ),
}


def _org_ids(value: Any, actor: Actor) -> Any:
    org = f"don:identity:dvrv-us-1:devo/{actor.org.slug}"
    core = f"don:core:dvrv-us-1:devo/{actor.org.slug}"

    def fill(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        if text.startswith("{org}:devu"):
            return text.replace("{org}", org)
        return text.replace("{org}", core)

    return [fill(item) for item in value] if isinstance(value, list) else fill(value)


@pytest.mark.parametrize("type_name", list(FIELD_TYPES))
async def test_each_field_type_takes_valid_values_and_rejects_each_kind_of_invalid_one(client, admin: Actor, type_name):
    descriptor, valid, invalid = FIELD_TYPES[type_name]
    await set_fragment(client, admin, fragment_body("tenant_fragment", [{"name": "probe", **descriptor}]))
    for given, stored in valid:
        response = await create(
            client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__probe": _org_ids(given, admin)}
        )
        assert response.status_code == 201, (given, response.text)
        assert response.json()["incident"]["custom_fields"] == {"tnt__probe": _org_ids(stored, admin)}
    for given, subtype, suffix in invalid:
        response = await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__probe": given})
        if given is None:  # null means "no value"
            assert response.status_code == 201 and "custom_fields" not in response.json()["incident"]
            continue
        assert_rejected(response, subtype, f"custom_fields.tnt__probe{suffix}")


async def test_required_fields_and_defaults(client, admin: Actor):
    await set_fragment(
        client,
        admin,
        fragment_body(
            "tenant_fragment",
            [
                {"name": "team", "field_type": "text", "is_required": True},
                {"name": "priority", "field_type": "enum", "allowed_values": ["low", "high"], "default_value": "low"},
                {"name": "count", "field_type": "int", "default_value": 0},
                {"name": "seen", "field_type": "timestamp", "default_value": "2026-01-01T01:00:00+01:00"},
                {"name": "flags", "field_type": "array", "base_type": "bool", "default_value": [False]},
            ],
        ),
    )
    strict = {"tenant_fragment": True, "validate_required_fields": True}
    assert_rejected(await create(client, admin, custom_schema_spec=strict), "field_required", "custom_fields.tnt__team")
    defaults = {"tnt__priority": "low", "tnt__count": 0, "tnt__seen": "2026-01-01T00:00:00.000Z", "tnt__flags": [False]}
    made = await create(client, admin, custom_schema_spec=strict, custom_fields={"tnt__team": "sre", "tnt__count": 4})
    assert made.json()["incident"]["custom_fields"] == {**defaults, "tnt__team": "sre", "tnt__count": 4}
    # Without validate_required_fields a required field may be missing; defaults still fill, null keeps a field unset.
    loose = await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__priority": None})
    incident = loose.json()["incident"]
    assert incident["custom_fields"] == {key: value for key, value in defaults.items() if key != "tnt__priority"}
    # An update that validates required fields needs them too; clearing a required field is then refused.
    refused = await update(client, admin, incident["id"], custom_schema_spec=strict)
    assert_rejected(refused, "field_required", "custom_fields.tnt__team")
    cleared = await update(
        client, admin, made.json()["incident"]["id"], custom_schema_spec=strict, custom_fields={"tnt__team": None}
    )
    assert_rejected(cleared, "field_required", "custom_fields.tnt__team")
    # A default must be a valid value of its field.
    bad = await client.post(
        "/schemas.custom.set",
        json=fragment_body("tenant_fragment", [{"name": "n", "field_type": "int", "lt": 5, "default_value": 9}]),
        headers=admin.headers,
    )
    assert (bad.json()["subtype"], bad.json()["field_name"]) == ("invalid_argument", "fields[0].default_value")


async def test_each_custom_field_needs_its_fragment_in_the_spec(client, admin: Actor):
    await set_fragment(client, admin, fragment_body("tenant_fragment", [{"name": "region", "field_type": "text"}]))
    await set_fragment(
        client,
        admin,
        fragment_body("custom_type_fragment", [{"name": "radius", "field_type": "int"}], subtype="outage"),
    )
    cases = [
        ({"custom_fields": {"tnt__region": "eu"}}, "field_not_in_schema", "custom_fields.tnt__region"),
        (
            {"custom_schema_spec": SPEC, "custom_fields": {"ctype__radius": 1}},
            "field_not_in_schema",
            "custom_fields.ctype__radius",
        ),
        (
            {"custom_schema_spec": SPEC, "custom_fields": {"tnt__colour": "red"}},
            "field_not_in_schema",
            "custom_fields.tnt__colour",
        ),
        (
            {"custom_schema_spec": SPEC, "custom_fields": {"region": "eu"}},
            "field_not_in_schema",
            "custom_fields.region",
        ),
        (
            {"custom_schema_spec": {"subtype": "outage"}, "custom_fields": {"ctype__size": 1}},
            "field_not_in_schema",
            "custom_fields.ctype__size",
        ),
        ({"custom_schema_spec": {"subtype": "nope"}}, "fragment_not_found", "custom_schema_spec.subtype"),
        ({"custom_schema_spec": {"apps": ["pager"]}}, "fragment_not_found", "custom_schema_spec.apps[0]"),
        (
            {"custom_schema_spec": SPEC, "custom_fields": {"pager__x": 1}},
            "field_not_in_schema",
            "custom_fields.pager__x",
        ),
    ]
    for body, subtype, field_name in cases:
        assert_rejected(await create(client, admin, **body), subtype, field_name)
    assert (await client.post("/incidents.list", json={}, headers=admin.headers)).json()["incidents"] == []


async def test_updates_merge_fields_and_add_and_drop_fragments(client, admin: Actor):
    tenant = await set_fragment(
        client,
        admin,
        fragment_body(
            "tenant_fragment",
            [{"name": "region", "field_type": "text"}, {"name": "origin", "field_type": "text", "is_immutable": True}],
        ),
    )
    outage = await set_fragment(
        client,
        admin,
        fragment_body("custom_type_fragment", [{"name": "radius", "field_type": "int"}], subtype="outage"),
    )
    pager = await set_fragment(
        client, admin, fragment_body("app_fragment", [{"name": "escalation", "field_type": "text"}], app="pager")
    )
    incident = (await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__region": "eu"})).json()[
        "incident"
    ]
    assert incident["custom_schema_fragments"] == [tenant]

    step = await update(
        client, admin, incident["id"], custom_schema_spec={"subtype": "outage"}, custom_fields={"ctype__radius": 2}
    )
    assert step.status_code == 200, step.text
    changed = step.json()["incident"]
    assert changed["subtype"] == "outage" and changed["custom_schema_fragments"] == [tenant, outage]
    assert changed["custom_fields"] == {"tnt__region": "eu", "ctype__radius": 2}

    changed = (
        await update(
            client,
            admin,
            incident["id"],
            custom_schema_spec={"apps": ["pager"]},
            custom_fields={"pager__escalation": "sre"},
        )
    ).json()["incident"]
    assert changed["custom_schema_fragments"] == [tenant, outage, pager]
    # Fields of a fragment the spec does not name cannot be written, even when the incident carries it.
    assert_rejected(
        await update(client, admin, incident["id"], custom_fields={"tnt__region": "us"}),
        "field_not_in_schema",
        "custom_fields.tnt__region",
    )

    changed = (await update(client, admin, incident["id"], custom_schema_spec={"drop": {"subtype": True}})).json()[
        "incident"
    ]
    assert "subtype" not in changed and changed["custom_schema_fragments"] == [tenant, pager]
    assert changed["custom_fields"] == {"tnt__region": "eu", "pager__escalation": "sre"}
    changed = (
        await update(
            client,
            admin,
            incident["id"],
            custom_schema_spec=SPEC,
            custom_fields={"tnt__region": None, "tnt__origin": "pagerduty"},
        )
    ).json()["incident"]
    assert changed["custom_fields"] == {"pager__escalation": "sre", "tnt__origin": "pagerduty"}
    immutable = await update(
        client, admin, incident["id"], custom_schema_spec=SPEC, custom_fields={"tnt__origin": "jira"}
    )
    assert_rejected(immutable, "field_immutable", "custom_fields.tnt__origin")
    same = await update(
        client, admin, incident["id"], custom_schema_spec=SPEC, custom_fields={"tnt__origin": "pagerduty"}
    )
    assert same.status_code == 200
    changed = (await update(client, admin, incident["id"], custom_schema_spec={"drop": {"apps": ["pager"]}})).json()[
        "incident"
    ]
    assert changed["custom_schema_fragments"] == [tenant] and changed["custom_fields"] == {"tnt__origin": "pagerduty"}
    both = await update(
        client, admin, incident["id"], custom_schema_spec={"subtype": "outage", "drop": {"subtype": True}}
    )
    assert both.status_code == 400 and both.json()["field_name"] == "custom_schema_spec.drop.subtype"
    assert_rejected(
        await update(client, admin, incident["id"], custom_fields=None), "field_immutable", "custom_fields.tnt__origin"
    )
    # custom_fields: null clears every value (here with no immutable value left to protect).
    other = (await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__region": "eu"})).json()[
        "incident"
    ]
    cleared = (await update(client, admin, other["id"], custom_fields=None)).json()["incident"]
    assert "custom_fields" not in cleared and cleared["custom_schema_fragments"] == [tenant]


# filters and group_by -----------------------------------------------------------------------------------

LONG_NOTE = "a long note " * 40  # over 255 characters: indexed by its digest
TENANT_FIELDS = [
    {"name": "region", "field_type": "enum", "allowed_values": ["eu", "us", "apac"]},
    {"name": "tier", "field_type": "int"},
    {"name": "score", "field_type": "double"},
    {"name": "oncall", "field_type": "bool"},
    {"name": "labels", "field_type": "array", "base_type": "tokens"},
    {"name": "due", "field_type": "date"},
    {"name": "note", "field_type": "text"},
]


async def seed(client, admin: Actor, count: int, rng: random.Random) -> list[dict[str, Any]]:
    await set_fragment(client, admin, fragment_body("tenant_fragment", TENANT_FIELDS))
    # ctype__level is an int for one subtype and an enum for the other: filters read a value both ways.
    await set_fragment(
        client, admin, fragment_body("custom_type_fragment", [{"name": "level", "field_type": "int"}], subtype="outage")
    )
    await set_fragment(
        client,
        admin,
        fragment_body(
            "custom_type_fragment",
            [{"name": "level", "field_type": "enum", "allowed_values": ["1", "high"]}],
            subtype="breach",
        ),
    )
    made = []
    for _ in range(count):
        values: dict[str, Any] = {}
        if rng.random() < 0.8:
            values["tnt__region"] = rng.choice(["eu", "us", "apac"])
        if rng.random() < 0.7:
            values["tnt__tier"] = rng.randint(1, 3)
        if rng.random() < 0.5:
            values["tnt__score"] = rng.choice([0.5, 1.0, 2.25])
        if rng.random() < 0.6:
            values["tnt__oncall"] = rng.random() < 0.5
        if rng.random() < 0.6:
            values["tnt__labels"] = rng.sample(["db", "api", "edge", "dns"], rng.randint(0, 2))
        if rng.random() < 0.4:
            values["tnt__due"] = f"2026-12-0{rng.randint(1, 3)}"
        if rng.random() < 0.3:
            values["tnt__note"] = rng.choice([LONG_NOTE, LONG_NOTE + "!", "short"])
        spec: dict[str, Any] = {"tenant_fragment": True}
        subtype = rng.choice([None, "outage", "breach"])
        if subtype == "outage":
            spec["subtype"], values["ctype__level"] = "outage", rng.randint(1, 2)
        elif subtype == "breach":
            spec["subtype"], values["ctype__level"] = "breach", rng.choice(["1", "high"])
        response = await create(
            client, admin, custom_schema_spec=spec, custom_fields=values, severity=rng.randint(1, 4)
        )
        assert response.status_code == 201, response.text
        made.append(response.json()["incident"])
    return made


def matches(incident: dict[str, Any], filters: dict[str, Any]) -> bool:
    """The independent model: every filter holds; a list is any-of; an array field matches by element;
    None matches an incident without the field."""
    fields = incident.get("custom_fields", {})
    for name, wanted in filters.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if name not in fields or fields[name] == []:  # an empty array is no value
            if None not in options:
                return False
            continue
        actual = fields[name] if isinstance(fields[name], list) else [fields[name]]
        if not any(_same(value, option) for value in actual for option in options if option is not None):
            return False
    return True


def _same(value: Any, option: Any) -> bool:
    if isinstance(value, bool) or isinstance(option, bool):
        return value is option or (isinstance(value, bool) and str(option).lower() == str(value).lower())
    if isinstance(value, int | float) and isinstance(option, str):
        return option.lstrip("-").replace(".", "", 1).isdigit() and float(option) == value
    if isinstance(value, int | float) and isinstance(option, int | float):
        return float(value) == float(option)
    return value == option


def newest_first(incidents: list[dict[str, Any]]) -> list[str]:
    return [i["id"] for i in sorted(incidents, key=lambda i: int(i["display_id"].split("-")[1]), reverse=True)]


@pytest.fixture(params=["few", "many"])
async def dataset(request, monkeypatch, client, admin: Actor):
    """The seeded incidents, queried both ways a custom field filter can run: starting from its matches (what
    small data sets get), or walking the sort order and looking each incident up (what large ones get)."""
    if request.param == "many":

        async def no_filter_is_selective(conn: Any, org: Any) -> int:
            return -1

        monkeypatch.setattr(incident_reading, "few_matches", no_filter_is_selective)
    return await seed(client, admin, 45, random.Random(5))


FILTERS = [
    {"tnt__region": "eu"},
    {"tnt__region": ["eu", "apac"]},
    {"tnt__tier": 2},
    {"tnt__tier": [1, 3]},
    {"tnt__tier": "2"},  # a string reads as the field's int (GET forms send strings)
    {"tnt__score": 1},
    {"tnt__score": [0.5, 2.25]},
    {"tnt__oncall": True},
    {"tnt__oncall": "false"},
    {"tnt__labels": "db"},
    {"tnt__labels": ["edge", "dns"]},
    {"tnt__due": "2026-12-02"},
    {"tnt__note": LONG_NOTE},
    {"tnt__note": [LONG_NOTE + "!", "short"]},
    {"tnt__region": None},
    {"tnt__labels": [None, "api"]},
    {"ctype__level": 1},  # an int: the outage incidents' level
    {"ctype__level": "1"},  # read both ways: the outage incidents' 1 and the breach incidents' "1"
    {"ctype__level": "high"},
    {"custom_fields.tnt__region": "us", "tnt__tier": [2, 3]},
]


async def test_custom_field_filters_match_an_independent_computation(client, admin: Actor, dataset):
    nonempty = 0
    for filters in FILTERS:
        expected = newest_first(
            [i for i in dataset if matches(i, {k.removeprefix("custom_fields."): v for k, v in filters.items()})]
        )
        response = await client.post(
            "/incidents.list", json={"custom_fields": filters, "limit": 100}, headers=admin.headers
        )
        assert response.status_code == 200, (filters, response.text)
        assert_conforms("/incidents.list", "post", 200, response.json())
        assert [i["id"] for i in response.json()["incidents"]] == expected, filters
        nonempty += 0 < len(expected) < len(dataset)
    assert nonempty >= len(FILTERS) - 2
    # The GET form takes the filter object as JSON; custom field filters combine with the others.
    expected = newest_first([i for i in dataset if matches(i, {"tnt__region": "eu"}) and i["severity"]["id"] in (1, 2)])
    response = await client.get(
        "/incidents.list",
        params={"custom_fields": '{"tnt__region": "eu"}', "severity": "1,2", "limit": "100"},
        headers=admin.headers,
    )
    assert_conforms("/incidents.list", "get", 200, response.json())
    assert [i["id"] for i in response.json()["incidents"]] == expected


def expected_groups(incidents: list[dict[str, Any]], name: str) -> dict[Any, list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for incident in incidents:
        value = incident.get("custom_fields", {}).get(name)
        values = (value if isinstance(value, list) else [value]) if value is not None else [None]
        for key in dict.fromkeys(values or [None]):
            groups[key].append(incident)
    return groups


def conforms_except_empty_keys(body: dict[str, Any]) -> None:
    """The no-value group's key has no `value` (contract notes), which DevRev's field-value requires: that group
    is checked apart, the rest of the response against the spec."""
    valued = {**body, "groups": [group for group in body["groups"] if "value" in group["key"]]}
    assert_conforms("/incidents.group", "post", 200, valued)
    for group in body["groups"]:
        if "value" not in group["key"]:
            assert set(group["key"]) == {"type"}


GROUP_TYPES = {
    "tnt__region": "string",
    "tnt__tier": "int",
    "tnt__score": "double",
    "tnt__oncall": "bool",
    "tnt__labels": "string",
    "tnt__due": "date",
    "tnt__note": "string",
}


@pytest.mark.parametrize("name", list(GROUP_TYPES))
async def test_group_by_a_custom_field_matches_an_independent_grouping(client, admin: Actor, dataset, name):
    truth = expected_groups(dataset, name)
    response = await client.post(
        "/incidents.group",
        json={"group_by": f"custom_fields.{name}", "limit": 100, "limit_per_group": 100},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    conforms_except_empty_keys(response.json())
    groups = response.json()["groups"]
    keys = [group["key"].get("value") for group in groups]
    present = [key for key in truth if key is not None]
    order = sorted(
        present, key=lambda v: (0, int(v)) if isinstance(v, bool) else (1, v) if isinstance(v, int | float) else (2, v)
    )
    assert keys == order + ([None] if None in truth else [])
    for group in groups:
        assert group["key"]["type"] == GROUP_TYPES[name]
        members = truth[group["key"].get("value")]
        assert group["total"] == len(members)
        assert [i["id"] for i in group["incidents"]] == newest_first(members)


async def test_group_by_a_custom_field_pages_and_filters(client, admin: Actor, dataset):
    body = {
        "group_by": "custom_fields.tnt__labels",
        "limit": 2,
        "limit_per_group": 3,
        "custom_fields": {"tnt__region": "eu"},
    }
    truth = expected_groups([i for i in dataset if matches(i, {"tnt__region": "eu"})], "tnt__labels")
    seen: list[Any] = []
    cursor = None
    while True:
        page = (
            await client.post(
                "/incidents.group", json={**body, **({"cursor": cursor} if cursor else {})}, headers=admin.headers
            )
        ).json()
        for group in page["groups"]:
            seen.append(group["key"].get("value"))
            members = newest_first(truth[group["key"].get("value")])
            assert [i["id"] for i in group["incidents"]] == members[:3] and group["total"] == len(members)
            collected, inner = [i["id"] for i in group["incidents"]], group.get("next_cursor")
            while inner:
                more = (
                    await client.post("/incidents.group", json={**body, "cursor": inner}, headers=admin.headers)
                ).json()
                collected += [i["id"] for i in more["groups"][0]["incidents"]]
                inner = more["groups"][0].get("next_cursor")
            assert collected == members
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == sorted(k for k in truth if k is not None) + ([None] if None in truth else [])


async def test_bad_custom_field_filters_and_groups(client, admin: Actor, dataset):
    for filters, error, field_name in (
        ({"tnt__colour": "red"}, "invalid_field", "custom_fields.tnt__colour"),
        ({"colour": "red"}, "invalid_field", "custom_fields.colour"),
        ({"tnt__tier": "two"}, "customization_validation_error", "custom_fields.tnt__tier"),
        ({"tnt__region": {"eq": "eu"}}, "invalid_field", "custom_fields.tnt__region"),
    ):
        response = await client.post("/incidents.list", json={"custom_fields": filters}, headers=admin.headers)
        assert response.status_code == 400, filters
        assert (response.json()["type"], response.json()["field_name"]) == (error, field_name), response.json()
        assert_conforms("/incidents.list", "post", 400, response.json())
    response = await client.post(
        "/incidents.group", json={"group_by": "custom_fields.tnt__colour"}, headers=admin.headers
    )
    assert response.status_code == 400 and response.json()["field_name"] == "group_by"
    assert_conforms("/incidents.group", "post", 400, response.json())


async def test_custom_field_values_of_another_org_never_match(app, client, admin: Actor):
    other = await make_org(app, "other")
    for actor in (admin, other):
        await set_fragment(client, actor, fragment_body("tenant_fragment", [{"name": "region", "field_type": "text"}]))
    theirs = await create(client, other, custom_schema_spec=SPEC, custom_fields={"tnt__region": "eu"})
    mine = (await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__region": "eu"})).json()[
        "incident"
    ]
    assert theirs.status_code == 201
    listed = await client.post("/incidents.list", json={"custom_fields": {"tnt__region": "eu"}}, headers=admin.headers)
    assert [i["id"] for i in listed.json()["incidents"]] == [mine["id"]]
    grouped = await client.post(
        "/incidents.group", json={"group_by": "custom_fields.tnt__region"}, headers=admin.headers
    )
    assert [(g["key"], g["total"]) for g in grouped.json()["groups"]] == [({"type": "string", "value": "eu"}, 1)]


async def test_a_deleted_incident_leaves_no_custom_values(app, client, admin: Actor):
    import sqlalchemy as sa

    from incidentd.incidents.tables import incident_custom_values

    await set_fragment(
        client,
        admin,
        fragment_body("tenant_fragment", [{"name": "labels", "field_type": "array", "base_type": "text"}]),
    )
    made = (await create(client, admin, custom_schema_spec=SPEC, custom_fields={"tnt__labels": ["a", "b"]})).json()[
        "incident"
    ]
    async with app.state.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(incident_custom_values))).scalar_one() == 2
    await update(client, admin, made["id"], custom_schema_spec=SPEC, custom_fields={"tnt__labels": ["c"]})
    async with app.state.db.read() as conn:
        rows = (await conn.execute(sa.select(incident_custom_values.c.value_key))).scalars().all()
    assert rows == ['"c"']
    await client.post("/incidents.delete", json={"id": made["id"]}, headers=admin.headers)
    async with app.state.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(incident_custom_values))).scalar_one() == 0


async def test_switching_subtype_and_moving_to_a_new_version_recheck_the_values(client, admin: Actor):
    await set_fragment(
        client,
        admin,
        fragment_body(
            "custom_type_fragment",
            [{"name": "level", "field_type": "int"}, {"name": "host", "field_type": "text"}],
            subtype="outage",
        ),
    )
    breach = await set_fragment(
        client,
        admin,
        fragment_body(
            "custom_type_fragment", [{"name": "host", "field_type": "text", "prefix": "db"}], subtype="breach"
        ),
    )
    made = await create(
        client,
        admin,
        custom_schema_spec={"subtype": "outage"},
        custom_fields={"ctype__level": 2, "ctype__host": "web-1"},
    )
    incident = made.json()["incident"]
    # breach declares host with a prefix web-1 does not have: the switch is refused until the value fits.
    assert_rejected(
        await update(client, admin, incident["id"], custom_schema_spec={"subtype": "breach"}),
        "invalid_argument",
        "custom_fields.ctype__host",
    )
    switched = await update(
        client, admin, incident["id"], custom_schema_spec={"subtype": "breach"}, custom_fields={"ctype__host": "db-1"}
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["incident"]["subtype"] == "breach"
    assert switched.json()["incident"]["custom_schema_fragments"] == [breach]
    assert switched.json()["incident"]["custom_fields"] == {"ctype__host": "db-1"}  # level is not a breach field


async def test_the_migration_indexes_custom_fields_written_before_fragments(app, client, admin: Actor):
    import sqlalchemy as sa
    from alembic import command
    from alembic.script import ScriptDirectory

    from incidentd.db import alembic_config
    from incidentd.incidents.tables import incidents

    mine = ScriptDirectory.from_config(alembic_config()).get_revision("0005_custom_schemas")

    async def migrate(action: str, revision: str) -> None:
        def run(connection: Any) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)

        async with app.state.db.engine.begin() as conn:
            await conn.run_sync(run)

    legacy = (await create(client, admin)).json()["incident"]
    await migrate("downgrade", str(mine.down_revision))
    number = int(legacy["display_id"].split("-")[1])
    async with app.state.db.write() as conn:
        await conn.execute(
            sa.update(incidents)
            .where(incidents.c.number == number)
            .values(custom_fields={"tnt__region": "eu", "tnt__labels": ["a", "a", "b"]})
        )
    await migrate("upgrade", "head")
    await set_fragment(
        client,
        admin,
        fragment_body(
            "tenant_fragment",
            [{"name": "region", "field_type": "text"}, {"name": "labels", "field_type": "array", "base_type": "text"}],
        ),
    )
    for filters in ({"tnt__region": "eu"}, {"tnt__labels": "b"}):
        listed = await client.post("/incidents.list", json={"custom_fields": filters}, headers=admin.headers)
        assert [i["id"] for i in listed.json()["incidents"]] == [legacy["id"]], filters
    grouped = await client.post(
        "/incidents.group", json={"group_by": "custom_fields.tnt__labels"}, headers=admin.headers
    )
    assert [(g["key"]["value"], g["total"]) for g in grouped.json()["groups"]] == [("a", 1), ("b", 1)]
