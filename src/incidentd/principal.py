"""Who is calling: a principal (dev user, service account or sys user) inside one dev org."""

from __future__ import annotations

from dataclasses import dataclass

from incidentd.errors import Forbidden
from incidentd.kit import ids

# A principal's role in its org: admins administer it (users, other users' tokens, schemas); members work in it.
ADMIN = "admin"
MEMBER = "member"
ROLES = (ADMIN, MEMBER)


@dataclass(frozen=True, slots=True)
class OrgScope:
    """Everything needed to turn a row's number into a DON of this org, and to check a parsed id is ours."""

    dev_org_id: int
    slug: str
    partition: str

    def don(self, kind: str, number: int) -> str:
        return ids.to_don(kind, number, org_slug=self.slug, partition=self.partition)

    @property
    def org_don(self) -> str:
        return ids.org_don(self.partition, self.slug)

    def owns(self, parsed: ids.ObjectId) -> bool:
        return parsed.belongs_to(self.slug, self.partition)


@dataclass(frozen=True, slots=True)
class Principal:
    org: OrgScope
    user_number: int
    user_type: str  # dev_user | service_account | sys_user
    token_number: int | None = None
    role: str = MEMBER

    @property
    def user_don(self) -> str:
        return self.org.don(self.user_type, self.user_number)

    @property
    def is_system(self) -> bool:
        return self.user_type in ("service_account", "sys_user")

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def require_admin(principal: Principal, action: str) -> None:
    """Raise 403 `forbidden` unless the principal is an admin of its org; `action` completes "only an admin may"."""
    if not principal.is_admin:
        raise Forbidden(f"only an admin of the org may {action}; the caller's role is {principal.role}")
