from __future__ import annotations

import hashlib
import os
import stat
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from conftest import Actor, make_org, running
from contract import assert_conforms
from incidentd.app import create_app
from incidentd.artifacts import service
from incidentd.artifacts.storage import SECRET_FILE
from incidentd.artifacts.tables import artifacts
from incidentd.config import Settings
from incidentd.errors import ArtifactAlreadyAttached
from incidentd.kit.time import now_ms

SECRET = "test-artifacts-secret-0123456789"
MiB = 1024 * 1024
SPEC_PATHS = {"/artifacts.prepare", "/artifacts.get", "/artifacts.locate"}
# Statuses incidentd answers that DevRev's spec does not list (see docs/compatibility.md).
NOT_IN_SPEC = {405, 413}
# The upload and download endpoints are not in DevRev's spec; their error bodies are DevRev's error shapes.
ERRORS_LIKE = {"/artifacts.upload": "/artifacts.get", "/artifacts.download": "/artifacts.get"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        db_wait_seconds=2.0,
        log_format="console",
        artifacts_dir=tmp_path / "artifacts",
        artifacts_secret=SECRET,
    )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app's client, checking every JSON response of DevRev's paths against DevRev's schema on the way."""

    async def conforms(response: httpx.Response) -> None:
        await response.aread()
        path, method, status = response.request.url.path, response.request.method, response.status_code
        if "json" not in response.headers.get("content-type", "") or status in NOT_IN_SPEC:
            return
        if path in SPEC_PATHS:
            assert_conforms(path, method, status, response.json())
        elif path in ERRORS_LIKE and status in (400, 403, 404):
            assert_conforms(ERRORS_LIKE[path], "get", status, response.json())

    transport = httpx.ASGITransport(app=app)
    hooks = {"response": [conforms]}
    async with httpx.AsyncClient(transport=transport, base_url="http://incidentd.test", event_hooks=hooks) as http:
        yield http


