"""Roles inside an org: admins administer it (users, other users' tokens, schemas), members work in it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import Actor, add_principal, make_org
from contract import assert_conforms
from incidentd.errors import InvalidField, NotFound
from incidentd.identity import service as identity
from incidentd.principal import ADMIN, MEMBER

FRAGMENT = {"type": "tenant_fragment", "description": "ours", "leaf_type": "incident", "fields": []}


def assert_forbidden(response: httpx.Response, action: str) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body == {"type": "forbidden", "message": body["message"]}
    assert action in body["message"] and "member" in body["message"]


async def tokens_of(client: httpx.AsyncClient, actor: Actor, subject: str | None = None) -> list[dict[str, Any]]:
    params = {"subject": subject} if subject is not None else {}
    response = await client.get("/auth-tokens.list", params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["tokens"])


async def test_the_bootstrap_user_is_an_admin_and_self_says_each_role(client, admin: Actor, member: Actor):
    for actor, role in ((admin, ADMIN), (member, MEMBER)):
        response = await client.get("/dev-users.self", headers=actor.headers)
        assert response.status_code == 200
        assert_conforms("/dev-users.self", "get", 200, response.json())
        assert response.json()["dev_user"]["role"] == role


# dev-users.create ------------------------------------------------------------------------------------


async def test_only_admins_create_dev_users(client, admin: Actor, member: Actor):
    body = {"email": "new@example.com", "state": "active"}
    assert_forbidden(await client.post("/dev-users.create", json=body, headers=member.headers), "create dev users")
    listed = await client.get("/dev-users.list", params={"email": "new@example.com"}, headers=admin.headers)
    assert listed.json()["dev_users"] == []

    created = await client.post("/dev-users.create", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["dev_user"]["role"] == MEMBER  # an admin is made with `incidentd user set-role`


async def test_members_still_read_users(client, admin: Actor, member: Actor):
    assert (await client.get("/dev-users.get", params={"id": admin.don}, headers=member.headers)).status_code == 200
    listed = await client.get("/dev-users.list", headers=member.headers)
    assert {user["id"] for user in listed.json()["dev_users"]} == {admin.don, member.don}


# auth-tokens.create ----------------------------------------------------------------------------------


async def test_a_member_cannot_issue_a_token_acting_as_an_admin(client, admin: Actor, member: Actor):
    response = await client.post("/auth-tokens.create", json={"act_as": admin.don}, headers=member.headers)
    assert_forbidden(response, "act as another user")
    assert len(await tokens_of(client, admin)) == 1  # nothing was issued


async def test_a_member_cannot_act_as_another_member_or_a_service_account(app, client, admin: Actor, member: Actor):
    colleague = await add_principal(app, admin, email="colleague@example.com", role=MEMBER)
    robot = await add_principal(app, admin, user_type="service_account", role=MEMBER)
    for other in (colleague, robot):
        response = await client.post("/auth-tokens.create", json={"act_as": other.don}, headers=member.headers)
        assert_forbidden(response, "act as another user")


async def test_a_member_issues_tokens_for_themselves_with_or_without_act_as(client, member: Actor):
    for body in ({}, {"act_as": member.don}, {"act_as": "member@incidentd.local"}):
        response = await client.post("/auth-tokens.create", json=body, headers=member.headers)
        assert response.status_code == 201, response.text
        issued = {"Authorization": response.json()["access_token"]}
        self_user = (await client.get("/dev-users.self", headers=issued)).json()["dev_user"]
        assert (self_user["id"], self_user["role"]) == (member.don, MEMBER)


async def test_an_admin_issues_a_token_acting_as_a_member_that_has_the_members_rights(
    client, admin: Actor, member: Actor
):
    response = await client.post("/auth-tokens.create", json={"act_as": member.don}, headers=admin.headers)
    assert response.status_code == 201, response.text
    as_member = {"Authorization": response.json()["access_token"]}
    assert (await client.get("/dev-users.self", headers=as_member)).json()["dev_user"]["id"] == member.don
    body = {"email": "sneaky@example.com", "state": "active"}
    assert_forbidden(await client.post("/dev-users.create", json=body, headers=as_member), "create dev users")


# auth-tokens.list ------------------------------------------------------------------------------------


async def test_only_admins_list_another_users_tokens(client, admin: Actor, member: Actor):
    for subject in (admin.don, f"DEVU-{admin.user_number}", "admin@incidentd.local"):
        response = await client.get("/auth-tokens.list", params={"subject": subject}, headers=member.headers)
        assert_forbidden(response, "list another user's tokens")

    of_member = await tokens_of(client, admin, subject=member.don)
    assert [token["subject"] for token in of_member] == [member.don]


async def test_a_member_lists_their_own_tokens(client, member: Actor):
    own = await tokens_of(client, member)
    assert own == await tokens_of(client, member, subject=member.don)
    assert [token["subject"] for token in own] == [member.don]


# auth-tokens.delete ----------------------------------------------------------------------------------


async def test_a_member_cannot_revoke_an_admins_token(app, client, admin: Actor, member: Actor):
    [admin_token] = await tokens_of(client, admin)
    for token_id in (admin_token["id"], admin_token["display_id"]):
        response = await client.post("/auth-tokens.delete", json={"token_id": token_id}, headers=member.headers)
        assert_forbidden(response, "revoke another user's tokens")
    assert (await client.get("/dev-users.self", headers=admin.headers)).status_code == 200
    assert [token["status"] for token in await tokens_of(client, admin)] == ["active"]


async def test_a_member_revokes_their_own_token_by_id(client, member: Actor):
    [own] = await tokens_of(client, member)
    response = await client.post("/auth-tokens.delete", json={"token_id": own["id"]}, headers=member.headers)
    assert response.status_code == 200, response.text
    assert (await client.get("/dev-users.self", headers=member.headers)).status_code == 401


async def test_an_admin_revokes_a_members_token(client, admin: Actor, member: Actor):
    [token] = await tokens_of(client, admin, subject=member.don)
    response = await client.post("/auth-tokens.delete", json={"token_id": token["id"]}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert (await client.get("/dev-users.self", headers=member.headers)).status_code == 401


# schemas.custom.set ----------------------------------------------------------------------------------


async def test_only_admins_change_custom_schemas(client, admin: Actor, member: Actor):
    assert_forbidden(
        await client.post("/schemas.custom.set", json=FRAGMENT, headers=member.headers), "change custom schemas"
    )
    listed = await client.get("/schemas.custom.list", params={"types": "tenant_fragment"}, headers=member.headers)
    assert listed.status_code == 200 and listed.json()["result"] == []

    created = await client.post("/schemas.custom.set", json=FRAGMENT, headers=admin.headers)
    assert created.status_code == 201, created.text
    fetched = await client.get("/schemas.custom.get", params={"id": created.json()["id"]}, headers=member.headers)
    assert fetched.status_code == 200  # members read the schemas they fill in


async def test_an_invalid_fragment_from_a_member_is_forbidden_before_it_is_validated(client, member: Actor):
    response = await client.post("/schemas.custom.set", json={**FRAGMENT, "leaf_type": "nope"}, headers=member.headers)
    assert_forbidden(response, "change custom schemas")


# members keep working --------------------------------------------------------------------------------


async def test_members_work_on_incidents_and_the_objects_they_point_at(client, member: Actor):
    created = await client.post(
        "/incidents.create", json={"title": "Checkout is down", "owned_by": [member.don]}, headers=member.headers
    )
    assert created.status_code == 201, created.text
    incident = created.json()["incident"]
    updated = await client.post(
        "/incidents.update", json={"id": incident["id"], "title": "Checkout is slow"}, headers=member.headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["incident"]["modified_by"]["id"] == member.don

    for path, body in (
        ("/tags.create", {"name": "payments"}),
        ("/parts.create", {"type": "product", "name": "Checkout", "owned_by": [member.don]}),
        ("/accounts.create", {"display_name": "Acme"}),
        ("/articles.create", {"title": "Runbook", "owned_by": [member.don], "resource": {}}),
    ):
        response = await client.post(path, json=body, headers=member.headers)
        assert response.status_code == 201, (path, response.text)
    prepared = await client.post("/artifacts.prepare", json={"file_name": "log.txt"}, headers=member.headers)
    assert prepared.status_code == 200, prepared.text
    deleted = await client.post("/incidents.delete", json={"id": incident["id"]}, headers=member.headers)
    assert deleted.status_code == 200, deleted.text


# service accounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [(MEMBER, 403), (ADMIN, 201)])
async def test_a_service_account_has_the_rights_of_its_role(app, client, admin: Actor, role: str, status: int):
    robot = await add_principal(app, admin, user_type="service_account", role=role)
    response = await client.post("/schemas.custom.set", json=FRAGMENT, headers=robot.headers)
    assert response.status_code == status, response.text


# other orgs ------------------------------------------------------------------------------------------


async def test_an_admin_reaches_nothing_of_another_org(app, client, admin: Actor):
    other = await make_org(app, "other")
    [other_token] = await tokens_of(client, other)

    acting = await client.post("/auth-tokens.create", json={"act_as": other.don}, headers=admin.headers)
    assert acting.status_code == 404 and acting.json()["type"] == "not_found"
    listed = await client.get("/auth-tokens.list", params={"subject": other.don}, headers=admin.headers)
    assert listed.status_code == 404
    revoked = await client.post("/auth-tokens.delete", json={"token_id": other_token["id"]}, headers=admin.headers)
    assert revoked.status_code == 404
    assert (await client.get("/dev-users.self", headers=other.headers)).status_code == 200


async def test_a_member_asking_for_another_orgs_ids_gets_not_found_not_forbidden(app, client, member: Actor):
    other = await make_org(app, "other")
    [other_token] = await tokens_of(client, other)
    acting = await client.post("/auth-tokens.create", json={"act_as": other.don}, headers=member.headers)
    listed = await client.get("/auth-tokens.list", params={"subject": other.don}, headers=member.headers)
    revoked = await client.post("/auth-tokens.delete", json={"token_id": other_token["id"]}, headers=member.headers)
    assert [response.status_code for response in (acting, listed, revoked)] == [404, 404, 404]


async def test_an_admin_of_another_org_is_a_stranger_here(app, client, admin: Actor, member: Actor):
    other = await make_org(app, "other")  # its owner is an admin, of its own org only
    [token] = await tokens_of(client, admin, subject=member.don)
    revoked = await client.post("/auth-tokens.delete", json={"token_id": token["id"]}, headers=other.headers)
    assert revoked.status_code == 404
    assert (await client.get("/dev-users.self", headers=member.headers)).status_code == 200


# changing a role -------------------------------------------------------------------------------------


async def test_a_new_role_applies_to_the_next_request_though_the_token_was_verified_just_now(
    app, client, admin: Actor, member: Actor
):
    body = {"email": "new@example.com", "state": "active"}
    assert_forbidden(await client.post("/dev-users.create", json=body, headers=member.headers), "create dev users")

    await identity.set_role(app.state.db, member.org, member.don, ADMIN)
    assert (await client.post("/dev-users.create", json=body, headers=member.headers)).status_code == 201

    await identity.set_role(app.state.db, member.org, "member@incidentd.local", MEMBER)
    body = {"email": "newer@example.com", "state": "active"}
    assert_forbidden(await client.post("/dev-users.create", json=body, headers=member.headers), "create dev users")


async def test_set_role_names_a_bad_role_or_an_unknown_user(app, admin: Actor):
    with pytest.raises(InvalidField) as bad_role:
        await identity.set_role(app.state.db, admin.org, admin.don, "owner")
    assert bad_role.value.fields == {"field_name": "role"}
    with pytest.raises(NotFound):
        await identity.set_role(app.state.db, admin.org, "nobody@example.com", ADMIN)


async def test_set_role_leaves_summaries_and_other_orgs_alone(app, client, admin: Actor, member: Actor):
    other = await make_org(app, "other")
    namesake = await add_principal(app, other, email="namesake@other.test", role=MEMBER)
    assert namesake.user_number == member.user_number  # the same number, in another org
    created = await client.post(
        "/incidents.create", json={"title": "x", "owned_by": [member.don]}, headers=admin.headers
    )
    owner_before = created.json()["incident"]["owned_by"]

    changed = await identity.set_role(app.state.db, member.org, member.don, ADMIN)
    assert (changed.number, changed.role) == (member.user_number, ADMIN)
    fetched = await client.get("/incidents.get", params={"id": created.json()["incident"]["id"]}, headers=admin.headers)
    assert fetched.json()["incident"]["owned_by"] == owner_before
    namesake_self = (await client.get("/dev-users.self", headers=namesake.headers)).json()["dev_user"]
    assert namesake_self["role"] == MEMBER
