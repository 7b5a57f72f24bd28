from __future__ import annotations

from conftest import Actor, add_principal, make_org
from contract import assert_conforms


async def test_self_answers_get_and_post_with_both_header_forms(client, admin: Actor):
    bearer = await client.get("/dev-users.self", headers=admin.headers)
    bare = await client.get("/dev-users.self", headers={"Authorization": admin.token})
    posted = await client.post("/dev-users.self", json={}, headers={"Authorization": admin.token})
    for response in (bearer, bare, posted):
        assert response.status_code == 200, response.text
        assert_conforms("/dev-users.self", response.request.method, 200, response.json())
    user = bearer.json()["dev_user"]
    assert user == bare.json()["dev_user"] == posted.json()["dev_user"]
    assert user["type"] == "dev_user"
    assert user["id"] == admin.don == f"don:identity:dvrv-us-1:devo/{admin.org.slug}:devu/{admin.user_number}"
    assert user["display_id"] == f"DEVU-{admin.user_number}"
    assert user["email"] == "admin@incidentd.local"
    assert user["state"] == "active"
    assert user["created_date"].endswith("Z") and len(user["created_date"]) == 24


async def test_self_of_a_service_account_is_its_own_kind(app, client, admin: Actor):
    robot = await add_principal(app, admin, user_type="service_account")
    response = await client.get("/dev-users.self", headers=robot.headers)
    assert response.status_code == 200
    assert response.json()["dev_user"]["type"] == "service_account"
    assert response.json()["dev_user"]["id"].endswith(f":svcacc/{robot.user_number}")


async def test_create_then_get_by_don_and_display_id(client, admin: Actor):
    created = await client.post(
        "/dev-users.create",
        json={"email": "oncall@example.com", "state": "shadow", "full_name": "On Call"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert_conforms("/dev-users.create", "post", 201, created.json())
    user = created.json()["dev_user"]
    assert user["full_name"] == "On Call"
    assert user["state"] == "shadow"
    assert user["created_by"]["id"] == admin.don

    by_don = await client.post("/dev-users.get", json={"id": user["id"]}, headers=admin.headers)
    by_display = await client.get("/dev-users.get", params={"id": user["display_id"]}, headers=admin.headers)
    assert by_don.status_code == by_display.status_code == 200
    assert by_don.json() == by_display.json() == {"dev_user": user}
    assert_conforms("/dev-users.get", "get", 200, by_display.json())


async def test_create_with_a_taken_email_is_a_conflict(client, admin: Actor):
    body = {"email": "dup@example.com", "state": "shadow"}
    assert (await client.post("/dev-users.create", json=body, headers=admin.headers)).status_code == 201
    again = await client.post("/dev-users.create", json={**body, "email": "DUP@example.com"}, headers=admin.headers)
    assert again.status_code == 409
    assert again.json()["type"] == "conflict"


async def test_get_of_unknown_user_is_not_found(client, admin: Actor):
    response = await client.get("/dev-users.get", params={"id": "DEVU-999"}, headers=admin.headers)
    assert response.status_code == 404
    assert response.json()["type"] == "not_found"
    assert_conforms("/dev-users.get", "get", 404, response.json())


async def test_get_with_an_id_of_another_kind_names_the_field(client, admin: Actor):
    response = await client.get("/dev-users.get", params={"id": "TAG-1"}, headers=admin.headers)
    assert response.status_code == 400
    assert response.json() == {
        "type": "unexpected_id_type",
        "message": response.json()["message"],
        "field_name": "id",
    }


async def test_list_pages_forward_and_back_with_cursors(client, admin: Actor):
    for index in range(5):
        body = {"email": f"user{index}@example.com", "state": "shadow"}
        assert (await client.post("/dev-users.create", json=body, headers=admin.headers)).status_code == 201
    seen: list[str] = []
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/dev-users.list", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert_conforms("/dev-users.list", "get", 200, response.json())
        page = [user["id"] for user in response.json()["dev_users"]]
        pages.append(page)
        seen += page
        cursor = response.json().get("next_cursor")
        if cursor is None:
            break
    assert len(seen) == 6 == len(set(seen))
    assert [int(don.rsplit("/", 1)[1]) for don in seen] == sorted(int(don.rsplit("/", 1)[1]) for don in seen)
    # The second page's prev_cursor walks back to the first page, which has nothing before it.
    response = await client.post("/dev-users.list", json={"limit": 2}, headers=admin.headers)
    second = await client.post(
        "/dev-users.list", json={"limit": 2, "cursor": response.json()["next_cursor"]}, headers=admin.headers
    )
    back = await client.post(
        "/dev-users.list", json={"limit": 2, "cursor": second.json()["prev_cursor"]}, headers=admin.headers
    )
    assert [u["id"] for u in back.json()["dev_users"]] == pages[0]
    assert "prev_cursor" not in back.json()


async def test_list_filters_by_email_and_state(client, admin: Actor):
    await client.post("/dev-users.create", json={"email": "a@example.com", "state": "shadow"}, headers=admin.headers)
    await client.post("/dev-users.create", json={"email": "b@example.com", "state": "shadow"}, headers=admin.headers)
    by_email = await client.get("/dev-users.list", params={"email": '"a@example.com"'}, headers=admin.headers)
    assert [u["email"] for u in by_email.json()["dev_users"]] == ["a@example.com"]
    by_state = await client.post("/dev-users.list", json={"state": ["active"]}, headers=admin.headers)
    assert [u["email"] for u in by_state.json()["dev_users"]] == ["admin@incidentd.local"]


async def test_cursor_of_other_filters_is_a_bad_request(client, admin: Actor):
    for index in range(3):
        await client.post(
            "/dev-users.create", json={"email": f"c{index}@x.io", "state": "shadow"}, headers=admin.headers
        )
    first = await client.post("/dev-users.list", json={"limit": 1}, headers=admin.headers)
    cursor = first.json()["next_cursor"]
    other = await client.post(
        "/dev-users.list", json={"limit": 1, "cursor": cursor, "state": ["shadow"]}, headers=admin.headers
    )
    assert other.status_code == 400
    assert other.json()["type"] == "bad_request"
    garbage = await client.get("/dev-users.list", params={"cursor": "not-a-cursor!"}, headers=admin.headers)
    assert garbage.status_code == 400 and garbage.json()["type"] == "bad_request"


async def test_an_org_never_sees_another_orgs_users(app, client, admin: Actor):
    other = await make_org(app, "other-org")
    other_self = (await client.get("/dev-users.self", headers=other.headers)).json()["dev_user"]
    # By DON and by display id (the number exists in both orgs: DEVU-1 is the admin here), never org B's user.
    by_don = await client.get("/dev-users.get", params={"id": other_self["id"]}, headers=admin.headers)
    assert by_don.status_code == 404
    listed = await client.get("/dev-users.list", headers=admin.headers)
    assert other_self["id"] not in [u["id"] for u in listed.json()["dev_users"]]
    assert all(u["id"].startswith(f"don:identity:dvrv-us-1:devo/{admin.org.slug}:") for u in listed.json()["dev_users"])
    mine = await client.get("/dev-users.get", params={"id": other_self["display_id"]}, headers=other.headers)
    assert mine.json()["dev_user"]["id"] == other_self["id"]
