"""Storage of timeline entries: comments and change events, keyed by org and a per-org entry number.

The parent is (object_kind, object_number) without a foreign key: change events are the audit trail and outlive
the incident they describe."""

import sqlalchemy as sa

from incidentd.kit.tables import metadata, org_key

timeline_entries = sa.Table(
    "timeline_entries",
    metadata,
    *org_key(),
    sa.Column("object_kind", sa.String(40), nullable=False),
    sa.Column("object_number", sa.BigInteger, nullable=False),
    sa.Column("entry_type", sa.String(32), nullable=False),  # timeline_comment | timeline_change_event
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("collections", sa.Integer, nullable=False),  # bit mask of kit COLLECTIONS (1 discussions, 2 events)
    sa.Column("body", sa.Text),
    sa.Column("body_type", sa.String(16)),
    sa.Column("labels", sa.JSON),
    sa.Column("external_ref", sa.String(512)),
    sa.Column("event", sa.JSON),  # a change event's `event` object, in its wire shape
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("created_by", sa.BigInteger, nullable=False),
    sa.Column("created_date", sa.BigInteger, nullable=False),
    sa.Column("modified_by", sa.BigInteger, nullable=False),
    sa.Column("modified_date", sa.BigInteger, nullable=False),
    # One object's timeline in entry order: the list's keyset walks this index at any depth.
    sa.Index("ix_timeline_entries_by_object", "dev_org_id", "object_kind", "object_number", "number"),
    # external_ref is unique within an object's timeline (NULLs are distinct on both databases).
    sa.UniqueConstraint(
        "dev_org_id", "object_kind", "object_number", "external_ref", name="uq_timeline_entries_external_ref"
    ),
    # The expiry sweep finds what is due without a scan.
    sa.Index("ix_timeline_entries_expires_at", "expires_at"),
)

# Labels once more, one row each, for the `labels` filter (any of).
timeline_entry_labels = sa.Table(
    "timeline_entry_labels",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("entry_number", sa.BigInteger, primary_key=True),
    sa.Column("label", sa.String(64), primary_key=True),
    sa.ForeignKeyConstraint(
        ["dev_org_id", "entry_number"], ["timeline_entries.dev_org_id", "timeline_entries.number"], ondelete="CASCADE"
    ),
)

# The users a private entry is visible to besides its creator.
timeline_private_to = sa.Table(
    "timeline_private_to",
    metadata,
    sa.Column("dev_org_id", sa.Integer, primary_key=True),
    sa.Column("entry_number", sa.BigInteger, primary_key=True),
    sa.Column("user_number", sa.BigInteger, primary_key=True),
    sa.ForeignKeyConstraint(
        ["dev_org_id", "entry_number"], ["timeline_entries.dev_org_id", "timeline_entries.number"], ondelete="CASCADE"
    ),
)
