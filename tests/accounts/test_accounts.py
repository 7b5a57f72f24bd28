from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from conftest import Actor, make_org
from contract import assert_conforms, bad
from incidentd.accounts import service as accounts

Body = dict[str, Any]


async def create(client, actor: Actor, **body: Any) -> Body:
    response = await client.post("/accounts.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    assert_conforms("/accounts.create", "post", 201, response.json())
    return response.json()["account"]


# create / get ------------------------------------------------------------------------------------------


async def test_create_answers_201_with_the_account_and_its_default_rev_org(client, admin: Actor):
    response = await client.post(
        "/accounts.create",
        json={
            "display_name": "Acme Corp",
            "description": "Our biggest customer",
            "domains": ["acme.com", "acme.io"],
            "external_refs": ["sf-001"],
            "websites": ["https://www.acme.com"],
            "tier": "Tier 1",
        },
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    assert_conforms("/accounts.create", "post", 201, response.json())
    account = response.json()["account"]
    assert account["id"] == f"don:identity:dvrv-us-1:devo/{admin.org.slug}:account/1"
    assert account["display_id"] == "ACC-1"
    assert account["display_name"] == "Acme Corp"
    assert account["description"] == "Our biggest customer"
    assert account["domains"] == ["acme.com", "acme.io"]
    assert account["external_refs"] == ["sf-001"]
    assert account["websites"] == ["https://www.acme.com"]
    assert account["tier"] == "Tier 1"
    assert account["owned_by"] == []
    assert account["created_by"]["id"] == account["modified_by"]["id"] == admin.don
    assert account["created_date"].endswith("Z") and len(account["created_date"]) == 24
    rev_org = response.json()["default_rev_org"]
    assert rev_org["id"] == f"don:identity:dvrv-us-1:devo/{admin.org.slug}:revo/1"
    assert rev_org["display_name"] == "Acme Corp"
    assert rev_org["account"] == {"id": account["id"], "display_id": "ACC-1", "display_name": "Acme Corp"}


async def test_create_with_only_a_name_leaves_the_rest_out(client, admin: Actor):
    account = await create(client, admin, display_name="Tiny", domains=[], websites=["w.io", "w.io"])
    assert set(account) == {
        "id",
        "display_id",
        "display_name",
        "websites",
        "owned_by",
        "created_by",
        "created_date",
        "modified_by",
        "modified_date",
    }
    assert account["websites"] == ["w.io"]  # duplicates are dropped


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({}, "missing_required_field", "display_name"),
        ({"display_name": ""}, "invalid_field", "display_name"),
        ({"display_name": " "}, "invalid_field", "display_name"),
        ({"display_name": "x" * 257}, "invalid_field", "display_name"),
        ({"display_name": "a", "tier": "t" * 65}, "invalid_field", "tier"),
        ({"display_name": "a", "domains": "acme.com"}, "unexpected_json_type", "domains"),
        ({"display_name": "a", "domains": ["ok.com", ""]}, "invalid_field", "domains[1]"),
        ({"display_name": "a", "external_refs": [7]}, "unexpected_json_type", "external_refs[0]"),
        ({"display_name": "a", "owned_by": ["DEVU-1"]}, "invalid_field", "owned_by"),
        ({"display_name": "a", "tags": []}, "invalid_field", "tags"),
        ({"display_name": "a", "custom_fields": {}}, "invalid_field", "custom_fields"),
    ],
)
async def test_create_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await bad(client, admin, "/accounts.create", body, kind, field_name)


async def test_an_external_ref_belongs_to_one_account(client, admin: Actor):
    first = await create(client, admin, display_name="One", external_refs=["crm-1", "crm-2"])
    response = await client.post(
        "/accounts.create", json={"display_name": "Two", "external_refs": ["crm-3", "crm-2"]}, headers=admin.headers
    )
    assert response.status_code == 409
    assert_conforms("/accounts.create", "post", 409, response.json())
    assert response.json()["type"] == "conflict"
    assert first["display_id"] in response.json()["message"]
    listed = await client.post("/accounts.list", json={}, headers=admin.headers)
    assert [account["display_name"] for account in listed.json()["accounts"]] == ["One"]
    # External refs compare exactly: another case is another ref.
    await create(client, admin, display_name="Three", external_refs=["CRM-1"])


