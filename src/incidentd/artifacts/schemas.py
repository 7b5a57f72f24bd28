"""Wire types of /artifacts.* (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from incidentd.identity.schemas import user_summary
from incidentd.kit import ids
from incidentd.kit.bounds import Id
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response, UserSummary
from incidentd.principal import OrgScope

ConfigurationSet = Literal[
    "article_media",
    "default",
    "email_media",
    "job_data",
    "marketplace_listing_icon",
    "marketplace_media",
    "org_logo",
    "plug_setting",
    "plug_setting_banner_card",
    "portal_css",
    "snap_in_functions_code",
    "snap_widget",
    "user_profile_picture",
    "work",
]

# Each artifact has exactly one content (uploaded once), so it has exactly one version.
VERSION = "1"
Version = Annotated[str, msgspec.Meta(max_length=64)]


class ArtifactFile(Response):
    type: str | None = None
    name: str | None = None
    size: int | None = None


class Artifact(Response):
    id: str
    display_id: str | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None
    file: ArtifactFile | None = None


class ArtifactSummary(Response):
    id: str
    display_id: str | None = None
    file: ArtifactFile | None = None


class ArtifactVersion(Response):
    timestamp: str
    version: str
    modified_by: UserSummary | None = None


MAX_FILE_NAME = 512
MAX_FILE_TYPE = 256


class ArtifactsPrepareRequest(Request):
    # The columns' sizes, as sent (blanks around included); the service also refuses a blank name.
    file_name: Annotated[str, msgspec.Meta(max_length=MAX_FILE_NAME)]
    file_type: Annotated[str, msgspec.Meta(max_length=MAX_FILE_TYPE)] | None = None
    configuration_set: ConfigurationSet | None = None


class FormField(Response):
    key: str
    value: str


class ArtifactsPrepareResponse(Response):
    id: str
    url: str
    form_data: list[FormField]


class ArtifactsGetRequest(Request):
    id: Id
    version: Version | None = None


class ArtifactsGetResponse(Response):
    artifact: Artifact
    version: ArtifactVersion


class ArtifactsLocateRequest(Request):
    id: Id
    version: Version | None = None


class ArtifactsLocateResponse(Response):
    url: str
    expires_at: str | None = None


# rows -> wire ----------------------------------------------------------------------------------------


def artifact_file(row: Any) -> ArtifactFile:
    return ArtifactFile(type=row.file_type, name=row.file_name, size=row.file_size)


def artifact(row: Any, org: OrgScope, users: dict[int, Any]) -> Artifact:
    """The artifact object; `users` holds the rows of its creator and modifier (resolved in one query)."""
    creator = users.get(row.created_by) if row.created_by is not None else None
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return Artifact(
        id=org.don("artifact", row.number),
        display_id=ids.to_display("artifact", row.number),
        created_by=user_summary(creator, org) if creator is not None else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(modifier, org) if modifier is not None else None,
        modified_date=to_rfc3339(row.modified_date),
        file=artifact_file(row),
    )


def artifact_version(row: Any, org: OrgScope, users: dict[int, Any]) -> ArtifactVersion:
    """The artifact's only version: its content, dated by the upload (by the creation before it)."""
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return ArtifactVersion(
        timestamp=to_rfc3339(row.uploaded_date if row.uploaded_date is not None else row.created_date),
        version=VERSION,
        modified_by=user_summary(modifier, org) if modifier is not None else None,
    )


def artifact_summary(row: Any, org: OrgScope) -> ArtifactSummary:
    return ArtifactSummary(
        id=org.don("artifact", row.number),
        display_id=ids.to_display("artifact", row.number),
        file=artifact_file(row),
    )
