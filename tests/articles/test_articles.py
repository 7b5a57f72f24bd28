from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from conftest import Actor, add_principal, make_org
from contract import assert_conforms
from incidentd.articles import service
from incidentd.config import Settings

SPEC_PATHS = {
    "/articles.create",
    "/articles.get",
    "/articles.list",
    "/articles.update",
    "/articles.delete",
    "/artifacts.prepare",
    "/artifacts.get",
}
# Statuses incidentd answers that DevRev's spec does not list (see docs/compatibility.md).
NOT_IN_SPEC = {405, 413}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        db_wait_seconds=2.0,
        log_format="console",
        artifacts_dir=tmp_path / "artifacts",
        artifacts_secret="test-articles-secret-0123456789",
    )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app's client, checking every JSON response of DevRev's paths against DevRev's schema on the way."""

    async def conforms(response: httpx.Response) -> None:
        await response.aread()
        path, status = response.request.url.path, response.status_code
        if path in SPEC_PATHS and status not in NOT_IN_SPEC and "json" in response.headers.get("content-type", ""):
            assert_conforms(path, response.request.method, status, response.json())

    transport = httpx.ASGITransport(app=app)
    hooks = {"response": [conforms]}
    async with httpx.AsyncClient(transport=transport, base_url="http://incidentd.test", event_hooks=hooks) as http:
        yield http


async def artifact(client: httpx.AsyncClient, actor: Actor, name: str = "doc.pdf", content: bytes = b"%PDF") -> str:
    """A prepared and uploaded artifact's id."""
    prepared = await client.post("/artifacts.prepare", json={"file_name": name}, headers=actor.headers)
    form = {field["key"]: field["value"] for field in prepared.json()["form_data"]}
    uploaded = await client.post(prepared.json()["url"], data=form, files={"file": (name, content, "application/pdf")})
    assert uploaded.status_code == 204, uploaded.text
    return str(prepared.json()["id"])


async def create(client: httpx.AsyncClient, actor: Actor, **body: Any) -> httpx.Response:
    payload = {"title": "Runbook", "owned_by": [actor.don], "resource": {}, **body}
    return await client.post("/articles.create", json=payload, headers=actor.headers)


async def created(client: httpx.AsyncClient, actor: Actor, **body: Any) -> dict[str, Any]:
    response = await create(client, actor, **body)
    assert response.status_code == 201, response.text
    assert_conforms("/articles.create", "post", 201, response.json())
    return dict(response.json()["article"])


async def update(client: httpx.AsyncClient, actor: Actor, **body: Any) -> httpx.Response:
    return await client.post("/articles.update", json=body, headers=actor.headers)


# create / get ----------------------------------------------------------------------------------------


async def test_create_with_the_required_fields_only(client, admin: Actor):
    article = await created(client, admin)
    assert article["id"].startswith(f"don:core:dvrv-us-1:devo/{admin.org.slug}:article/")
    assert article["display_id"] == f"ART-{article['id'].rsplit('/', 1)[1]}"
    assert article["title"] == "Runbook"
    assert article["article_type"] == "article"
    assert article["resource"] == {}
    assert [owner["id"] for owner in article["owned_by"]] == [admin.don]
    assert article["created_by"]["id"] == article["modified_by"]["id"] == admin.don
    assert article["created_date"] == article["modified_date"]
    assert "status" not in article and "description" not in article


async def test_create_with_a_resource_then_get_it_both_ways(app, client, admin: Actor):
    second_owner = await add_principal(app, admin, email="sre@example.com")
    first, second = await artifact(client, admin, "a.pdf", b"aaaa"), await artifact(client, admin, "b.pdf", b"bb")
    article = await created(
        client,
        admin,
        title="Database failover",
        description="Steps to fail over the primary.",
        article_type="page",
        status="draft",
        owned_by=[second_owner.don, f"DEVU-{admin.user_number}"],
        resource={
            "url": "https://wiki.example.com/failover",
            "artifacts": [second, f"ARTIFACT-{first.rsplit('/', 1)[1]}"],
        },
    )
    assert article["description"] == "Steps to fail over the primary."
    assert article["article_type"] == "page"
    assert article["status"] == "draft"
    assert [owner["id"] for owner in article["owned_by"]] == [second_owner.don, admin.don]
    assert article["resource"]["url"] == "https://wiki.example.com/failover"
    assert article["resource"]["artifacts"] == [
        {
            "id": second,
            "display_id": f"ARTIFACT-{second.rsplit('/', 1)[1]}",
            "file": {"type": "application/pdf", "name": "b.pdf", "size": 2},
        },
        {
            "id": first,
            "display_id": f"ARTIFACT-{first.rsplit('/', 1)[1]}",
            "file": {"type": "application/pdf", "name": "a.pdf", "size": 4},
        },
    ]
    by_get = await client.get("/articles.get", params={"id": article["display_id"]}, headers=admin.headers)
    by_post = await client.post("/articles.get", json={"id": article["id"]}, headers=admin.headers)
    assert by_get.status_code == by_post.status_code == 200
    assert_conforms("/articles.get", "get", 200, by_get.json())
    assert_conforms("/articles.get", "post", 200, by_post.json())
    assert by_get.json() == by_post.json() == {"article": article}