async def test_concurrent_creates_cannot_share_an_external_ref(client, admin: Actor):
    responses = await asyncio.gather(
        *(
            client.post(
                "/accounts.create", json={"display_name": f"A{i}", "external_refs": ["same"]}, headers=admin.headers
            )
            for i in range(5)
        )
    )
    assert sorted(response.status_code for response in responses) == [201] + [409] * 4


async def test_get_answers_by_don_and_display_id_in_both_forms(client, admin: Actor):
    account = await create(client, admin, display_name="Globex", domains=["globex.com"])
    by_get = await client.get("/accounts.get", params={"id": account["display_id"]}, headers=admin.headers)
    by_post = await client.post("/accounts.get", json={"id": account["id"]}, headers=admin.headers)
    for response in (by_get, by_post):
        assert response.status_code == 200, response.text
        assert_conforms("/accounts.get", response.request.method, 200, response.json())
        assert response.json() == {"account": account}


async def test_get_of_an_unknown_or_malformed_id(client, admin: Actor):
    missing = await client.get("/accounts.get", params={"id": "ACC-9"}, headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "not_found"
    assert_conforms("/accounts.get", "get", 404, missing.json())
    malformed = await client.get("/accounts.get", params={"id": "account"}, headers=admin.headers)
    assert (malformed.status_code, malformed.json()["type"]) == (400, "invalid_id")
    assert_conforms("/accounts.get", "get", 400, malformed.json())
    await bad(client, admin, "/accounts.get", {"id": "TAG-1"}, "unexpected_id_type", "id")
    await bad(client, admin, "/accounts.get", {}, "missing_required_field", "id")


# update ------------------------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_it_carries(client, admin: Actor):
    account = await create(
        client,
        admin,
        display_name="Initech",
        description="TPS reports",
        domains=["initech.com"],
        external_refs=["i-1"],
        websites=["initech.com"],
        tier="gold",
    )
    response = await client.post(
        "/accounts.update",
        json={"id": account["id"], "display_name": "Initech Ltd", "domains": ["initech.co.uk", "initech.com"]},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    assert_conforms("/accounts.update", "post", 200, response.json())
    updated = response.json()["account"]
    assert updated["display_name"] == "Initech Ltd"
    assert updated["domains"] == ["initech.co.uk", "initech.com"]
    for unchanged in ("description", "external_refs", "websites", "tier", "created_date", "created_by"):
        assert updated[unchanged] == account[unchanged]
    assert updated["modified_date"] >= account["modified_date"]
    fetched = await client.get("/accounts.get", params={"id": account["display_id"]}, headers=admin.headers)
    assert fetched.json()["account"] == updated


async def test_update_clears_with_null_and_replaces_lists(client, admin: Actor):
    account = await create(
        client, admin, display_name="Hooli", description="d", tier="t", websites=["a.io"], external_refs=["h"]
    )
    response = await client.post(
        "/accounts.update",
        json={
            "id": account["display_id"],
            "description": None,
            "tier": None,
            "websites": {"set": ["b.io", "c.io"]},
            "external_refs": [],
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    assert_conforms("/accounts.update", "post", 200, response.json())
    updated = response.json()["account"]
    assert "description" not in updated and "tier" not in updated and "external_refs" not in updated
    assert updated["websites"] == ["b.io", "c.io"]
    cleared = await client.post(
        "/accounts.update", json={"id": account["id"], "websites": {"set": []}}, headers=admin.headers
    )
    assert "websites" not in cleared.json()["account"]
    untouched = await client.post("/accounts.update", json={"id": account["id"], "websites": {}}, headers=admin.headers)
    assert untouched.status_code == 200
    # the freed ref can be taken by another account
    await create(client, admin, display_name="Other", external_refs=["h"])


async def test_update_to_another_accounts_external_ref_is_a_conflict(client, admin: Actor):
    await create(client, admin, display_name="One", external_refs=["x-1"])
    two = await create(client, admin, display_name="Two", external_refs=["x-2"])
    keep = await client.post(
        "/accounts.update", json={"id": two["id"], "external_refs": ["x-2", "x-3"]}, headers=admin.headers
    )
    assert keep.status_code == 200
    taken = await client.post(
        "/accounts.update", json={"id": two["id"], "external_refs": ["x-1"], "tier": "gold"}, headers=admin.headers
    )
    assert taken.status_code == 409
    assert_conforms("/accounts.update", "post", 409, taken.json())
    fetched = await client.get("/accounts.get", params={"id": two["id"]}, headers=admin.headers)
    assert fetched.json()["account"]["external_refs"] == ["x-2", "x-3"]
    assert "tier" not in fetched.json()["account"]


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"display_name": "x"}, "missing_required_field", "id"),
        ({"id": "ACC-1", "display_name": ""}, "invalid_field", "display_name"),
        ({"id": "ACC-1", "display_name": None}, "unexpected_json_type", "display_name"),
        ({"id": "ACC-1", "websites": ["a.io"]}, "unexpected_json_type", "websites"),
        ({"id": "ACC-1", "websites": {"set": [""]}}, "invalid_field", "websites.set[0]"),
        ({"id": "ACC-1", "websites": {"add": ["a.io"]}}, "invalid_field", "websites.add"),
        ({"id": "ACC-1", "tier": "t" * 65}, "invalid_field", "tier"),
        ({"id": "ACC-1", "artifacts": {"set": []}}, "invalid_field", "artifacts"),
        ({"id": "PROD-1"}, "unexpected_id_type", "id"),
    ],
)
async def test_update_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await create(client, admin, display_name="Target")
    await bad(client, admin, "/accounts.update", body, kind, field_name)


