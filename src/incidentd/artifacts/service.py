"""Rules of artifacts: prepare an artifact and a signed upload form, receive its content once, hand out signed,
time-limited download links, and keep every artifact attached to at most one parent object.

Links are signed with HMAC-SHA256 over (purpose, artifact DON, expiry) with the artifacts secret, so the upload and
download endpoints need no token: the link itself is the permission.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.artifacts import repository, schemas
from incidentd.artifacts.multipart import MultipartReader, PartHeaders, boundary_of
from incidentd.artifacts.storage import ArtifactStore, Received
from incidentd.db import Database
from incidentd.errors import (
    ArtifactAlreadyAttached,
    Conflict,
    Forbidden,
    InvalidField,
    InvalidId,
    MissingRequiredField,
    NotFound,
    ParseError,
    RequestEntityTooLarge,
)
from incidentd.identity import service as identity
from incidentd.kit import counters, ids
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.principal import OrgScope, Principal

UPLOAD_PATH = "/artifacts.upload"
DOWNLOAD_PATH = "/artifacts.download"
# Checked when the upload's file part begins, so a slow upload that started in time completes.
UPLOAD_LINK_SECONDS = 60 * 60
DOWNLOAD_LINK_SECONDS = 10 * 60
# The upload form: these fields (from artifacts.prepare's form_data), then the `file` part.
UPLOAD_FIELDS = ("artifact", "expires", "signature")
FILE_FIELD = "file"
_MAX_FORM_FIELDS = 16
_MAX_FIELD_BYTES = 4096
# What a multipart body may carry besides the file itself (fields, part headers, delimiters).
_MAX_FORM_OVERHEAD = 256 * 1024
_MAX_FILE_NAME = schemas.MAX_FILE_NAME
_MAX_FILE_TYPE = schemas.MAX_FILE_TYPE
_PRINTABLE_ASCII = set(string.printable) - set("\t\n\r\x0b\x0c")


def store_of(db: Database) -> ArtifactStore:
    return ArtifactStore(Path(db.settings.artifacts_dir))


def _secret(db: Database) -> bytes:
    configured = db.settings.artifacts_secret
    return configured.encode("utf-8") if configured else store_of(db).signing_secret()


def sign(secret: bytes, purpose: str, artifact: str, expires: int) -> str:
    """The signature of a link: `purpose` (upload | download) keeps one kind of link from serving as the other."""
    message = f"{purpose}\n{artifact}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def upload_signature(db: Database, artifact: str, expires: int) -> str:
    """The signature of the upload link of `artifact` expiring at `expires` (seconds), as prepare signs it."""
    return sign(_secret(db), "upload", artifact, expires)


def _check_link(
    db: Database, purpose: str, artifact: str | None, expires: str | None, signature: str | None
) -> ids.ObjectId:
    """The artifact a signed link names; 403 forbidden when the link is incomplete, altered or expired."""
    if artifact is None or expires is None or signature is None:
        raise Forbidden(f"the {purpose} link is incomplete")
    try:
        expires_at = int(expires)
    except ValueError:
        raise Forbidden(f"the {purpose} link is not valid") from None
    expected = sign(_secret(db), purpose, artifact, expires_at)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Forbidden(f"the {purpose} link's signature is not valid")
    if expires_at * 1000 < now_ms():
        raise Forbidden(f"the {purpose} link has expired")
    parsed = ids.try_parse(artifact)
    if parsed is None or parsed.kind.name != "artifact" or parsed.org_slug is None:
        raise Forbidden(f"the {purpose} link is not valid")
    return parsed


def _signed_fields(secret: bytes, purpose: str, artifact: str, expires: int) -> dict[str, str]:
    return {"artifact": artifact, "expires": str(expires), "signature": sign(secret, purpose, artifact, expires)}


def _checked_text(value: str | None, *, field_name: str, limit: int, required: bool) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if required and not text:
        raise InvalidField(f"{field_name} must not be empty", field_name=field_name)
    if len(text) > limit:
        raise InvalidField(f"{field_name} is longer than {limit} characters", field_name=field_name)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise InvalidField(f"{field_name} contains control characters", field_name=field_name)
    return text or None


def _media_type(value: str | None) -> str | None:
    """A part's Content-Type, if it is a plausible media type to store and send back."""
    if value is None or len(value) > _MAX_FILE_TYPE or not set(value) <= _PRINTABLE_ASCII or "/" not in value:
        return None
    return value.strip()