async def test_create_rejects_bad_input_naming_the_field(client, admin: Actor):
    other_kind = "TAG-1"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"owned_by": []}, "invalid_field", "owned_by"),
        ({"owned_by": ["DEVU-999"]}, "invalid_id", "owned_by[0]"),
        ({"owned_by": [admin.don, other_kind]}, "unexpected_id_type", "owned_by[1]"),
        ({"owned_by": ["nobody"]}, "invalid_id", "owned_by[0]"),
        ({"title": ""}, "invalid_field", "title"),
        ({"title": "   "}, "invalid_field", "title"),
        ({"title": "t" * 257}, "invalid_field", "title"),
        ({"description": "d" * 65_537}, "invalid_field", "description"),
        ({"article_type": "memo"}, "invalid_enum_value", "article_type"),
        ({"status": "live"}, "invalid_enum_value", "status"),
        ({"resource": {"artifacts": ["ARTIFACT-999"]}}, "invalid_id", "resource.artifacts[0]"),
        ({"resource": {"artifacts": ["ART-1"]}}, "unexpected_id_type", "resource.artifacts[0]"),
        ({"resource": {"content_blocks": []}}, "invalid_field", "resource.content_blocks"),
        ({"resource": {"url": ""}}, "invalid_field", "resource.url"),
        ({"applies_to_parts": ["PROD-1"]}, "invalid_field", "applies_to_parts"),
        ({"title": 7}, "unexpected_json_type", "title"),
    ]
    for body, error_type, field_name in cases:
        response = await create(client, admin, **body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["type"] == error_type, (body, response.json())
        assert response.json()["field_name"] == field_name, (body, response.json())
        assert_conforms("/articles.create", "post", 400, response.json())
    for missing in ("title", "owned_by", "resource"):
        body = {"title": "t", "owned_by": [admin.don], "resource": {}}
        del body[missing]
        response = await client.post("/articles.create", json=body, headers=admin.headers)
        assert response.status_code == 400
        assert response.json() == {
            "type": "missing_required_field",
            "message": response.json()["message"],
            "field_name": missing,
        }
    assert (await client.post("/articles.list", json={}, headers=admin.headers)).json()["total"] == 0
    assert (await client.post("/articles.create", json={"title": "t"})).status_code == 401


async def test_get_errors(client, admin: Actor):
    unknown = await client.get("/articles.get", params={"id": "ART-999"}, headers=admin.headers)
    assert unknown.status_code == 404
    assert_conforms("/articles.get", "get", 404, unknown.json())
    wrong_kind = await client.post("/articles.get", json={"id": "ARTIFACT-1"}, headers=admin.headers)
    assert wrong_kind.status_code == 400
    assert wrong_kind.json()["type"] == "unexpected_id_type" and wrong_kind.json()["field_name"] == "id"
    unknown_param = await client.get("/articles.get", params={"id": "ART-1", "lang": "en"}, headers=admin.headers)
    assert unknown_param.status_code == 400 and unknown_param.json()["field_name"] == "lang"


# artifacts: one parent each ----------------------------------------------------------------------------


async def test_an_artifact_attached_to_an_article_cannot_join_another(client, admin: Actor):
    shared = await artifact(client, admin)
    first = await created(client, admin, resource={"artifacts": [shared]})
    response = await create(client, admin, title="Second", resource={"artifacts": [shared]})
    assert response.status_code == 400
    assert_conforms("/articles.create", "post", 400, response.json())
    assert response.json()["type"] == "artifact_already_attached_to_a_parent"
    assert response.json()["existing_parent"] == first["id"]
    assert response.json()["is_same"] is False
    # Nothing of the refused article remains.
    listed = (await client.post("/articles.list", json={}, headers=admin.headers)).json()
    assert [article["id"] for article in listed["articles"]] == [first["id"]]
    assert listed["total"] == 1

    second = await created(client, admin, title="Second")
    refused = await update(client, admin, id=second["id"], artifacts={"set": [shared]})
    assert refused.status_code == 400
    assert_conforms("/articles.update", "post", 400, refused.json())
    assert refused.json()["existing_parent"] == first["id"]


async def test_setting_artifacts_keeps_the_same_ones_reorders_and_frees_the_rest(client, admin: Actor):
    a, b, c = [await artifact(client, admin, f"{name}.pdf") for name in "abc"]
    article = await created(client, admin, resource={"artifacts": [a, b]})
    # Already attached to this same article: no error; the new order holds; `a` is freed.
    response = await update(client, admin, id=article["id"], artifacts={"set": [c, b]})
    assert response.status_code == 200, response.text
    assert_conforms("/articles.update", "post", 200, response.json())
    assert [item["id"] for item in response.json()["article"]["resource"]["artifacts"]] == [c, b]
    taker = await created(client, admin, title="Taker", resource={"artifacts": [a]})
    assert [item["id"] for item in taker["resource"]["artifacts"]] == [a]
    cleared = await update(client, admin, id=article["id"], artifacts={"set": []})
    assert cleared.json()["article"]["resource"] == {}
    # Without `set` nothing changes.
    unchanged = await update(client, admin, id=taker["id"], artifacts={})
    assert [item["id"] for item in unchanged.json()["article"]["resource"]["artifacts"]] == [a]


async def test_deleting_an_article_frees_its_artifacts(client, admin: Actor):
    kept = await artifact(client, admin)
    article = await created(client, admin, resource={"artifacts": [kept]})
    deleted = await client.post("/articles.delete", json={"id": article["id"]}, headers=admin.headers)
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert_conforms("/articles.delete", "post", 200, deleted.json())
    assert (await client.get("/articles.get", params={"id": article["id"]}, headers=admin.headers)).status_code == 404
    again = await client.post("/articles.delete", json={"id": article["id"]}, headers=admin.headers)
    assert again.status_code == 404
    assert_conforms("/articles.delete", "post", 404, again.json())
    adopted = await created(client, admin, title="Adopter", resource={"artifacts": [kept]})
    assert [item["id"] for item in adopted["resource"]["artifacts"]] == [kept]
    # The artifact itself outlives the article.
    assert (await client.get("/artifacts.get", params={"id": kept}, headers=admin.headers)).status_code == 200


# update ----------------------------------------------------------------------------------------------


async def test_update_changes_only_what_it_carries(app, client, admin: Actor):
    editor = await add_principal(app, admin, email="editor@example.com")
    article = await created(
        client, admin, description="old", status="draft", resource={"url": "https://old.example.com"}
    )
    response = await update(client, editor, id=article["id"], title="Renamed", status="published")
    assert response.status_code == 200, response.text
    assert_conforms("/articles.update", "post", 200, response.json())
    updated = response.json()["article"]
    assert updated["title"] == "Renamed"
    assert updated["status"] == "published"
    assert updated["description"] == "old"
    assert updated["resource"] == {"url": "https://old.example.com"}
    assert updated["modified_by"]["id"] == editor.don
    assert updated["created_by"]["id"] == admin.don

    cleared = (await update(client, admin, id=article["id"], description=None, url=None, status=None)).json()["article"]
    assert "description" not in cleared and "status" not in cleared
    assert cleared["resource"] == {}
    moved = (await update(client, admin, id=article["id"], url="https://new.example.com")).json()["article"]
    assert moved["resource"] == {"url": "https://new.example.com"}

    owners = await update(client, admin, id=article["id"], owned_by={"set": [editor.don, admin.don]})
    assert [owner["id"] for owner in owners.json()["article"]["owned_by"]] == [editor.don, admin.don]
    got = await client.get("/articles.get", params={"id": article["id"]}, headers=admin.headers)
    assert got.json() == owners.json()


async def test_update_errors(app, client, admin: Actor):
    article = await created(client, admin)
    other = await make_org(app, "other-org")
    foreign_artifact = await artifact(client, other)
    cases: list[tuple[dict[str, Any], int, str, str | None]] = [
        ({"title": None}, 400, "invalid_field", "title"),
        ({"title": ""}, 400, "invalid_field", "title"),
        ({"owned_by": {"set": []}}, 400, "invalid_field", "owned_by.set"),
        ({"owned_by": {"set": ["DEVU-999"]}}, 400, "invalid_id", "owned_by.set[0]"),
        ({"owned_by": {"set": [other.don]}}, 400, "invalid_id", "owned_by.set[0]"),
        ({"artifacts": {"set": [foreign_artifact]}}, 400, "invalid_id", "artifacts.set[0]"),
        ({"artifacts": {"add": []}}, 400, "invalid_field", "artifacts.add"),
        ({"status": "gone"}, 400, "invalid_enum_value", "status"),
        ({"applies_to_parts": {"set": []}}, 400, "invalid_field", "applies_to_parts"),
    ]
    for body, status, error_type, field_name in cases:
        response = await update(client, admin, id=article["id"], **body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["type"] == error_type, (body, response.json())
        assert response.json().get("field_name") == field_name
        assert_conforms("/articles.update", "post", status, response.json())
    unknown = await update(client, admin, id="ART-999", title="x")
    assert unknown.status_code == 404
    assert_conforms("/articles.update", "post", 404, unknown.json())
    missing_id = await update(client, admin, title="x")
    assert missing_id.status_code == 400 and missing_id.json()["field_name"] == "id"
    unchanged = (await client.get("/articles.get", params={"id": article["id"]}, headers=admin.headers)).json()
    assert unchanged["article"] == article


# list ------------------------------------------------------------------------------------------------


async def test_list_pages_forward_and_back_with_a_total(client, admin: Actor):
    ids = [(await created(client, admin, title=f"Article {index}"))["id"] for index in range(5)]
    seen: list[str] = []
    pages: list[list[str]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/articles.list", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert_conforms("/articles.list", "get", 200, response.json())
        assert response.json()["total"] == 5
        page = [article["id"] for article in response.json()["articles"]]
        pages.append(page)
        seen += page
        cursor = response.json().get("next_cursor")
        if cursor is None:
            break
    assert seen == ids
    assert [len(page) for page in pages] == [2, 2, 1]
    second = await client.post("/articles.list", json={"limit": 2, "cursor": None}, headers=admin.headers)
    third = await client.post(
        "/articles.list", json={"limit": 2, "cursor": second.json()["next_cursor"]}, headers=admin.headers
    )
    back = await client.post(
        "/articles.list", json={"limit": 2, "cursor": third.json()["prev_cursor"]}, headers=admin.headers
    )
    assert_conforms("/articles.list", "post", 200, back.json())
    assert [article["id"] for article in back.json()["articles"]] == pages[0]
    assert "prev_cursor" not in back.json()

    bad_limit = await client.get("/articles.list", params={"limit": "0"}, headers=admin.headers)
    assert bad_limit.status_code == 400 and bad_limit.json()["field_name"] == "limit"
    garbage = await client.get("/articles.list", params={"cursor": "nope"}, headers=admin.headers)
    assert garbage.status_code == 400 and garbage.json()["type"] == "bad_request"
    other_filters = await client.post(
        "/articles.list",
        json={"limit": 2, "cursor": second.json()["next_cursor"], "article_type": ["page"]},
        headers=admin.headers,
    )
    assert other_filters.status_code == 400 and other_filters.json()["type"] == "bad_request"
    assert_conforms("/articles.list", "post", 400, other_filters.json())


async def test_list_filters(app, client, admin: Actor):
    colleague = await add_principal(app, admin, email="colleague@example.com")
    plain = await created(client, admin, title="Plain")
    await created(client, admin, title="Page", article_type="page", owned_by=[colleague.don])
    await created(client, colleague, title="Block", article_type="content_block")
    await created(client, admin, title="Both", owned_by=[admin.don, colleague.don])

    async def listed(**params: str) -> list[str]:
        response = await client.get("/articles.list", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert_conforms("/articles.list", "get", 200, response.json())
        assert response.json()["total"] == len(response.json()["articles"])
        return [article["title"] for article in response.json()["articles"]]

    # Without a type filter, content blocks are left out (as DevRev does).
    assert await listed() == ["Plain", "Page", "Both"]
    assert await listed(article_type="content_block") == ["Block"]
    assert await listed(article_type='"article","content_block"') == ["Plain", "Block", "Both"]
    assert await listed(owned_by=colleague.don) == ["Page", "Both"]
    assert await listed(owned_by=f"DEVU-{admin.user_number},{colleague.don}") == ["Plain", "Page", "Both"]
    assert await listed(created_by=colleague.don, article_type="content_block,article,page") == ["Block"]
    await update(client, colleague, id=plain["id"], title="Plain")
    assert await listed(modified_by=colleague.don) == ["Plain"]
    assert await listed(owned_by="DEVU-999") == []
    wrong = await client.get("/articles.list", params={"owned_by": "TAG-1"}, headers=admin.headers)
    assert wrong.status_code == 400 and wrong.json()["field_name"] == "owned_by[0]"
    unsupported = await client.post("/articles.list", json={"tags": ["TAG-1"]}, headers=admin.headers)
    assert unsupported.status_code == 400 and unsupported.json()["field_name"] == "tags"


# isolation ----------------------------------------------------------------------------------------


async def test_an_org_never_sees_another_orgs_articles(app, client, admin: Actor):
    mine = await created(client, admin, title="Mine")
    other = await make_org(app, "other-org")
    theirs = await created(client, other, title="Theirs")
    assert mine["display_id"] == theirs["display_id"] == "ART-1"
    for path, body in (
        ("/articles.get", {"id": mine["id"]}),
        ("/articles.update", {"id": mine["id"], "title": "Stolen"}),
        ("/articles.delete", {"id": mine["id"]}),
    ):
        response = await client.post(path, json=body, headers=other.headers)
        assert response.status_code == 404, path
    listed = (await client.get("/articles.list", headers=other.headers)).json()
    assert [article["id"] for article in listed["articles"]] == [theirs["id"]]
    assert listed["total"] == 1
    by_display = await client.get("/articles.get", params={"id": "ART-1"}, headers=other.headers)
    assert by_display.json()["article"]["title"] == "Theirs"
    # Another org's users and artifacts cannot be referenced.
    mine_artifact = await artifact(client, admin)
    foreign = await create(client, other, resource={"artifacts": [mine_artifact]})
    assert foreign.status_code == 400 and foreign.json()["field_name"] == "resource.artifacts[0]"
    assert foreign.json()["type"] == "invalid_id"
    foreign_owner = await create(client, other, owned_by=[admin.don])
    assert foreign_owner.status_code == 400 and foreign_owner.json()["type"] == "invalid_id"
    still = await client.get("/articles.get", params={"id": mine["id"]}, headers=admin.headers)
    assert still.json()["article"]["title"] == "Mine"


# for the incidents domain ----------------------------------------------------------------------------


async def test_summaries_for_incidents(app, client, admin: Actor):
    attached = await artifact(client, admin, "pia.pdf", b"12345")
    pia = await created(client, admin, title="PIA", resource={"url": "https://x.test/pia", "artifacts": [attached]})
    bare = await created(client, admin, title="Playbook", article_type="page")
    numbers = [int(pia["id"].rsplit("/", 1)[1]), int(bare["id"].rsplit("/", 1)[1])]
    async with app.state.db.read() as conn:
        summaries = await service.summaries(conn, admin.org, [*numbers, 999])
    assert set(summaries) == set(numbers)
    assert msgspec.to_builtins(summaries[numbers[0]]) == {
        "id": pia["id"],
        "display_id": pia["display_id"],
        "title": "PIA",
        "article_type": "article",
        "resource": {
            "url": "https://x.test/pia",
            "artifacts": [
                {
                    "id": attached,
                    "display_id": f"ARTIFACT-{attached.rsplit('/', 1)[1]}",
                    "file": {"type": "application/pdf", "name": "pia.pdf", "size": 5},
                }
            ],
        },
    }
    assert msgspec.to_builtins(summaries[numbers[1]]) == {
        "id": bare["id"],
        "display_id": bare["display_id"],
        "title": "Playbook",
        "article_type": "page",
        "resource": {},
    }