async def test_update_of_an_unknown_account_is_not_found(client, admin: Actor):
    response = await client.post("/accounts.update", json={"id": "ACC-5", "tier": "x"}, headers=admin.headers)
    assert response.status_code == 404
    assert_conforms("/accounts.update", "post", 404, response.json())


# delete ------------------------------------------------------------------------------------------------


async def test_delete_removes_the_account(client, admin: Actor):
    account = await create(client, admin, display_name="Gone", external_refs=["g"])
    response = await client.post("/accounts.delete", json={"id": account["display_id"]}, headers=admin.headers)
    assert response.status_code == 200
    assert response.json() == {}
    assert_conforms("/accounts.delete", "post", 200, response.json())
    gone = await client.get("/accounts.get", params={"id": account["id"]}, headers=admin.headers)
    assert gone.status_code == 404
    again = await client.post("/accounts.delete", json={"id": account["id"]}, headers=admin.headers)
    assert again.status_code == 404
    assert_conforms("/accounts.delete", "post", 404, again.json())
    successor = await create(client, admin, display_name="Gone again", external_refs=["g"])
    assert successor["display_id"] == "ACC-2"
    await bad(client, admin, "/accounts.delete", {"id": "TAG-1"}, "unexpected_id_type", "id")
    await bad(client, admin, "/accounts.delete", {}, "missing_required_field", "id")


async def test_delete_removes_the_account_from_incidents(client, admin: Actor):
    gone = await create(client, admin, display_name="Impacted")
    kept = await create(client, admin, display_name="Still impacted")
    body = {"title": "down", "impact": {"customer_ids": [gone["id"], kept["id"]]}}
    incident = (await client.post("/incidents.create", json=body, headers=admin.headers)).json()["incident"]
    response = await client.post("/accounts.delete", json={"id": gone["id"]}, headers=admin.headers)
    assert response.status_code == 200, response.text
    after = await client.get("/incidents.get", params={"id": incident["id"]}, headers=admin.headers)
    assert [a["id"] for a in after.json()["incident"]["impact"]["customer_ids"]] == [kept["id"]]