# prepare / get / locate ----------------------------------------------------------------------------


async def prepare(
    db: Database, principal: Principal, request: schemas.ArtifactsPrepareRequest, *, base_url: str
) -> schemas.ArtifactsPrepareResponse:
    """Create an artifact without content and the form that uploads its content to `base_url`'s upload endpoint."""
    file_name = _checked_text(request.file_name, field_name="file_name", limit=_MAX_FILE_NAME, required=True)
    file_type = _checked_text(request.file_type, field_name="file_type", limit=_MAX_FILE_TYPE, required=False)
    secret = _secret(db)  # before creating anything: without a secret there is no upload form to give
    org = principal.org
    async with db.write() as conn:
        number = await counters.allocate(conn, org.dev_org_id, "artifact")
        now = now_ms()
        await repository.insert(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            file_name=file_name,
            file_type=file_type,
            # Unguessable, and never reused even if a database is reset over an old artifacts directory.
            storage_key=f"{org.dev_org_id}/{number}-{secrets.token_hex(8)}",
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
        )
    don = org.don("artifact", number)
    expires = now // 1000 + UPLOAD_LINK_SECONDS
    fields = _signed_fields(secret, "upload", don, expires)
    return schemas.ArtifactsPrepareResponse(
        id=don,
        url=base_url.rstrip("/") + UPLOAD_PATH,
        form_data=[schemas.FormField(key=key, value=value) for key, value in fields.items()],
    )


async def _find(conn: AsyncConnection, org: OrgScope, reference: str, version: str | None) -> Any:
    parsed = ids.parse(reference, "artifact", field_name="id")
    row = None
    if org.owns(parsed):
        row = (await repository.get_many(conn, org.dev_org_id, [parsed.number])).get(parsed.number)
    if row is None:
        raise NotFound(f"artifact '{reference}' does not exist")
    if version is not None and version != schemas.VERSION:
        raise NotFound(f"artifact '{reference}' has no version '{version}'")
    return row


async def get(
    db: Database, principal: Principal, reference: str, version: str | None = None
) -> schemas.ArtifactsGetResponse:
    org = principal.org
    async with db.read() as conn:
        row = await _find(conn, org, reference, version)
        users = await identity.users_by_number(
            conn, org, [n for n in (row.created_by, row.modified_by) if n is not None]
        )
    return schemas.ArtifactsGetResponse(
        artifact=schemas.artifact(row, org, users), version=schemas.artifact_version(row, org, users)
    )


async def locate(
    db: Database, principal: Principal, reference: str, version: str | None = None, *, base_url: str
) -> schemas.ArtifactsLocateResponse:
    """A download link for the artifact's content, valid for DOWNLOAD_LINK_SECONDS; 404 before the upload."""
    async with db.read() as conn:
        row = await _find(conn, principal.org, reference, version)
    if row.uploaded_date is None:
        raise NotFound(f"artifact '{reference}' has no uploaded content yet")
    expires = now_ms() // 1000 + DOWNLOAD_LINK_SECONDS
    query = urlencode(_signed_fields(_secret(db), "download", principal.org.don("artifact", row.number), expires))
    return schemas.ArtifactsLocateResponse(
        url=f"{base_url.rstrip('/')}{DOWNLOAD_PATH}?{query}", expires_at=to_rfc3339(expires * 1000)
    )


# upload / download ---------------------------------------------------------------------------------


