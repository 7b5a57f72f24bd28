"""SQL of a Netflix Dispatch database, read-only: the few columns of its per-organization schema that
`dispatch.py` maps (tables as the public Netflix/dispatch models define them; nothing else is read).

    incident             id, title, description, status, created_at, updated_at, reported_at, stable_at,
                         closed_at, incident_severity_id, incident_priority_id, incident_type_id
    incident_severity    id, name          incident_priority    id, name          incident_type    id, name
    participant          id, incident_id, individual_contact_id
    participant_role     participant_id, role, renounce_at
    individual_contact   id, email, name
    event                id, uuid, incident_id, individual_id, started_at, source, description
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection


def _tables(schema: str) -> dict[str, sa.TableClause]:
    def table(name: str, *columns: str) -> sa.TableClause:
        return sa.table(name, *(sa.column(column) for column in columns), schema=schema)

    return {
        "incident": table(
            "incident",
            "id",
            "title",
            "description",
            "status",
            "created_at",
            "updated_at",
            "reported_at",
            "stable_at",
            "closed_at",
            "incident_severity_id",
            "incident_priority_id",
            "incident_type_id",
        ),
        "incident_severity": table("incident_severity", "id", "name"),
        "incident_priority": table("incident_priority", "id", "name"),
        "incident_type": table("incident_type", "id", "name"),
        "participant": table("participant", "id", "incident_id", "individual_contact_id"),
        "participant_role": table("participant_role", "participant_id", "role", "renounce_at"),
        "individual_contact": table("individual_contact", "id", "email", "name"),
        "event": table("event", "id", "uuid", "incident_id", "individual_id", "started_at", "source", "description"),
    }


class DispatchSchema:
    """Queries over one Dispatch organization schema (`dispatch_organization_<slug>`)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.t = _tables(schema)

    async def extent(self, conn: AsyncConnection) -> tuple[int, int]:
        """(number of incidents, highest incident id)."""
        incident = self.t["incident"]
        count, highest = (await conn.execute(sa.select(sa.func.count(), sa.func.max(incident.c.id)))).one()
        return int(count), int(highest or 0)

    async def incidents(self, conn: AsyncConnection, after: int, limit: int) -> list[Row[Any]]:
        """A page of incidents in id order after `after`, with their severity, priority and type names."""
        incident, severity = self.t["incident"], self.t["incident_severity"]
        priority, kind = self.t["incident_priority"], self.t["incident_type"]
        query = (
            sa.select(
                incident,
                severity.c.name.label("severity_name"),
                priority.c.name.label("priority_name"),
                kind.c.name.label("type_name"),
            )
            .select_from(
                incident.outerjoin(severity, severity.c.id == incident.c.incident_severity_id)
                .outerjoin(priority, priority.c.id == incident.c.incident_priority_id)
                .outerjoin(kind, kind.c.id == incident.c.incident_type_id)
            )
            .where(incident.c.id > after)
            .order_by(incident.c.id)
            .limit(limit)
        )
        return list((await conn.execute(query)).all())

    async def roles(self, conn: AsyncConnection, incident_ids: Sequence[int]) -> list[Any]:
        """(incident_id, role, renounce_at, email, name) of every participant role of these incidents."""
        participant, role, contact = self.t["participant"], self.t["participant_role"], self.t["individual_contact"]
        query = (
            sa.select(participant.c.incident_id, role.c.role, role.c.renounce_at, contact.c.email, contact.c.name)
            .select_from(
                participant.join(role, role.c.participant_id == participant.c.id).join(
                    contact, contact.c.id == participant.c.individual_contact_id
                )
            )
            .where(participant.c.incident_id.in_(list(incident_ids)))
            .order_by(participant.c.incident_id, participant.c.id)
        )
        return list((await conn.execute(query)).all())

    async def events(self, conn: AsyncConnection, incident_ids: Sequence[int]) -> list[Any]:
        """The events of these incidents, oldest first, with their individual's email and name."""
        event, contact = self.t["event"], self.t["individual_contact"]
        query = (
            sa.select(
                event.c.id,
                event.c.uuid,
                event.c.incident_id,
                event.c.started_at,
                event.c.source,
                event.c.description,
                contact.c.email,
                contact.c.name,
            )
            .select_from(event.outerjoin(contact, contact.c.id == event.c.individual_id))
            .where(event.c.incident_id.in_(list(incident_ids)))
            .order_by(event.c.incident_id, event.c.started_at, event.c.id)
        )
        return list((await conn.execute(query)).all())
