"""No secret is stored in clear: after every operation that hands one out (with and without Idempotency-Key, and its
replays), every table of the database is dumped and searched for each secret. Token hashes are what is kept."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from conftest import Actor, make_org
from contract import assert_conforms
from incidentd import db as database
from incidentd.identity import service as identity


async def dump_database(db: database.Database) -> str:
    """Every value of every table (the migrations' own included), as one text."""
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        values: list[str] = []
        for name in names:
            for row in (await conn.execute(sa.select(sa.text("*")).select_from(sa.table(name)))).all():
                for value in row:
                    values.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return "\n".join(values)


def assert_not_stored(dump: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in dump, f"a secret ({secret[:8]}...) is stored in clear"


async def create_token(client: Any, actor: Actor, key: str) -> Any:
    return await client.post(
        "/auth-tokens.create", json={"token_hint": "ci"}, headers={**actor.headers, "Idempotency-Key": key}
    )


async def test_a_replayed_token_create_answers_the_tokens_metadata_and_no_secret(app, client):
    actor = await make_org(app, "rest")
    first = await create_token(client, actor, "token-1")
    assert first.status_code == 201
    secret = first.json()["access_token"]
    assert (await client.get("/dev-users.self", headers={"Authorization": f"Bearer {secret}"})).status_code == 200

    replay = await create_token(client, actor, "token-1")
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    body = replay.json()
    assert "access_token" not in body and secret not in replay.text
    assert "not in this answer" in body["message"] and "auth-tokens.delete" in body["message"]
    assert body["token_type"] == "bearer" and body["expires_in"] == first.json()["expires_in"]
    listed = (await client.get("/auth-tokens.list", headers=actor.headers)).json()["tokens"]
    created = [token for token in listed if token.get("token_hint") == "ci"]
    assert len(created) == 1  # the replay created nothing
    assert body["token"] == created[0]
    assert body["token"]["status"] == "active"

    # Revoked since: the replay says so, and still shows no secret.
    assert (
        await client.post("/auth-tokens.delete", json={"token_id": created[0]["id"]}, headers=actor.headers)
    ).status_code == 200
    again = (await create_token(client, actor, "token-1")).json()
    assert again["token"]["status"] == "revoked" and "access_token" not in again

    assert_not_stored(await dump_database(app.state.db), [secret, actor.token])
    assert identity.hash_token(secret) in await dump_database(app.state.db)  # the dump does show the tables


async def test_a_replayed_artifact_prepare_signs_the_same_link_without_storing_it(app, client):
    actor = await make_org(app, "links")
    headers = {**actor.headers, "Idempotency-Key": "prepare-1"}
    first = await client.post("/artifacts.prepare", json={"file_name": "a.txt"}, headers=headers)
    assert first.status_code == 200
    replay = await client.post("/artifacts.prepare", json={"file_name": "a.txt"}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == first.content
    assert_conforms("/artifacts.prepare", "post", 200, replay.json())
    form = {field["key"]: field["value"] for field in replay.json()["form_data"]}
    uploaded = await client.post(replay.json()["url"], data=form, files={"file": ("a.txt", b"content")})
    assert uploaded.status_code == 204

    # A read's POST form with a key writes nothing, so nothing of its answer is kept either.
    located = await client.post(
        "/artifacts.locate", json={"id": first.json()["id"]}, headers={**actor.headers, "Idempotency-Key": "locate-1"}
    )
    assert located.status_code == 200

    dump = await dump_database(app.state.db)
    assert first.json()["id"] in dump
    assert_not_stored(dump, [form["signature"], located.json()["url"].split("signature=")[1], actor.token])
