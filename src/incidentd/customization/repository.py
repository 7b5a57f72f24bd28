"""SQL of customization: states, stages, stage diagrams and their transitions; custom schema fragments."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization.tables import (
    custom_stages,
    custom_states,
    schema_fragments,
    stage_diagram_stages,
    stage_diagrams,
    stage_transitions,
)
from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import ORG, RowsByNumber, TextList, among, one_of
from incidentd.plain_statements import PlainStatement


async def insert_state(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(custom_states).values(**values))


async def insert_stage(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(custom_stages).values(**values))


async def insert_diagram(
    conn: AsyncConnection,
    *,
    values: dict[str, Any],
    stage_numbers: Iterable[int],
    transitions: Iterable[tuple[int, int]],
) -> None:
    org, number = values["dev_org_id"], values["number"]
    await conn.execute(sa.insert(stage_diagrams).values(**values))
    await conn.execute(
        sa.insert(stage_diagram_stages),
        [{"dev_org_id": org, "diagram_number": number, "stage_number": stage} for stage in stage_numbers],
    )
    moves = [
        {"dev_org_id": org, "diagram_number": number, "from_stage_number": a, "to_stage_number": b}
        for a, b in transitions
    ]
    if moves:
        await conn.execute(sa.insert(stage_transitions), moves)


_DIAGRAMS_OF_LEAF_TYPE = sa.select(stage_diagrams).where(
    stage_diagrams.c.dev_org_id == ORG, stage_diagrams.c.leaf_type == sa.bindparam("leaf_type")
)
_DEFAULT_DIAGRAM = _DIAGRAMS_OF_LEAF_TYPE.where(stage_diagrams.c.subtype.is_(None))
_SUBTYPE_DIAGRAM = _DIAGRAMS_OF_LEAF_TYPE.where(stage_diagrams.c.subtype == sa.bindparam("subtype"))


async def find_diagram(conn: AsyncConnection, dev_org_id: int, leaf_type: str, subtype: str | None) -> Row[Any] | None:
    values = {"dev_org_id": dev_org_id, "leaf_type": leaf_type}
    if subtype is None:
        return (await conn.execute(_DEFAULT_DIAGRAM, values)).first()
    return (await conn.execute(_SUBTYPE_DIAGRAM, {**values, "subtype": subtype})).first()


def _stages_with_states() -> Any:
    return sa.select(
        custom_stages,
        custom_states.c.name.label("state_name"),
        custom_states.c.is_final.label("state_is_final"),
    ).join(
        custom_states,
        (custom_states.c.dev_org_id == custom_stages.c.dev_org_id)
        & (custom_states.c.number == custom_stages.c.state_number),
    )


async def diagram_stages(conn: AsyncConnection, dev_org_id: int, diagram_number: int) -> Sequence[Row[Any]]:
    """The diagram's stages, each with its state's name and finality."""
    query = (
        _stages_with_states()
        .join(
            stage_diagram_stages,
            (stage_diagram_stages.c.dev_org_id == custom_stages.c.dev_org_id)
            & (stage_diagram_stages.c.stage_number == custom_stages.c.number),
        )
        .where(stage_diagram_stages.c.dev_org_id == dev_org_id, stage_diagram_stages.c.diagram_number == diagram_number)
        .order_by(custom_stages.c.ordinal, custom_stages.c.number)
    )
    return (await conn.execute(query)).all()


async def diagram_transitions(conn: AsyncConnection, dev_org_id: int, diagram_number: int) -> Sequence[Row[Any]]:
    query: Any = sa.select(stage_transitions.c.from_stage_number, stage_transitions.c.to_stage_number).where(
        stage_transitions.c.dev_org_id == dev_org_id, stage_transitions.c.diagram_number == diagram_number
    )
    return (await conn.execute(query)).all()


# Stages by number, each with its state's name and finality.
stages_by_number = RowsByNumber(custom_stages, _stages_with_states())


async def list_stages(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    names: Sequence[str] | None,
    ordinals: Sequence[int] | None,
    page: Window,
) -> Sequence[Row[Any]]:
    query = _stages_with_states().where(custom_stages.c.dev_org_id == dev_org_id)
    if names:
        query = query.where(one_of(sa.func.lower(custom_stages.c.name), [name.lower() for name in names]))
    if ordinals:
        query = query.where(one_of(custom_stages.c.ordinal, ordinals))
    return (await conn.execute(number_page(query, custom_stages.c.number, page))).all()


async def states_by_number(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, Row[Any]]:
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    query = sa.select(custom_states).where(
        custom_states.c.dev_org_id == dev_org_id, one_of(custom_states.c.number, wanted)
    )
    return {row.number: row for row in (await conn.execute(query)).all()}


async def list_states(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    names: Sequence[str] | None,
    ordinals: Sequence[int] | None,
    is_final: bool | None,
    page: Window,
) -> Sequence[Row[Any]]:
    query = sa.select(custom_states).where(custom_states.c.dev_org_id == dev_org_id)
    if names:
        query = query.where(one_of(sa.func.lower(custom_states.c.name), [name.lower() for name in names]))
    if ordinals:
        query = query.where(one_of(custom_states.c.ordinal, ordinals))
    if is_final is not None:
        query = query.where(custom_states.c.is_final == is_final)
    return (await conn.execute(number_page(query, custom_states.c.number, page))).all()


async def stage_numbers_named(conn: AsyncConnection, dev_org_id: int, names: Iterable[str]) -> dict[str, list[int]]:
    """{lower-cased name: stage numbers} of the org's stages with these names (one query)."""
    wanted = sorted({name.strip().lower() for name in names})
    if not wanted:
        return {}
    query = sa.select(custom_stages.c.number, sa.func.lower(custom_stages.c.name).label("key")).where(
        custom_stages.c.dev_org_id == dev_org_id, one_of(sa.func.lower(custom_stages.c.name), wanted)
    )
    found: dict[str, list[int]] = {}
    for row in (await conn.execute(query)).all():
        found.setdefault(row.key, []).append(row.number)
    return found