# list --------------------------------------------------------------------------------------------------


async def _list(client, actor: Actor, method: str, params: Body) -> Body:
    if method == "get":
        response = await client.get("/accounts.list", params=params, headers=actor.headers)
    else:
        response = await client.post("/accounts.list", json=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/accounts.list", method, 200, response.json())
    return response.json()


async def test_list_pages_forward_and_back_in_both_forms(client, admin: Actor):
    for index in range(5):
        await create(client, admin, display_name=f"Customer {index}")
    for method, limit in (("get", "2"), ("post", 2)):
        pages: list[list[str]] = []
        answers: list[Body] = []
        cursor = None
        while True:
            answer = await _list(client, admin, method, {"limit": limit, **({"cursor": cursor} if cursor else {})})
            pages.append([account["display_name"] for account in answer["accounts"]])
            answers.append(answer)
            cursor = answer.get("next_cursor")
            if cursor is None:
                break
        assert pages == [["Customer 0", "Customer 1"], ["Customer 2", "Customer 3"], ["Customer 4"]]
        assert "prev_cursor" not in answers[0]
        back = await _list(client, admin, method, {"limit": limit, "cursor": answers[2]["prev_cursor"]})
        assert [account["display_name"] for account in back["accounts"]] == ["Customer 2", "Customer 3"]


async def test_list_filters_combine_and_match_any_value(client, admin: Actor):
    await create(client, admin, display_name="Acme", domains=["Acme.com"], tier="gold", websites=["acme.com"])
    await create(client, admin, display_name="Globex", domains=["globex.com"], tier="silver", external_refs=["g-1"])
    await create(client, admin, display_name="Hooli", tier="gold", external_refs=["h-1"], websites=["hooli.xyz"])

    async def names(method: str, params: Body) -> list[str]:
        return [account["display_name"] for account in (await _list(client, admin, method, params))["accounts"]]

    assert await names("get", {"display_name": '"acme","HOOLI"'}) == ["Acme", "Hooli"]
    assert await names("post", {"domains": ["ACME.COM", "nowhere.org"]}) == ["Acme"]
    assert await names("get", {"domains": "globex.com"}) == ["Globex"]
    assert await names("post", {"external_refs": ["h-1", "g-1"]}) == ["Globex", "Hooli"]
    assert await names("post", {"external_refs": ["H-1"]}) == []
    assert await names("get", {"tier": "gold"}) == ["Acme", "Hooli"]
    assert await names("post", {"tier": ["gold"], "websites": ["hooli.xyz"]}) == ["Hooli"]
    assert await names("post", {"tier": ["silver"], "websites": ["hooli.xyz"]}) == []


async def test_list_filters_by_created_and_modified_date(client, admin: Actor):
    old = await create(client, admin, display_name="Old")
    await asyncio.sleep(0.01)
    new = await create(client, admin, display_name="New")

    async def names(method: str, params: Body) -> list[str]:
        return [account["display_name"] for account in (await _list(client, admin, method, params))["accounts"]]

    assert await names("post", {"created_date": {"after": new["created_date"]}}) == ["New"]
    assert await names("get", {"created_date.before": old["created_date"]}) == ["Old"]
    assert await names("get", {"created_date.after": "2000-01-01", "created_date.before": "2999-01-01T00:00:00+02:00"})
    await asyncio.sleep(0.01)
    touched = await client.post("/accounts.update", json={"id": old["id"], "tier": "x"}, headers=admin.headers)
    since = touched.json()["account"]["modified_date"]
    assert await names("post", {"modified_date": {"after": since}}) == ["Old"]
    assert await names("post", {"modified_date": {"before": new["modified_date"]}}) == ["New"]


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"created_date": {"after": "yesterday"}}, "invalid_field", "created_date.after"),
        ({"modified_date": {"before": "2024-13-01"}}, "invalid_field", "modified_date.before"),
        ({"limit": 0}, "invalid_field", "limit"),
        ({"owned_by": ["DEVU-1"]}, "invalid_field", "owned_by"),
        ({"created_by": ["DEVU-1"]}, "invalid_field", "created_by"),
        ({"sort_by": ["display_name:asc"]}, "invalid_field", "sort_by"),
        ({"tier": "gold"}, "unexpected_json_type", "tier"),
    ],
)
async def test_list_rejects_bad_input_naming_the_field(client, admin: Actor, body, kind, field_name):
    await bad(client, admin, "/accounts.list", body, kind, field_name)