async def prepare(client: httpx.AsyncClient, actor: Actor, **body: Any) -> dict[str, Any]:
    response = await client.post("/artifacts.prepare", json={"file_name": "notes.txt", **body}, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/artifacts.prepare", "post", 200, response.json())
    return response.json()


def form_of(prepared: dict[str, Any]) -> dict[str, str]:
    return {field["key"]: field["value"] for field in prepared["form_data"]}


async def upload(
    client: httpx.AsyncClient,
    prepared: dict[str, Any],
    content: bytes,
    *,
    file_name: str = "notes.txt",
    content_type: str = "text/plain",
    form: dict[str, str] | None = None,
) -> httpx.Response:
    """An upload the way a client of DevRev does it: a multipart POST of form_data, then the file."""
    return await client.post(
        prepared["url"],
        data=form if form is not None else form_of(prepared),
        files={"file": (file_name, content, content_type)},
    )


async def multipart_stream(
    fields: dict[str, str], boundary: str, chunks: AsyncIterator[bytes], *, piece: int | None = None
) -> AsyncIterator[bytes]:
    """A multipart body produced piece by piece: the fields, then the file from `chunks`; `piece` re-cuts every
    part of the body (delimiters included) into pieces of that many bytes."""

    async def whole() -> AsyncIterator[bytes]:
        for name, value in fields.items():
            yield f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        async for chunk in chunks:
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    async for chunk in whole():
        if piece is None:
            yield chunk
            continue
        for start in range(0, len(chunk), piece):
            yield chunk[start : start + piece]


async def generated(total: int, chunk: int, digest: Any) -> AsyncIterator[bytes]:
    """`total` pseudo-random bytes in chunks of `chunk`, never all in memory; `digest` sees every byte."""
    block = hashlib.sha256(b"seed").digest() * (chunk // 32 + 1)
    sent = 0
    counter = 0
    while sent < total:
        size = min(chunk, total - sent)
        data = counter.to_bytes(8, "big") + block[8:size]
        data = data[:size]
        digest.update(data)
        sent += size
        counter += 1
        yield data


async def artifact_row(app: Any, number: int) -> Any:
    async with app.state.db.read() as conn:
        return (await conn.execute(sa.select(artifacts).where(artifacts.c.number == number))).one()


def number_of(don: str) -> int:
    return int(don.rsplit("/", 1)[1])


# round trip ------------------------------------------------------------------------------------------


async def test_prepare_upload_get_locate_download_round_trip(app, client, admin: Actor):
    content = os.urandom(3 * MiB + 17)
    prepared = await prepare(client, admin, file_name="heap dump.bin", file_type="application/x-dump")
    assert prepared["id"] == f"don:core:dvrv-us-1:devo/{admin.org.slug}:artifact/{number_of(prepared['id'])}"
    assert prepared["url"] == "http://incidentd.test/artifacts.upload"
    assert set(form_of(prepared)) == {"artifact", "expires", "signature"}

    uploaded = await upload(client, prepared, content, file_name="ignored.bin", content_type="text/plain")
    assert uploaded.status_code == 204, uploaded.text

    by_get = await client.get("/artifacts.get", params={"id": prepared["id"]}, headers=admin.headers)
    by_post = await client.post(
        "/artifacts.get", json={"id": f"ARTIFACT-{number_of(prepared['id'])}"}, headers=admin.headers
    )
    assert by_get.status_code == by_post.status_code == 200, by_get.text
    assert by_get.json() == by_post.json()
    assert_conforms("/artifacts.get", "get", 200, by_get.json())
    assert_conforms("/artifacts.get", "post", 200, by_post.json())
    artifact = by_get.json()["artifact"]
    assert artifact["id"] == prepared["id"]
    assert artifact["display_id"] == f"ARTIFACT-{number_of(prepared['id'])}"
    # The type given to prepare wins over the part's Content-Type; the name is prepare's too.
    assert artifact["file"] == {"type": "application/x-dump", "name": "heap dump.bin", "size": len(content)}
    assert artifact["created_by"]["id"] == admin.don
    assert by_get.json()["version"]["version"] == "1"

    row = await artifact_row(app, number_of(prepared["id"]))
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    assert row.file_size == len(content)

    located = await client.get("/artifacts.locate", params={"id": prepared["id"]}, headers=admin.headers)
    assert located.status_code == 200, located.text
    assert_conforms("/artifacts.locate", "get", 200, located.json())
    located_post = await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)
    assert_conforms("/artifacts.locate", "post", 200, located_post.json())
    url = located.json()["url"]
    assert url.startswith("http://incidentd.test/artifacts.download?")
    expires_at = located.json()["expires_at"]
    assert expires_at.endswith("Z")

    downloaded = await client.get(url)  # no Authorization: the signed link is the permission
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == content
    assert downloaded.headers["content-type"] == "application/x-dump"
    assert downloaded.headers["content-length"] == str(len(content))
    assert downloaded.headers["content-disposition"] == 'attachment; filename="heap%20dump.bin"' or (
        downloaded.headers["content-disposition"] == "attachment; filename*=utf-8''heap%20dump.bin"
    )
    assert downloaded.headers["x-content-type-options"] == "nosniff"


async def test_the_parts_content_type_is_kept_when_prepare_named_none(client, admin: Actor):
    prepared = await prepare(client, admin, file_name="graph.png", configuration_set="default")
    assert (await upload(client, prepared, b"\x89PNG...", content_type="image/png")).status_code == 204
    artifact = (await client.get("/artifacts.get", params={"id": prepared["id"]}, headers=admin.headers)).json()
    assert artifact["artifact"]["file"] == {"type": "image/png", "name": "graph.png", "size": 7}
    located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
    downloaded = await client.get(located["url"])
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.headers["content-disposition"] == 'attachment; filename="graph.png"'


async def test_a_non_ascii_file_name_is_sent_back_encoded(client, admin: Actor):
    prepared = await prepare(client, admin, file_name="résumé.pdf")
    await upload(client, prepared, b"%PDF")
    located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
    downloaded = await client.get(located["url"])
    assert downloaded.headers["content-disposition"] == "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf"


async def test_before_its_upload_an_artifact_has_no_size_and_nothing_to_locate(client, admin: Actor):
    prepared = await prepare(client, admin, file_name="later.log")
    got = await client.get("/artifacts.get", params={"id": prepared["id"]}, headers=admin.headers)
    assert got.status_code == 200
    assert_conforms("/artifacts.get", "get", 200, got.json())
    assert got.json()["artifact"]["file"] == {"name": "later.log"}
    located = await client.get("/artifacts.locate", params={"id": prepared["id"]}, headers=admin.headers)
    assert located.status_code == 404
    assert_conforms("/artifacts.locate", "get", 404, located.json())


async def test_an_empty_file_uploads(client, admin: Actor):
    prepared = await prepare(client, admin)
    assert (await upload(client, prepared, b"")).status_code == 204
    located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
    downloaded = await client.get(located["url"])
    assert downloaded.status_code == 200 and downloaded.content == b""


async def test_content_is_uploaded_once(client, admin: Actor):
    prepared = await prepare(client, admin)
    assert (await upload(client, prepared, b"first")).status_code == 204
    again = await upload(client, prepared, b"second")
    assert again.status_code == 409
    assert again.json()["type"] == "conflict"
    located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
    assert (await client.get(located["url"])).content == b"first"


# streaming -----------------------------------------------------------------------------------------


async def test_a_20_mb_upload_streams_through_without_being_held_in_memory(client, admin: Actor):
    total, chunk = 20 * MiB, 64 * 1024
    prepared = await prepare(client, admin, file_name="big.bin")
    boundary = "incidentd-test-boundary"
    sent = hashlib.sha256()
    body = multipart_stream(form_of(prepared), boundary, generated(total, chunk, sent))
    tracemalloc.start()
    try:
        response = await client.post(
            prepared["url"],
            content=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 204, response.text
    # Client and server together never held more than a few chunks plus the write buffer: not the 20 MB file.
    assert peak < 6 * MiB, f"peak traced memory {peak} bytes"

    got = (await client.get("/artifacts.get", params={"id": prepared["id"]}, headers=admin.headers)).json()
    assert got["artifact"]["file"]["size"] == total
    located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
    downloaded = await client.get(located["url"])
    assert hashlib.sha256(downloaded.content).hexdigest() == sent.hexdigest()


async def test_delimiters_split_across_tiny_chunks_are_found(client, admin: Actor):
    boundary = "b0undary"
    # Content that looks like the start of a delimiter, more than once, and ends in a CR.
    content = b"line\r\n--b0und\r\n--b0undar\r\n-\r\n--\r\r\n" * 40 + b"\r"

    async def one_chunk() -> AsyncIterator[bytes]:
        yield content

    for piece in (1, 3, 7):
        prepared = await prepare(client, admin)
        body = multipart_stream(form_of(prepared), boundary, one_chunk(), piece=piece)
        response = await client.post(
            prepared["url"], content=body, headers={"Content-Type": f'multipart/form-data; boundary="{boundary}"'}
        )
        assert response.status_code == 204, response.text
        located = (await client.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
        assert (await client.get(located["url"])).content == content


async def test_fields_the_form_does_not_need_are_ignored(client, admin: Actor):
    prepared = await prepare(client, admin)
    form = {"Content-Type": "text/plain", **form_of(prepared), "acl": "private"}
    assert (await upload(client, prepared, b"data", form=form)).status_code == 204


# size limit ----------------------------------------------------------------------------------------


async def test_an_artifact_over_the_size_limit_is_413_and_leaves_nothing_behind(settings: Settings, admin: Actor):
    limited = settings.model_copy(update={"max_artifact_bytes": 1000})
    async with (
        running(create_app(limited)) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://incidentd.test") as client,
    ):
        exact = await prepare(client, admin)
        assert (await upload(client, exact, b"x" * 1000)).status_code == 204
        over = await prepare(client, admin)
        response = await upload(client, over, b"x" * 1001)
        assert response.status_code == 413
        assert response.json() == {
            "type": "request_entity_too_large",
            "message": response.json()["message"],
            "max_bytes": 1000,
        }
        # Announced too large: refused before reading.
        announced = await client.post(
            over["url"],
            content=b"--b--\r\n",
            headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(10 * MiB)},
        )
        assert announced.status_code == 413
        got = (await client.get("/artifacts.get", params={"id": over["id"]}, headers=admin.headers)).json()
        assert "size" not in got["artifact"]["file"]
        assert list((limited.artifacts_dir / "incoming").iterdir()) == []


async def test_the_upload_route_is_not_bound_by_the_json_body_limit(client, admin: Actor, settings: Settings):
    content = os.urandom(settings.max_body_bytes * 2)
    prepared = await prepare(client, admin)
    assert (await upload(client, prepared, content)).status_code == 204
    too_big_json = await client.post(
        "/artifacts.prepare", content=b"{" + b" " * settings.max_body_bytes + b"}", headers=admin.headers
    )
    assert too_big_json.status_code == 413


# signatures ----------------------------------------------------------------------------------------


async def test_an_upload_needs_a_valid_unexpired_signature(client, admin: Actor):
    prepared = await prepare(client, admin)
    other = await prepare(client, admin)
    form = form_of(prepared)

    tampered = await upload(client, prepared, b"x", form={**form, "signature": "0" * 64})
    assert tampered.status_code == 403
    assert tampered.json()["type"] == "forbidden"
    assert_conforms("/artifacts.get", "get", 403, tampered.json())
    swapped = await upload(client, prepared, b"x", form={**form, "artifact": other["id"]})
    assert swapped.status_code == 403
    longer = await upload(client, prepared, b"x", form={**form, "expires": str(int(form["expires"]) + 3600)})
    assert longer.status_code == 403
    past = now_ms() // 1000 - 1
    expired_form = {
        "artifact": prepared["id"],
        "expires": str(past),
        "signature": service.sign(SECRET.encode(), "upload", prepared["id"], past),
    }
    expired = await upload(client, prepared, b"x", form=expired_form)
    assert expired.status_code == 403
    assert "expired" in expired.json()["message"]
    # None of those wrote anything.
    got = (await client.get("/artifacts.get", params={"id": prepared["id"]}, headers=admin.headers)).json()
    assert "size" not in got["artifact"]["file"]
    assert (await upload(client, prepared, b"x")).status_code == 204


async def test_malformed_uploads_are_400s_naming_what_is_missing(client, admin: Actor):
    prepared = await prepare(client, admin)
    form = form_of(prepared)
    without_signature = await upload(client, prepared, b"x", form={k: v for k, v in form.items() if k != "signature"})
    assert without_signature.status_code == 400
    assert without_signature.json()["type"] == "missing_required_field"
    assert without_signature.json()["field_name"] == "signature"

    without_file = await client.post(prepared["url"], data=form, files={"other": ("a", b"x")})
    assert without_file.status_code == 400
    assert without_file.json()["field_name"] == "file"

    json_body = await client.post(prepared["url"], json=form)
    assert json_body.status_code == 400
    assert json_body.json()["type"] == "parse_error"

    truncated = await client.post(
        prepared["url"],
        content=b'--b\r\nContent-Disposition: form-data; name="artifact"\r\n\r\nvalue-without-end',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert truncated.status_code == 400
    assert truncated.json()["type"] == "parse_error"


async def test_a_download_link_is_signed_and_expires(client, admin: Actor):
    first = await prepare(client, admin)
    second = await prepare(client, admin)
    await upload(client, first, b"first")
    await upload(client, second, b"second")
    located = (await client.post("/artifacts.locate", json={"id": first["id"]}, headers=admin.headers)).json()
    parts = urlsplit(located["url"])
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert set(query) == {"artifact", "expires", "signature"}
    assert int(query["expires"]) - now_ms() // 1000 in range(590, 601)

    def link(**changes: str) -> str:
        return f"/artifacts.download?{urlencode({**query, **changes})}"

    for bad in (
        link(signature="f" * 64),
        link(artifact=second["id"]),
        link(expires=str(int(query["expires"]) + 600)),
        "/artifacts.download",
        link(expires="soon"),
    ):
        response = await client.get(bad)
        assert response.status_code == 403, bad
        assert response.json()["type"] == "forbidden"
    # An upload signature does not open a download, even for the same artifact.
    upload_fields = form_of(first)
    assert (await client.get(f"/artifacts.download?{urlencode(upload_fields)}")).status_code == 403
    past = now_ms() // 1000 - 1
    expired = link(expires=str(past), signature=service.sign(SECRET.encode(), "download", first["id"], past))
    response = await client.get(expired)
    assert response.status_code == 403 and "expired" in response.json()["message"]
    assert (await client.get(link())).content == b"first"


async def test_a_signed_link_to_content_never_uploaded_is_404(client, admin: Actor):
    prepared = await prepare(client, admin)
    expires = now_ms() // 1000 + 60
    fields = {
        "artifact": prepared["id"],
        "expires": str(expires),
        "signature": service.sign(SECRET.encode(), "download", prepared["id"], expires),
    }
    response = await client.get(f"/artifacts.download?{urlencode(fields)}")
    assert response.status_code == 404
    assert response.json()["type"] == "not_found"


async def test_without_a_configured_secret_every_worker_derives_the_same_one(settings: Settings, admin: Actor):
    derived = settings.model_copy(update={"artifacts_secret": None})
    async with (
        running(create_app(derived)) as first_app,
        running(create_app(derived)) as second_app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first_app), base_url="http://one.test") as first,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second_app), base_url="http://two.test") as second,
    ):
        prepared = await prepare(first, admin)
        secret_file = derived.artifacts_dir / SECRET_FILE
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert len(secret_file.read_text()) == 64
        # Signed by one worker, accepted by the other.
        assert (await upload(second, prepared, b"shared")).status_code == 204
        located = (await second.post("/artifacts.locate", json={"id": prepared["id"]}, headers=admin.headers)).json()
        assert located["url"].startswith("http://two.test/")
        path = urlsplit(located["url"])
        assert (await first.get(f"{path.path}?{path.query}")).content == b"shared"
        # The configured secret is another secret: its links are not the derived one's.
        configured = settings
        async with (
            running(create_app(configured)) as third_app,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=third_app), base_url="http://three.test") as third,
        ):
            assert (await third.get(f"{path.path}?{path.query}")).status_code == 403