# Stage diagrams by number.
get_diagrams = RowsByNumber(stage_diagrams)


async def get_diagram(conn: AsyncConnection, dev_org_id: int, number: int) -> Row[Any] | None:
    return (await get_diagrams(conn, dev_org_id, [number])).get(number)


# schema fragments ------------------------------------------------------------------------------------


async def insert_fragment(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(schema_fragments).values(**values))


# Schema fragments by number.
fragments_by_number = RowsByNumber(schema_fragments)


async def lineage_versions(conn: AsyncConnection, dev_org_id: int, lineage: str) -> Sequence[Row[Any]]:
    """Every version of one fragment, oldest first."""
    query = (
        sa.select(schema_fragments)
        .where(schema_fragments.c.dev_org_id == dev_org_id, schema_fragments.c.lineage == lineage)
        .order_by(schema_fragments.c.version)
    )
    return (await conn.execute(query)).all()


def _is_current() -> Any:
    """No later version names this row as its previous one."""
    later = schema_fragments.alias("later")
    return ~sa.exists().where(
        later.c.dev_org_id == schema_fragments.c.dev_org_id, later.c.previous_number == schema_fragments.c.number
    )


_CURRENT_FRAGMENTS = (
    sa.select(schema_fragments)
    .where(
        schema_fragments.c.dev_org_id == ORG, schema_fragments.c.leaf_type == sa.bindparam("leaf_type"), _is_current()
    )
    .order_by(schema_fragments.c.number)
)
_CURRENT_FRAGMENTS_OF_LINEAGES = _CURRENT_FRAGMENTS.where(
    among(schema_fragments.c.lineage, sa.bindparam("lineages", type_=TextList()))
)
_CURRENT_FRAGMENTS_NOW = PlainStatement(_CURRENT_FRAGMENTS)
_CURRENT_FRAGMENTS_OF_LINEAGES_NOW = PlainStatement(_CURRENT_FRAGMENTS_OF_LINEAGES)


async def current_fragments(
    conn: AsyncConnection, dev_org_id: int, *, leaf_type: str, lineages: Iterable[str] | None = None
) -> Sequence[Row[Any]]:
    """The current version of each fragment of a leaf type (of the given lineages only, when given)."""
    values: dict[str, Any] = {"dev_org_id": dev_org_id, "leaf_type": leaf_type}
    if lineages is None:
        return await _CURRENT_FRAGMENTS_NOW.all(conn, values)  # every create and update: see PlainStatement
    wanted = sorted(set(lineages))
    if not wanted:
        return []
    return await _CURRENT_FRAGMENTS_OF_LINEAGES_NOW.all(conn, {**values, "lineages": wanted})


async def declared_fields(conn: AsyncConnection, dev_org_id: int, leaf_type: str) -> Sequence[Row[Any]]:
    """(fragment_type, app, fields) of every version of every fragment of a leaf type."""
    query: Any = sa.select(schema_fragments.c.fragment_type, schema_fragments.c.app, schema_fragments.c.fields).where(
        schema_fragments.c.dev_org_id == dev_org_id, schema_fragments.c.leaf_type == leaf_type
    )
    return (await conn.execute(query)).all()


async def later_versions(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, int]:
    """{number: the number of the version that replaced it} for the given fragments that were replaced."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    query = sa.select(schema_fragments.c.previous_number, schema_fragments.c.number).where(
        schema_fragments.c.dev_org_id == dev_org_id, one_of(schema_fragments.c.previous_number, wanted)
    )
    return {row.previous_number: row.number for row in (await conn.execute(query)).all()}


async def list_fragments(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    types: Sequence[str] | None,
    leaf_types: Sequence[str] | None,
    subtypes: Sequence[str] | None,
    apps: Sequence[str] | None,
    is_deprecated: bool | None,
    page: Window,
) -> Sequence[Row[Any]]:
    """A page of current fragment versions, in number order."""
    query = sa.select(schema_fragments).where(schema_fragments.c.dev_org_id == dev_org_id, _is_current())
    for column, values in (
        (schema_fragments.c.fragment_type, types),
        (schema_fragments.c.leaf_type, leaf_types),
        (schema_fragments.c.subtype, subtypes),
        (schema_fragments.c.app, apps),
    ):
        if values:
            query = query.where(one_of(column, values))
    if is_deprecated is not None:
        query = query.where(schema_fragments.c.is_deprecated == is_deprecated)
    return (await conn.execute(number_page(query, schema_fragments.c.number, page))).all()