async def test_cursor_of_other_filters_is_a_bad_request(client, admin: Actor):
    for index in range(3):
        await create(client, admin, display_name=f"C{index}", tier="gold")
    first = await client.post("/accounts.list", json={"limit": 1}, headers=admin.headers)
    other = await client.post(
        "/accounts.list",
        json={"limit": 1, "cursor": first.json()["next_cursor"], "tier": ["gold"]},
        headers=admin.headers,
    )
    assert other.status_code == 400
    assert other.json()["type"] == "bad_request"
    assert_conforms("/accounts.list", "post", 400, other.json())


# isolation ---------------------------------------------------------------------------------------------


async def test_an_org_never_sees_or_touches_another_orgs_accounts(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    theirs = await create(client, other, display_name="Theirs", external_refs=["shared"])
    mine = await create(client, admin, display_name="Mine", external_refs=["shared"])  # refs are per org
    for path, body in (
        ("/accounts.get", {"id": theirs["id"]}),
        ("/accounts.update", {"id": theirs["id"], "tier": "stolen"}),
        ("/accounts.delete", {"id": theirs["id"]}),
    ):
        response = await client.post(path, json=body, headers=admin.headers)
        assert response.status_code == 404, path
        assert_conforms(path, "post", 404, response.json())
    by_display = await client.get("/accounts.get", params={"id": "ACC-1"}, headers=admin.headers)
    assert by_display.json()["account"]["id"] == mine["id"]
    listed = await _list(client, admin, "post", {"external_refs": ["shared"]})
    assert [account["id"] for account in listed["accounts"]] == [mine["id"]]
    still = await client.get("/accounts.get", params={"id": theirs["id"]}, headers=other.headers)
    assert still.json()["account"] == theirs


# for the incidents domain ------------------------------------------------------------------------------


async def test_summaries_find_existing_accounts_of_the_org_only(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    await create(client, admin, display_name="A")
    for name in ("B", "C"):
        await create(client, other, display_name=name)
    async with app.state.db.read() as conn:
        mine = await accounts.summaries(conn, admin.org, [1, 2, 1])
        theirs = await accounts.summaries(conn, other.org, (n for n in (1, 2, 3)))
        assert await accounts.summaries(conn, admin.org, []) == {}
    assert {number: summary.display_name for number, summary in mine.items()} == {1: "A"}
    assert {number: summary.display_name for number, summary in theirs.items()} == {1: "B", 2: "C"}


async def test_summaries_render_devrev_account_summaries(app, client, admin: Actor):
    first = await create(client, admin, display_name="First", tier="gold")
    await create(client, admin, display_name="Second")
    async with app.state.db.read() as conn:
        found = await accounts.summaries(conn, admin.org, [1, 2, 3])
    assert set(found) == {1, 2}
    assert msgspec.to_builtins(found[1]) == {"id": first["id"], "display_id": "ACC-1", "display_name": "First"}
    assert msgspec.to_builtins(found[2])["display_name"] == "Second"