# errors and isolation ------------------------------------------------------------------------------


async def test_get_and_locate_errors(client, admin: Actor):
    prepared = await prepare(client, admin)
    for path in ("/artifacts.get", "/artifacts.locate"):
        unknown = await client.get(path, params={"id": "ARTIFACT-999"}, headers=admin.headers)
        assert unknown.status_code == 404
        assert_conforms(path, "get", 404, unknown.json())
        wrong_kind = await client.post(path, json={"id": "TAG-1"}, headers=admin.headers)
        assert wrong_kind.status_code == 400
        assert wrong_kind.json()["type"] == "unexpected_id_type" and wrong_kind.json()["field_name"] == "id"
        assert_conforms(path, "post", 400, wrong_kind.json())
        malformed = await client.get(path, params={"id": "artifact-please"}, headers=admin.headers)
        assert malformed.status_code == 400 and malformed.json()["type"] == "invalid_id"
        missing = await client.post(path, json={}, headers=admin.headers)
        assert missing.status_code == 400 and missing.json()["type"] == "missing_required_field"
        unknown_field = await client.post(path, json={"id": prepared["id"], "x": 1}, headers=admin.headers)
        assert unknown_field.status_code == 400 and unknown_field.json()["field_name"] == "x"
        unauthenticated = await client.post(path, json={"id": prepared["id"]})
        assert unauthenticated.status_code == 401
    other_version = await client.get(
        "/artifacts.get", params={"id": prepared["id"], "version": "2"}, headers=admin.headers
    )
    assert other_version.status_code == 404
    same_version = await client.get(
        "/artifacts.get", params={"id": prepared["id"], "version": "1"}, headers=admin.headers
    )
    assert same_version.status_code == 200


