"""HTML forms <-> the services' request Structs: the same Structs, bounds and errors as the API, with each error
put next to the form field it names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar.datastructures import FormMultiDict

from incidentd.accounts import schemas as account_schemas
from incidentd.accounts import service as accounts
from incidentd.db import Database
from incidentd.errors import ApiError
from incidentd.identity import schemas as identity_schemas
from incidentd.identity import service as identity
from incidentd.kit.enums import REPORTED_BY, SEVERITY
from incidentd.kit.filters import MAX_VALUES
from incidentd.kit.wire import decoding_error
from incidentd.parts import schemas as part_schemas
from incidentd.parts import service as parts
from incidentd.principal import Principal
from incidentd.tags import schemas as tag_schemas
from incidentd.tags import service as tags

T = TypeVar("T")
# Options offered per list (owners, parts, tags, customers): the first page of each, in id order.
CHOICES_LIMIT = 100
MAX_TEXT = 65_536

Choice = tuple[str, str]  # (value sent, label shown)


@dataclass(frozen=True)
class Choices:
    severities: list[Choice]
    reporters: list[Choice]
    users: list[Choice]
    parts: list[Choice]
    tags: list[Choice]
    accounts: list[Choice]
    stages: list[Choice]


async def choices(db: Database, principal: Principal, stage_names: list[str]) -> Choices:
    """What the selects of the board, the declare form and the incident page offer, read through the services
    (so a member sees what the API shows a member)."""
    users = await identity.list_dev_users(
        db, principal, identity_schemas.DevUsersListRequest(limit=CHOICES_LIMIT, state=["active"])
    )
    part_page = await parts.list_parts(db, principal, part_schemas.PartsListRequest(limit=CHOICES_LIMIT))
    tag_page = await tags.list_tags(db, principal, tag_schemas.TagsListRequest(limit=CHOICES_LIMIT))
    account_page = await accounts.list_accounts(db, principal, account_schemas.AccountsListRequest(limit=CHOICES_LIMIT))
    return Choices(
        severities=[(label, label) for label in SEVERITY.labels.values()],
        reporters=[(label, label) for label in REPORTED_BY.labels.values()],
        users=[
            (user.id, str(user.display_name or user.full_name or user.email or user.id)) for user in users.dev_users
        ],
        parts=[(part.id, f"{part.name} ({part.display_id})") for part in part_page.parts],
        tags=[(tag.id, tag.name) for tag in tag_page.tags],
        accounts=[(account.id, str(account.display_name or account.display_id)) for account in account_page.accounts],
        stages=[(name, name) for name in stage_names],
    )


def text(form: FormMultiDict, name: str, limit: int = MAX_TEXT) -> str:
    """One text field, cut at `limit` characters (the service checks the real bound and names the field)."""
    value = form.get(name)
    return value[: limit + 1] if isinstance(value, str) else ""


def values(form: FormMultiDict, name: str) -> list[str]:
    """A multi-select's values, empty ones left out, at most a filter's worth (more is a 400 from the service)."""
    found = [value for value in form.getall(name, []) if isinstance(value, str) and value]
    return [value[:256] for value in found[: MAX_VALUES + 1]]


def convert(document: dict[str, Any], struct: type[T]) -> T:
    """The request Struct of a form, decoded as the API decodes a body (the same bounds and error types)."""
    try:
        return msgspec.convert(document, struct)
    except msgspec.ValidationError as exc:
        raise decoding_error(str(exc)) from None


# The form field an error's `field_name` points at, when it differs from the name's first segment.
_FIELD_ALIASES = {"impact": "customer_ids", "stage": "stage", "id": "_"}


def field_errors(error: ApiError) -> dict[str, str]:
    """{form field: message} for an error of the services: `owned_by.set[0]` -> owned_by, `tags[1].tag_id` -> tags;
    errors naming no field go under "_" (shown at the top of the form)."""
    name = error.fields.get("field_name")
    if not isinstance(name, str) or not name:
        return {"_": error.message}
    first = re.split(r"[.\[]", name, maxsplit=1)[0]
    return {_FIELD_ALIASES.get(first, first): error.message}


def rfc3339(local: str) -> str | None:
    """A datetime-local value (taken as UTC) as RFC 3339; None when empty (clears the date)."""
    local = local.strip()
    if not local:
        return None
    return f"{local}:00Z" if len(local) == 16 else f"{local}Z"