async def upload(
    db: Database, *, content_type: str | None, content_length: int | None, body: AsyncIterator[bytes]
) -> None:
    """Receive an artifact's content from a multipart form (the prepare form's fields, then `file`), streaming
    the file to disk. The content is set once: a second upload of the same artifact is 409 conflict."""
    limit = db.settings.max_artifact_bytes
    if content_length is not None and content_length > limit + _MAX_FORM_OVERHEAD:
        raise RequestEntityTooLarge(f"the artifact exceeds the limit of {limit} bytes", max_bytes=limit)
    reader = MultipartReader(body, boundary_of(content_type))
    fields: dict[str, str] = {}
    part = await reader.next_part()
    while part is not None and part.name != FILE_FIELD:
        if len(fields) >= _MAX_FORM_FIELDS:
            raise ParseError(f"the upload form has more than {_MAX_FORM_FIELDS} fields")
        fields[part.name] = (await reader.value(limit=_MAX_FIELD_BYTES)).decode("utf-8", errors="replace")
        part = await reader.next_part()
    for name in UPLOAD_FIELDS:
        if name not in fields:
            raise MissingRequiredField(f"the upload form has no '{name}' field before the file", field_name=name)
    if part is None:
        raise MissingRequiredField(f"the upload form has no '{FILE_FIELD}' part", field_name=FILE_FIELD)
    parsed = _check_link(db, "upload", fields["artifact"], fields["expires"], fields["signature"])
    org, row = await _uploadable(db, parsed, fields["artifact"])
    store = store_of(db)
    received = await store.receive(reader.data(), max_bytes=limit)
    await _publish(db, store, org, row, received, part)


async def _uploadable(db: Database, parsed: ids.ObjectId, reference: str) -> tuple[OrgScope, Any]:
    assert parsed.org_slug is not None
    async with db.read() as conn:
        org = await identity.find_org(conn, db.settings.don_partition, parsed.org_slug)
    return org, await _without_content(db, org, parsed.number, reference)


async def _without_content(db: Database, org: OrgScope, number: int, reference: str) -> Any:
    """The artifact's row, if it exists and has no content yet (404, else 409)."""
    async with db.read() as conn:
        row = (await repository.get_many(conn, org.dev_org_id, [number])).get(number)
    if row is None:
        raise NotFound(f"artifact '{reference}' does not exist")
    if row.uploaded_date is not None:
        raise Conflict(f"artifact '{reference}' has its content already")
    return row


async def _publish(
    db: Database, store: ArtifactStore, org: OrgScope, row: Any, received: Received, part: PartHeaders
) -> None:
    published = False
    try:
        async with db.write() as conn:
            recorded = await repository.mark_uploaded(
                conn,
                org.dev_org_id,
                row.number,
                size=received.size,
                sha256=received.sha256,
                file_type=row.file_type or _media_type(part.content_type),
                now=now_ms(),
            )
            if not recorded:
                raise Conflict(f"artifact '{org.don('artifact', row.number)}' has its content already")
            await counters.summaries_changed(conn, org.dev_org_id)  # stored incident documents name it
            # Inside the transaction: if the rename fails nothing is recorded; if the commit fails, a retried
            # upload replaces the file.
            await store.publish(received, row.storage_key)
            published = True
    finally:
        if not published:
            store.discard(received)


async def receive(
    db: Database, principal: Principal, reference: str, *, data: AsyncIterator[bytes], content_type: str | None
) -> None:
    """Receive the content of an artifact the caller's org prepared, from the caller's own session (the web app's
    comment form) instead of a signed upload link: the same size limit, storage and once-only rule as `upload`."""
    parsed = ids.parse(reference, "artifact", field_name="id")
    if not principal.org.owns(parsed):
        raise NotFound(f"artifact '{reference}' does not exist")
    row = await _without_content(db, principal.org, parsed.number, reference)
    store = store_of(db)
    received = await store.receive(data, max_bytes=db.settings.max_artifact_bytes)
    part = PartHeaders(name=FILE_FIELD, filename=None, content_type=content_type)
    await _publish(db, store, principal.org, row, received, part)


@dataclass(frozen=True)
class Download:
    path: Path
    file_name: str
    file_type: str | None
    size: int


async def download(db: Database, *, artifact: str | None, expires: str | None, signature: str | None) -> Download:
    """The stored content a signed download link names; 403 for a bad or expired link, 404 without content."""
    parsed = _check_link(db, "download", artifact, expires, signature)
    assert parsed.org_slug is not None
    async with db.read() as conn:
        org = await identity.find_org(conn, db.settings.don_partition, parsed.org_slug)
        row = (await repository.get_many(conn, org.dev_org_id, [parsed.number])).get(parsed.number)
    if row is None or row.uploaded_date is None:
        raise NotFound(f"artifact '{artifact}' has no content")
    store = store_of(db)
    size = await store.size_of(row.storage_key)
    if size is None:
        raise NotFound(f"the content of artifact '{artifact}' is missing from storage")
    return Download(store.path_of(row.storage_key), row.file_name, row.file_type, size)