async def test_prepare_validates_its_fields(client, admin: Actor):
    cases = [
        ({}, "missing_required_field", "file_name"),
        ({"file_name": "  "}, "invalid_field", "file_name"),
        ({"file_name": "x" * 513}, "invalid_field", "file_name"),
        ({"file_name": "a\nb"}, "invalid_field", "file_name"),
        ({"file_name": "a", "file_type": "t" * 257}, "invalid_field", "file_type"),
        ({"file_name": "a", "configuration_set": "nope"}, "invalid_enum_value", "configuration_set"),
        ({"file_name": 5}, "unexpected_json_type", "file_name"),
        ({"file_name": "a", "bucket": "b"}, "invalid_field", "bucket"),
    ]
    for body, error_type, field in cases:
        response = await client.post("/artifacts.prepare", json=body, headers=admin.headers)
        assert response.status_code == 400, body
        assert response.json()["type"] == error_type, (body, response.json())
        assert response.json()["field_name"] == field
        assert_conforms("/artifacts.prepare", "post", 400, response.json())
    assert (await client.post("/artifacts.prepare", json={"file_name": "a"})).status_code == 401
    assert (await client.get("/artifacts.prepare", headers=admin.headers)).status_code == 405


async def test_an_org_never_sees_another_orgs_artifacts(app, client, admin: Actor):
    mine = await prepare(client, admin, file_name="mine.txt")
    await upload(client, mine, b"mine")
    other = await make_org(app, "other-org")
    theirs = await prepare(client, other, file_name="theirs.txt")
    assert number_of(theirs["id"]) == 1 == number_of(mine["id"])
    for path in ("/artifacts.get", "/artifacts.locate"):
        response = await client.post(path, json={"id": mine["id"]}, headers=other.headers)
        assert response.status_code == 404, path
    # The same display id names each org's own artifact.
    got = await client.get("/artifacts.get", params={"id": "ARTIFACT-1"}, headers=other.headers)
    assert got.json()["artifact"]["id"] == theirs["id"]
    assert got.json()["artifact"]["file"]["name"] == "theirs.txt"
    # An upload form of one org does not fill another org's artifact.
    assert (
        await upload(client, theirs, b"theirs", form={**form_of(theirs), "artifact": mine["id"]})
    ).status_code == 403


