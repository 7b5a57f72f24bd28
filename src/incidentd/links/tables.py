"""Storage of links. A link says what it joins in its generic columns (`<side>_type`, `<side>_number`); the
per-kind columns (`<side>_incident`, `<side>_part`, ...) repeat the number of the one kind each end is, so that
foreign keys make the database delete a link together with either of its ends, and so that the links of one
object are found by an index of its kind."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from incidentd.kit.tables import audit_columns, metadata, org_key

SIDES = ("source", "target")
# The storage kind of each link-endpoint type incidentd links, and the table that holds that kind.
ENDPOINT_KINDS = {
    "incident": "incident",
    "product": "part",
    "capability": "part",
    "feature": "part",
    "enhancement": "part",
    "article": "article",
    "account": "account",
}
KIND_TABLES = {"incident": "incidents", "part": "parts", "article": "articles", "account": "accounts"}


def _kind_columns() -> list[Any]:
    items: list[Any] = []
    for side in SIDES:
        for kind, table in KIND_TABLES.items():
            column = f"{side}_{kind}"
            items += [
                sa.Column(column, sa.BigInteger),
                sa.ForeignKeyConstraint(
                    ["dev_org_id", column],
                    [f"{table}.dev_org_id", f"{table}.number"],
                    name=f"fk_links_{column}",
                    ondelete="CASCADE",
                ),
                # Serves the cascade and the list of one object's links, in link order.
                sa.Index(f"ix_links_{column}", "dev_org_id", column, "number"),
            ]
    return items


links = sa.Table(
    "links",
    metadata,
    *org_key(),
    sa.Column("link_type", sa.String(32), nullable=False),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("source_number", sa.BigInteger, nullable=False),
    sa.Column("target_type", sa.String(32), nullable=False),
    sa.Column("target_number", sa.BigInteger, nullable=False),
    *_kind_columns(),
    *audit_columns(),
    # One link of a type from one object to another: what makes a second one a 409 under concurrency too.
    sa.UniqueConstraint(
        "dev_org_id",
        "source_type",
        "source_number",
        "link_type",
        "target_type",
        "target_number",
        name="uq_links_endpoints",
    ),
)