# for the objects artifacts attach to ---------------------------------------------------------------


async def lookup(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """{number: "artifact"} of the artifacts that exist (a `kit.references.Lookup`)."""
    return {number: "artifact" for number in await repository.existing(conn, dev_org_id, numbers)}


async def summaries(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, schemas.ArtifactSummary]:
    """DevRev's artifact-summary of each existing artifact, in one query."""
    rows = await repository.get_many(conn, org.dev_org_id, numbers)
    return {number: schemas.artifact_summary(row, org) for number, row in rows.items()}


async def attach(
    conn: AsyncConnection,
    org: OrgScope,
    numbers: list[int],
    *,
    parent_kind: str,
    parent_number: int,
    field_name: str,
) -> None:
    """Attach the artifacts (resolved numbers) to a parent, each at its index in `numbers`.

    An artifact attached to this same parent already stays attached (in its new position); one attached to
    another parent is 400 `artifact_already_attached_to_a_parent` naming that parent. Raise inside the caller's
    unit of work, which then rolls back whatever it did.
    """
    if not numbers:
        return
    rows = await repository.get_many(conn, org.dev_org_id, numbers, for_update=True)
    for index, number in enumerate(numbers):
        row = rows.get(number)
        element = f"{field_name}[{index}]"
        if row is None:
            raise InvalidId(f"'{ids.to_display('artifact', number)}' does not exist", field_name=element)
        if row.parent_kind is None:
            continue
        is_same = (row.parent_kind, row.parent_number) == (parent_kind, parent_number)
        if not is_same:
            existing_parent = org.don(row.parent_kind, row.parent_number)
            raise ArtifactAlreadyAttached(
                f"{element}: artifact '{org.don('artifact', number)}' is attached to '{existing_parent}' already",
                existing_parent=existing_parent,
                is_same=False,
            )
    await repository.attach(conn, org.dev_org_id, numbers, parent_kind=parent_kind, parent_number=parent_number)


async def detach(
    conn: AsyncConnection, org: OrgScope, *, parent_kind: str, parent_number: int, keep: Sequence[int] = ()
) -> None:
    """Free every artifact of the parent except those in `keep`."""
    await repository.detach(conn, org.dev_org_id, parent_kind=parent_kind, parent_number=parent_number, keep=keep)


async def free(conn: AsyncConnection, dev_org_id: int, *, parent_kind: str, parent_numbers: Iterable[int]) -> None:
    """Free every artifact of these parents: for parents removed by the server itself (an expiry sweep), where
    there is no caller's org scope, only the org's row id."""
    for number in sorted(set(parent_numbers)):
        await repository.detach(conn, dev_org_id, parent_kind=parent_kind, parent_number=number, keep=())


async def attached_with_summaries(
    conn: AsyncConnection, org: OrgScope, parent_kind: str, parent_numbers: Iterable[int]
) -> tuple[dict[int, list[int]], dict[int, schemas.ArtifactSummary]]:
    """Parent number -> the numbers of its artifacts in position order (parents without any are left out), and
    number -> artifact-summary of those artifacts, in one query."""
    numbers: dict[int, list[int]] = {}
    summaries: dict[int, schemas.ArtifactSummary] = {}
    for row in await repository.attached(conn, org.dev_org_id, parent_kind, parent_numbers):
        numbers.setdefault(row.parent_number, []).append(row.number)
        summaries[row.number] = schemas.artifact_summary(row, org)
    return numbers, summaries


async def attached_summaries(
    conn: AsyncConnection, org: OrgScope, parent_kind: str, parent_numbers: Iterable[int]
) -> dict[int, list[schemas.ArtifactSummary]]:
    """Parent number -> the artifact-summaries of its artifacts in position order, in one query."""
    found: dict[int, list[schemas.ArtifactSummary]] = {}
    for row in await repository.attached(conn, org.dev_org_id, parent_kind, parent_numbers):
        found.setdefault(row.parent_number, []).append(schemas.artifact_summary(row, org))
    return found