async def test_attachment_functions_for_other_domains(app, client, admin: Actor):
    first, second, third = [await prepare(client, admin, file_name=f"{n}.txt") for n in ("a", "b", "c")]
    numbers = [number_of(item["id"]) for item in (first, second, third)]
    db = app.state.db
    org = admin.org
    async with db.write() as conn:
        assert await service.lookup(conn, org.dev_org_id, [*numbers, 99]) == dict.fromkeys(numbers, "artifact")
        await service.attach(
            conn, org, [numbers[2], numbers[0]], parent_kind="incident", parent_number=7, field_name="f"
        )
        await service.attach(conn, org, [numbers[1]], parent_kind="incident", parent_number=8, field_name="f")
    async with db.read() as conn:
        attached, attached_summaries = await service.attached_with_summaries(conn, org, "incident", [7, 8, 9])
        assert attached == {7: [numbers[2], numbers[0]], 8: [numbers[1]]}
        summaries = await service.summaries(conn, org, numbers)
    assert summaries[numbers[0]].file is not None and summaries[numbers[0]].file.name == "a.txt"
    assert attached_summaries == summaries
    async with db.write() as conn:
        # Same parent again: no error, the new order holds.
        await service.attach(
            conn, org, [numbers[0], numbers[2]], parent_kind="incident", parent_number=7, field_name="f"
        )
        with pytest.raises(ArtifactAlreadyAttached) as raised:
            await service.attach(conn, org, [numbers[1]], parent_kind="incident", parent_number=7, field_name="f")
    assert raised.value.fields == {"existing_parent": org.don("incident", 8), "is_same": False}
    async with db.write() as conn:
        await service.detach(conn, org, parent_kind="incident", parent_number=7, keep=[numbers[2]])
    async with db.read() as conn:
        attached, _ = await service.attached_with_summaries(conn, org, "incident", [7, 8])
        assert attached == {7: [numbers[2]], 8: [numbers[1]]}
